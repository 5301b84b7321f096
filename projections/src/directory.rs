//! Queries over the directory (groups, classes, memberships) kept by the `groups` projection:
//! listings for the API and the facts authorization decides on.

use chrono::{DateTime, Utc};
use sqlx::postgres::PgRow;
use sqlx::{FromRow, PgExecutor, Row};
use uuid::Uuid;

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
    sqlx::query_as(&format!(
        "SELECT {CLASS_COLUMNS} FROM classes WHERE group_id = $1 AND ($2 OR NOT archived) \
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

/// What authorization needs to know about a group (or the group of a class) and one user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupFacts {
    /// Ids from the root down to the group itself.
    pub path: Vec<Uuid>,
    pub archived: bool,
    /// The user's roles in the groups of `path`.
    pub roles: Vec<(Uuid, String)>,
}

fn parse_path(path: &str) -> Vec<Uuid> {
    path.split('.')
        .filter_map(|l| Uuid::try_parse(l).ok())
        .collect()
}

/// The group's ancestry and the user's roles along it; `None` if the group does not exist.
pub async fn group_facts<'e>(
    executor: impl PgExecutor<'e>,
    group_id: Uuid,
    user_id: Uuid,
) -> sqlx::Result<Option<GroupFacts>> {
    let row = sqlx::query(
        "SELECT g.path::text AS path, g.archived, \
                coalesce((SELECT array_agg(m.group_id::text || ':' || m.role) \
                            FROM group_members m JOIN groups a ON a.id = m.group_id \
                           WHERE m.user_id = $2 AND a.path @> g.path), '{}') AS roles \
         FROM groups g WHERE g.id = $1",
    )
    .bind(group_id)
    .bind(user_id)
    .fetch_optional(executor)
    .await?;
    let Some(row) = row else { return Ok(None) };
    let path: String = row.try_get("path")?;
    let roles: Vec<String> = row.try_get("roles")?;
    Ok(Some(GroupFacts {
        path: parse_path(&path),
        archived: row.try_get("archived")?,
        roles: roles
            .iter()
            .filter_map(|r| r.split_once(':'))
            .filter_map(|(g, role)| Some((Uuid::try_parse(g).ok()?, role.to_owned())))
            .collect(),
    }))
}

/// What authorization needs to know about a class and one user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClassFacts {
    pub group: GroupFacts,
    pub group_id: Uuid,
    pub archived: bool,
    pub class_role: Option<String>,
}

pub async fn class_facts<'e>(
    executor: impl PgExecutor<'e>,
    class_id: Uuid,
    user_id: Uuid,
) -> sqlx::Result<Option<ClassFacts>> {
    let row = sqlx::query(
        "SELECT c.group_id, c.archived AS class_archived, g.path::text AS path, \
                g.archived AS group_archived, \
                (SELECT role FROM class_members WHERE class_id = c.id AND user_id = $2) \
                  AS class_role, \
                coalesce((SELECT array_agg(m.group_id::text || ':' || m.role) \
                            FROM group_members m JOIN groups a ON a.id = m.group_id \
                           WHERE m.user_id = $2 AND a.path @> g.path), '{}') AS roles \
         FROM classes c JOIN groups g ON g.id = c.group_id WHERE c.id = $1",
    )
    .bind(class_id)
    .bind(user_id)
    .fetch_optional(executor)
    .await?;
    let Some(row) = row else { return Ok(None) };
    let path: String = row.try_get("path")?;
    let roles: Vec<String> = row.try_get("roles")?;
    Ok(Some(ClassFacts {
        group_id: row.try_get("group_id")?,
        archived: row.try_get("class_archived")?,
        class_role: row.try_get("class_role")?,
        group: GroupFacts {
            path: parse_path(&path),
            archived: row.try_get("group_archived")?,
            roles: roles
                .iter()
                .filter_map(|r| r.split_once(':'))
                .filter_map(|(g, role)| Some((Uuid::try_parse(g).ok()?, role.to_owned())))
                .collect(),
        },
    }))
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

pub async fn tools_of_group<'e>(
    executor: impl PgExecutor<'e>,
    group_id: Uuid,
    include_archived: bool,
) -> sqlx::Result<Vec<ToolRow>> {
    sqlx::query_as(&format!(
        "SELECT {TOOL_COLUMNS} FROM tools WHERE group_id = $1 AND ($2 OR NOT archived) \
         ORDER BY created_at, id"
    ))
    .bind(group_id)
    .bind(include_archived)
    .fetch_all(executor)
    .await
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
