//! The facts authorization decides on, read from the directory: a group's ancestry and
//! archived flag with one user's roles along it, and the same for a class (its group's facts,
//! its own archived flag and the user's role in it).

use sqlx::postgres::PgRow;
use sqlx::{PgExecutor, Row};
use uuid::Uuid;

/// The SQL column `roles`: user `$2`'s roles in the groups along the path of group `g` (that
/// group and its ancestors), as `group_id:role` texts. One fragment for the facts of a group
/// and of a class, read back by [`GroupFacts::read`].
macro_rules! user_roles_along_path {
    () => {
        "coalesce((SELECT array_agg(m.group_id::text || ':' || m.role) \
                     FROM group_members m JOIN groups a ON a.id = m.group_id \
                    WHERE m.user_id = $2 AND a.path @> g.path), '{}') AS roles"
    };
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

impl GroupFacts {
    /// Reads the facts from a row with the group's `path` (as text), its archived flag in
    /// `archived_column` and the user's `roles` along the path as `group_id:role` texts (the
    /// same subquery for a group and for the group of a class).
    fn read(row: &PgRow, archived_column: &str) -> sqlx::Result<Self> {
        let path: String = row.try_get("path")?;
        let roles: Vec<String> = row.try_get("roles")?;
        Ok(Self {
            path: parse_path(&path),
            archived: row.try_get(archived_column)?,
            roles: roles
                .iter()
                .filter_map(|r| r.split_once(':'))
                .filter_map(|(g, role)| Some((Uuid::try_parse(g).ok()?, role.to_owned())))
                .collect(),
        })
    }
}

/// The group's ancestry and the user's roles along it; `None` if the group does not exist.
pub async fn group_facts<'e>(
    executor: impl PgExecutor<'e>,
    group_id: Uuid,
    user_id: Uuid,
) -> sqlx::Result<Option<GroupFacts>> {
    let row = sqlx::query(concat!(
        "SELECT g.path::text AS path, g.archived, ",
        user_roles_along_path!(),
        " FROM groups g WHERE g.id = $1",
    ))
    .bind(group_id)
    .bind(user_id)
    .fetch_optional(executor)
    .await?;
    let Some(row) = row else { return Ok(None) };
    Ok(Some(GroupFacts::read(&row, "archived")?))
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
    let row = sqlx::query(concat!(
        "SELECT c.group_id, c.archived AS class_archived, g.path::text AS path, \
                g.archived AS group_archived, \
                (SELECT role FROM class_members WHERE class_id = c.id AND user_id = $2) \
                  AS class_role, ",
        user_roles_along_path!(),
        " FROM classes c JOIN groups g ON g.id = c.group_id WHERE c.id = $1",
    ))
    .bind(class_id)
    .bind(user_id)
    .fetch_optional(executor)
    .await?;
    let Some(row) = row else { return Ok(None) };
    Ok(Some(ClassFacts {
        group_id: row.try_get("group_id")?,
        archived: row.try_get("class_archived")?,
        class_role: row.try_get("class_role")?,
        group: GroupFacts::read(&row, "group_archived")?,
    }))
}

/// What authorization needs to know about a person others act on (adding them to a group or
/// class) and the user who asks: where the person holds a role, with the ancestry of each
/// place, and the asker's roles along those ancestries and in those classes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountFacts {
    /// The path (root first, the group last) of each group where the person holds a role.
    pub groups: Vec<Vec<Uuid>>,
    /// Each class where the person holds a role, with its group's path.
    pub classes: Vec<(Uuid, Vec<Uuid>)>,
    /// The asker's roles in the groups along those paths.
    pub roles: Vec<(Uuid, String)>,
    /// The asker's roles in those classes.
    pub class_roles: Vec<(Uuid, String)>,
}

/// The places of `account_id` and the roles of `user_id` around them. Three reads, each on
/// the members' `(user_id, …)` indexes.
pub async fn account_facts(
    pool: &sqlx::PgPool,
    account_id: Uuid,
    user_id: Uuid,
) -> sqlx::Result<AccountFacts> {
    let places: Vec<(Option<Uuid>, String)> = sqlx::query_as(
        "SELECT NULL::uuid, g.path::text FROM group_members m JOIN groups g ON g.id = m.group_id \
          WHERE m.user_id = $1 \
         UNION ALL \
         SELECT c.id, g.path::text FROM class_members m JOIN classes c ON c.id = m.class_id \
           JOIN groups g ON g.id = c.group_id WHERE m.user_id = $1",
    )
    .bind(account_id)
    .fetch_all(pool)
    .await?;
    let roles: Vec<(Uuid, String)> = sqlx::query_as(
        "SELECT m.group_id, m.role FROM group_members m JOIN groups a ON a.id = m.group_id \
          WHERE m.user_id = $2 AND EXISTS ( \
                SELECT 1 FROM groups g \
                 WHERE a.path @> g.path \
                   AND g.id IN (SELECT group_id FROM group_members WHERE user_id = $1 \
                                UNION \
                                SELECT c.group_id FROM class_members cm \
                                  JOIN classes c ON c.id = cm.class_id WHERE cm.user_id = $1))",
    )
    .bind(account_id)
    .bind(user_id)
    .fetch_all(pool)
    .await?;
    let class_roles: Vec<(Uuid, String)> = sqlx::query_as(
        "SELECT class_id, role FROM class_members \
          WHERE user_id = $2 \
            AND class_id IN (SELECT class_id FROM class_members WHERE user_id = $1)",
    )
    .bind(account_id)
    .bind(user_id)
    .fetch_all(pool)
    .await?;
    let mut facts = AccountFacts {
        groups: vec![],
        classes: vec![],
        roles,
        class_roles,
    };
    for (class_id, path) in places {
        match class_id {
            Some(class_id) => facts.classes.push((class_id, parse_path(&path))),
            None => facts.groups.push(parse_path(&path)),
        }
    }
    // One order whatever the plan: decisions are remembered by their facts.
    facts.groups.sort();
    facts.classes.sort();
    facts.roles.sort();
    facts.class_roles.sort();
    Ok(facts)
}
