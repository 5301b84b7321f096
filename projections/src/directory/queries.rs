//! Queries over the directory kept by the [directory projection](super::projection): groups
//! (by id, and listed a page at a time), classes and tools (by id, and those of a group),
//! members of a group or class, a user's memberships (direct and inherited), and who to tell
//! about something in a class. The facts authorization decides on are in
//! [`facts`](super::facts).

use chrono::{DateTime, Utc};
use domain::group::GroupId;
use sqlx::postgres::PgRow;
use sqlx::{FromRow, PgExecutor, Row};
use uuid::Uuid;

/// A group row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupRow {
    pub id: GroupId,
    pub name: String,
    pub parent_id: Option<GroupId>,
    /// Ancestor ids from the root down to the group itself.
    pub path: GroupPath,
    pub archived: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub version: i64,
}

impl<'r> FromRow<'r, PgRow> for GroupRow {
    fn from_row(row: &'r PgRow) -> sqlx::Result<Self> {
        let path: String = row.try_get("path")?;
        Ok(Self {
            id: row.try_get("id")?,
            name: row.try_get("name")?,
            parent_id: row.try_get("parent_id")?,
            path: GroupPath::try_from(path).map_err(|e| sqlx::Error::ColumnDecode {
                index: "path".into(),
                source: Box::new(e),
            })?,
            archived: row.try_get("archived")?,
            created_at: row.try_get("created_at")?,
            updated_at: row.try_get("updated_at")?,
            version: row.try_get("version")?,
        })
    }
}

/// A materialized path: the ids from the root group down to this one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupPath(pub Vec<GroupId>);

impl TryFrom<String> for GroupPath {
    type Error = uuid::Error;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        value
            .split('.')
            .map(Uuid::try_parse)
            .collect::<Result<_, _>>()
            .map(GroupPath)
    }
}

const GROUP_SELECT: &str = "SELECT id, name, parent_id, path::text AS path, archived, created_at, \
                      updated_at, version FROM groups";

pub async fn get_group<'e>(
    executor: impl PgExecutor<'e>,
    id: GroupId,
) -> sqlx::Result<Option<GroupRow>> {
    sqlx::query_as(&format!("{GROUP_SELECT} WHERE id = $1"))
        .bind(id)
        .fetch_optional(executor)
        .await
}

/// Keyset paging position: the `(created_at, id)` of the last row of the previous page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GroupCursor {
    pub created_at: DateTime<Utc>,
    pub id: GroupId,
}

/// What to list.
#[derive(Debug, Clone, Default)]
pub struct GroupListing {
    pub after: Option<GroupCursor>,
    pub limit: i64,
    /// Only direct children of this group.
    pub parent_id: Option<GroupId>,
    /// Only this group's subtree (itself and every descendant).
    pub within: Option<GroupId>,
    pub include_archived: bool,
    /// Only groups this user may read: member of it, or admin/counselor of it or an ancestor.
    pub visible_to: Option<Uuid>,
}

/// Groups, oldest first, a page at a time.
pub async fn list_groups<'e>(
    executor: impl PgExecutor<'e>,
    listing: &GroupListing,
) -> sqlx::Result<Vec<GroupRow>> {
    let mut query = sqlx::QueryBuilder::new(GROUP_SELECT);
    query.push(" WHERE true");
    if let Some(after) = listing.after {
        query
            .push(" AND (created_at, id) > (")
            .push_bind(after.created_at)
            .push(", ")
            .push_bind(after.id)
            .push(")");
    }
    if let Some(parent) = listing.parent_id {
        query.push(" AND parent_id = ").push_bind(parent);
    }
    if let Some(root) = listing.within {
        query
            .push(" AND path <@ (SELECT path FROM groups WHERE id = ")
            .push_bind(root)
            .push(")");
    }
    if !listing.include_archived {
        query.push(" AND NOT archived");
    }
    if let Some(user) = listing.visible_to {
        query
            .push(
                " AND EXISTS (SELECT 1 FROM group_members m JOIN groups a ON a.id = m.group_id \
                 WHERE m.user_id = ",
            )
            .push_bind(user)
            .push(
                " AND ((m.role IN ('admin', 'counselor') AND groups.path <@ a.path) \
                 OR (m.role = 'member' AND a.id = groups.id)))",
            );
    }
    query
        .push(" ORDER BY created_at, id LIMIT ")
        .push_bind(listing.limit);
    query.build_query_as().fetch_all(executor).await
}

/// A class row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClassRow {
    pub id: Uuid,
    pub group_id: Uuid,
    pub name: String,
    pub archived: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub version: i64,
}

impl<'r> FromRow<'r, PgRow> for ClassRow {
    fn from_row(row: &'r PgRow) -> sqlx::Result<Self> {
        Ok(Self {
            id: row.try_get("id")?,
            group_id: row.try_get("group_id")?,
            name: row.try_get("name")?,
            archived: row.try_get("archived")?,
            created_at: row.try_get("created_at")?,
            updated_at: row.try_get("updated_at")?,
            version: row.try_get("version")?,
        })
    }
}

const CLASS_COLUMNS: &str = "id, group_id, name, archived, created_at, updated_at, version";

pub async fn get_class<'e>(
    executor: impl PgExecutor<'e>,
    id: Uuid,
) -> sqlx::Result<Option<ClassRow>> {
    sqlx::query_as(&format!(
        "SELECT {CLASS_COLUMNS} FROM classes WHERE id = $1"
    ))
    .bind(id)
    .fetch_optional(executor)
    .await
}

/// Classes of a group, oldest first.
pub async fn classes_of_group<'e>(
    executor: impl PgExecutor<'e>,
    group_id: Uuid,
    include_archived: bool,
) -> sqlx::Result<Vec<ClassRow>> {
    in_group(
        executor,
        "classes",
        CLASS_COLUMNS,
        group_id,
        include_archived,
    )
    .await
}

/// What a group holds (its classes or its tools): one listing rule for both, oldest first,
/// archived ones only when asked for.
async fn in_group<'e, Listed>(
    executor: impl PgExecutor<'e>,
    table: &str,
    columns: &str,
    group_id: Uuid,
    include_archived: bool,
) -> sqlx::Result<Vec<Listed>>
where
    Listed: for<'r> FromRow<'r, PgRow> + Send + Unpin,
{
    sqlx::query_as(&format!(
        "SELECT {columns} FROM {table} WHERE group_id = $1 AND ($2 OR NOT archived) \
         ORDER BY created_at, id"
    ))
    .bind(group_id)
    .bind(include_archived)
    .fetch_all(executor)
    .await
}

/// A member of a group or class.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberRow {
    pub user_id: Uuid,
    pub email: String,
    pub name: String,
    pub role: String,
    pub since: DateTime<Utc>,
}

impl<'r> FromRow<'r, PgRow> for MemberRow {
    fn from_row(row: &'r PgRow) -> sqlx::Result<Self> {
        Ok(Self {
            user_id: row.try_get("user_id")?,
            email: row.try_get("email")?,
            name: row.try_get("name")?,
            role: row.try_get("role")?,
            since: row.try_get("since")?,
        })
    }
}

/// Members of a group (`group_members`, keyed by `group_id`) or class (`class_members`,
/// `class_id`), with their account's email and name.
async fn members<'e>(
    executor: impl PgExecutor<'e>,
    table: &str,
    key: &str,
    id: Uuid,
) -> sqlx::Result<Vec<MemberRow>> {
    sqlx::query_as(&format!(
        "SELECT m.user_id, u.email, u.name, m.role, m.since FROM {table} m \
         JOIN users u ON u.id = m.user_id WHERE m.{key} = $1 ORDER BY m.since, m.user_id"
    ))
    .bind(id)
    .fetch_all(executor)
    .await
}

pub async fn members_of_group<'e>(
    executor: impl PgExecutor<'e>,
    group_id: Uuid,
) -> sqlx::Result<Vec<MemberRow>> {
    members(executor, "group_members", "group_id", group_id).await
}

pub async fn members_of_class<'e>(
    executor: impl PgExecutor<'e>,
    class_id: Uuid,
) -> sqlx::Result<Vec<MemberRow>> {
    members(executor, "class_members", "class_id", class_id).await
}

/// One of a user's memberships: a direct role, or one inherited from an ancestor group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MembershipRow {
    /// `group` or `class`.
    pub kind: String,
    pub id: Uuid,
    pub name: String,
    pub role: String,
    /// The group the role comes from when inherited (admin or counselor of an ancestor).
    pub inherited_from: Option<Uuid>,
}

impl<'r> FromRow<'r, PgRow> for MembershipRow {
    fn from_row(row: &'r PgRow) -> sqlx::Result<Self> {
        Ok(Self {
            kind: row.try_get("kind")?,
            id: row.try_get("id")?,
            name: row.try_get("name")?,
            role: row.try_get("role")?,
            inherited_from: row.try_get("inherited_from")?,
        })
    }
}

/// Every group and class a user has a role in, directly or inherited as admin or counselor
/// of an ancestor group (archived ones left out).
pub async fn memberships_of<'e>(
    executor: impl PgExecutor<'e>,
    user_id: Uuid,
) -> sqlx::Result<Vec<MembershipRow>> {
    sqlx::query_as(
        "WITH direct AS ( \
             SELECT m.group_id, m.role, g.path FROM group_members m \
             JOIN groups g ON g.id = m.group_id WHERE m.user_id = $1 AND NOT g.archived) \
         SELECT 'group' AS kind, d.group_id AS id, g.name, d.role, NULL::uuid AS inherited_from \
           FROM direct d JOIN groups g ON g.id = d.group_id \
         UNION ALL \
         SELECT DISTINCT ON (g.id, d.role) 'group', g.id, g.name, d.role, d.group_id \
           FROM direct d JOIN groups g ON g.path <@ d.path AND g.id <> d.group_id \
          WHERE d.role IN ('admin', 'counselor') AND NOT g.archived \
         UNION ALL \
         SELECT 'class', c.id, c.name, m.role, NULL::uuid FROM class_members m \
           JOIN classes c ON c.id = m.class_id WHERE m.user_id = $1 AND NOT c.archived \
         UNION ALL \
         SELECT DISTINCT ON (c.id, d.role) 'class', c.id, c.name, d.role, d.group_id \
           FROM direct d JOIN groups g ON g.path <@ d.path \
           JOIN classes c ON c.group_id = g.id \
          WHERE d.role IN ('admin', 'counselor') AND NOT c.archived \
         ORDER BY 1, 3, 2",
    )
    .bind(user_id)
    .fetch_all(executor)
    .await
}

/// A tool row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ToolRow {
    pub id: Uuid,
    pub group_id: Uuid,
    pub name: String,
    pub description: String,
    pub archived: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub version: i64,
}

impl<'r> FromRow<'r, PgRow> for ToolRow {
    fn from_row(row: &'r PgRow) -> sqlx::Result<Self> {
        Ok(Self {
            id: row.try_get("id")?,
            group_id: row.try_get("group_id")?,
            name: row.try_get("name")?,
            description: row.try_get("description")?,
            archived: row.try_get("archived")?,
            created_at: row.try_get("created_at")?,
            updated_at: row.try_get("updated_at")?,
            version: row.try_get("version")?,
        })
    }
}

const TOOL_COLUMNS: &str =
    "id, group_id, name, description, archived, created_at, updated_at, version";

pub async fn get_tool<'e>(
    executor: impl PgExecutor<'e>,
    id: Uuid,
) -> sqlx::Result<Option<ToolRow>> {
    sqlx::query_as(&format!("SELECT {TOOL_COLUMNS} FROM tools WHERE id = $1"))
        .bind(id)
        .fetch_optional(executor)
        .await
}

/// Tools of a group, oldest first.
pub async fn tools_of_group<'e>(
    executor: impl PgExecutor<'e>,
    group_id: Uuid,
    include_archived: bool,
) -> sqlx::Result<Vec<ToolRow>> {
    in_group(executor, "tools", TOOL_COLUMNS, group_id, include_archived).await
}

/// Who to tell about something in a class: its teachers.
pub async fn class_teachers<'e>(
    executor: impl PgExecutor<'e>,
    class_id: Uuid,
) -> sqlx::Result<Vec<Uuid>> {
    sqlx::query_scalar(
        "SELECT m.user_id FROM class_members m JOIN users u ON u.id = m.user_id \
         WHERE m.class_id = $1 AND m.role = 'teacher' AND NOT u.disabled ORDER BY m.user_id",
    )
    .bind(class_id)
    .fetch_all(executor)
    .await
}

/// The admins and counselors of a group and of every group above it (their subtree holds
/// the group).
pub async fn group_overseers<'e>(
    executor: impl PgExecutor<'e>,
    group_id: Uuid,
) -> sqlx::Result<Vec<Uuid>> {
    sqlx::query_scalar(
        "SELECT DISTINCT m.user_id FROM groups g \
           JOIN groups a ON a.path @> g.path \
           JOIN group_members m ON m.group_id = a.id AND m.role IN ('admin', 'counselor') \
           JOIN users u ON u.id = m.user_id \
         WHERE g.id = $1 AND NOT u.disabled ORDER BY m.user_id",
    )
    .bind(group_id)
    .fetch_all(executor)
    .await
}

/// A user's email address and display name, unless the account is disabled or unknown.
pub async fn contact<'e>(
    executor: impl PgExecutor<'e>,
    user_id: Uuid,
) -> sqlx::Result<Option<(String, String)>> {
    let row = sqlx::query("SELECT email, name FROM users WHERE id = $1 AND NOT disabled")
        .bind(user_id)
        .fetch_optional(executor)
        .await?;
    row.map(|r| Ok((r.try_get("email")?, r.try_get("name")?)))
        .transpose()
}

/// The group and its ancestors: the group first, the root last.
pub async fn group_chain<'e>(
    executor: impl PgExecutor<'e>,
    group_id: Uuid,
) -> sqlx::Result<Vec<Uuid>> {
    sqlx::query_scalar(
        "SELECT a.id FROM groups g JOIN groups a ON a.path @> g.path \
         WHERE g.id = $1 ORDER BY nlevel(a.path) DESC",
    )
    .bind(group_id)
    .fetch_all(executor)
    .await
}

/// A group's subtree as the directory has it now: the group and every group below it, and
/// the classes of all of them (archived ones included). Empty for a group the directory does
/// not know.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GroupSubtree {
    pub groups: Vec<Uuid>,
    pub classes: Vec<Uuid>,
}

pub async fn group_subtree<'e>(
    executor: impl PgExecutor<'e>,
    group_id: Uuid,
) -> sqlx::Result<GroupSubtree> {
    let rows: Vec<(bool, Uuid)> = sqlx::query_as(
        "WITH subtree AS (SELECT g.id FROM groups root JOIN groups g ON g.path <@ root.path \
                          WHERE root.id = $1) \
         SELECT true, id FROM subtree \
         UNION ALL SELECT false, c.id FROM classes c WHERE c.group_id IN (SELECT id FROM subtree)",
    )
    .bind(group_id)
    .fetch_all(executor)
    .await?;
    let mut subtree = GroupSubtree::default();
    for (is_group, id) in rows {
        if is_group {
            subtree.groups.push(id);
        } else {
            subtree.classes.push(id);
        }
    }
    Ok(subtree)
}

/// The enabled users who hold one of `roles` in the group itself (not inherited).
pub async fn group_members_with_roles<'e>(
    executor: impl PgExecutor<'e>,
    group_id: Uuid,
    roles: &[domain::group::GroupRole],
) -> sqlx::Result<Vec<Uuid>> {
    let roles: Vec<&str> = roles.iter().map(|r| r.as_str()).collect();
    sqlx::query_scalar(
        "SELECT DISTINCT m.user_id FROM group_members m JOIN users u ON u.id = m.user_id \
         WHERE m.group_id = $1 AND m.role = ANY($2) AND NOT u.disabled ORDER BY m.user_id",
    )
    .bind(group_id)
    .bind(roles)
    .fetch_all(executor)
    .await
}

/// The enabled system admins.
pub async fn system_admins<'e>(executor: impl PgExecutor<'e>) -> sqlx::Result<Vec<Uuid>> {
    sqlx::query_scalar("SELECT id FROM users WHERE system_admin AND NOT disabled ORDER BY id")
        .fetch_all(executor)
        .await
}
