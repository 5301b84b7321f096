//! The directory projection: it keeps the `groups` table (one row per group, with its
//! materialized path for subtree queries, re-rooted when a group moves) and the rest of the
//! directory (`classes`, `tools`, `group_members`, `class_members`), from the group, class
//! and tool streams.
//!
//! Its subscriber name is `groups`, the name it had when it kept only that table: the name is
//! stored in `subscriber_checkpoints` and typed by operators (`raptscallions replay groups`),
//! so it stays.

use anyhow::{bail, Context as _};
use async_trait::async_trait;
use domain::class::{Class, ClassEvent, ClassId};
use domain::group::{Group, GroupEvent, GroupId};
use domain::tool::{Tool, ToolEvent, ToolId};
use domain::Aggregate as _;
use sqlx::PgConnection;
use uuid::Uuid;

use crate::log::LoggedEvent;
use crate::runner::Projection;

/// The subscriber name of the directory projection (see the module doc for why `groups`).
pub const NAME: &str = "groups";

/// Notified (empty payload) when a batch that changed groups, classes or memberships commits.
pub const DIRECTORY_CHANNEL: &str = "rapt_directory_changed";

/// An ltree label for a group id (ltree labels cannot contain dashes before PostgreSQL 16).
fn label(id: GroupId) -> String {
    id.simple().to_string()
}

/// Maintains the directory: the `groups`, `classes`, `tools`, `group_members` and
/// `class_members` tables. Its subscriber name is [`NAME`] (`groups`).
pub struct DirectoryProjection;

#[async_trait]
impl Projection for DirectoryProjection {
    fn name(&self) -> &'static str {
        NAME
    }

    fn aggregate_types(&self) -> Option<&'static [&'static str]> {
        Some(&[Group::TYPE, Class::TYPE, Tool::TYPE])
    }

    fn tables(&self) -> &'static [&'static str] {
        &[
            "groups",
            "classes",
            "group_members",
            "class_members",
            "tools",
        ]
    }

    async fn apply(&self, conn: &mut PgConnection, event: &LoggedEvent) -> anyhow::Result<()> {
        // A creation adds an entity that no cached entry can mention (the cache never
        // stores a missing group or class, and a new one has no members yet), so it leaves
        // the authorization caches alone; every other change starts them over.
        let changes_cached_facts = if event.aggregate_type == Group::TYPE {
            let payload: GroupEvent =
                serde_json::from_value(event.payload.clone()).context("group event payload")?;
            // A theme is no authorization fact either.
            let cached = !matches!(
                payload,
                GroupEvent::Created { .. } | GroupEvent::ThemeSet { .. }
            );
            apply_group(conn, event, payload).await?;
            cached
        } else if event.aggregate_type == Tool::TYPE {
            let payload: ToolEvent =
                serde_json::from_value(event.payload.clone()).context("tool event payload")?;
            return apply_tool(conn, event, payload).await;
        } else if event.aggregate_type == Class::TYPE {
            let payload: ClassEvent =
                serde_json::from_value(event.payload.clone()).context("class event payload")?;
            let cached = !matches!(
                payload,
                ClassEvent::Created { .. } | ClassEvent::ThemeSet { .. }
            );
            apply_class(conn, event, payload).await?;
            cached
        } else {
            return Ok(());
        };
        if !changes_cached_facts {
            return Ok(());
        }
        // The directory changed: every process's authorization cache starts over when this
        // batch commits (PostgreSQL folds the identical notifications of one transaction).
        sqlx::query("SELECT pg_notify($1, '')")
            .bind(DIRECTORY_CHANNEL)
            .execute(conn)
            .await?;
        Ok(())
    }
}

/// Moves `version` of the row `id` of `table` to the event's sequence, setting `set` (whose
/// parameters start at $3); an event already applied is skipped, a missing one is an error.
async fn guarded_update(
    conn: &mut PgConnection,
    table: &str,
    id: Uuid,
    event: &LoggedEvent,
    set: &str,
    param: Option<Option<&str>>,
) -> anyhow::Result<bool> {
    let sql = format!(
        "UPDATE {table} SET {set}updated_at = $2, version = $3 \
         WHERE id = $1 AND version = $3 - 1"
    );
    let mut query = sqlx::query(&sql)
        .bind(id)
        .bind(event.recorded_at)
        .bind(event.sequence);
    if let Some(value) = param {
        query = query.bind(value);
    }
    if query.execute(&mut *conn).await?.rows_affected() == 1 {
        return Ok(true);
    }
    let version: Option<i64> =
        sqlx::query_scalar(&format!("SELECT version FROM {table} WHERE id = $1"))
            .bind(id)
            .fetch_optional(&mut *conn)
            .await?;
    match version {
        Some(v) if v >= event.sequence => Ok(false),
        other => bail!(
            "{table} {id} is at version {other:?}, cannot apply event #{}",
            event.sequence
        ),
    }
}

/// Where one kind of membership is kept: the table of the entries that have members (its row
/// carries the version an event moves) and the membership table, keyed by `key`.
struct MembershipTables {
    entries: &'static str,
    members: &'static str,
    key: &'static str,
}

const GROUP_MEMBERS: MembershipTables = MembershipTables {
    entries: "groups",
    members: "group_members",
    key: "group_id",
};

const CLASS_MEMBERS: MembershipTables = MembershipTables {
    entries: "classes",
    members: "class_members",
    key: "class_id",
};

/// A member added, or given another role, in a group or class: one rule for both. The entry
/// moves to the event's version and the membership row is written; an event already applied
/// changes nothing.
async fn set_member(
    conn: &mut PgConnection,
    event: &LoggedEvent,
    tables: &MembershipTables,
    id: Uuid,
    user_id: Uuid,
    role: &str,
) -> anyhow::Result<()> {
    let MembershipTables {
        entries,
        members,
        key,
    } = tables;
    if guarded_update(conn, entries, id, event, "", None).await? {
        sqlx::query(&format!(
            "INSERT INTO {members} ({key}, user_id, role, since) \
             VALUES ($1, $2, $3, $4) \
             ON CONFLICT ({key}, user_id) DO UPDATE SET role = EXCLUDED.role"
        ))
        .bind(id)
        .bind(user_id)
        .bind(role)
        .bind(event.recorded_at)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

/// A member removed from a group or class: one rule for both, guarded like [`set_member`].
async fn remove_member(
    conn: &mut PgConnection,
    event: &LoggedEvent,
    tables: &MembershipTables,
    id: Uuid,
    user_id: Uuid,
) -> anyhow::Result<()> {
    let MembershipTables {
        entries,
        members,
        key,
    } = tables;
    if guarded_update(conn, entries, id, event, "", None).await? {
        sqlx::query(&format!(
            "DELETE FROM {members} WHERE {key} = $1 AND user_id = $2"
        ))
        .bind(id)
        .bind(user_id)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

async fn apply_group(
    conn: &mut PgConnection,
    event: &LoggedEvent,
    payload: GroupEvent,
) -> anyhow::Result<()> {
    let id: GroupId = event.aggregate_id.parse().context("group id")?;
    let at = event.recorded_at;
    match payload {
        GroupEvent::Created { name, parent_id } => {
            sqlx::query(
                "INSERT INTO groups (id, name, parent_id, path, archived, created_at, \
                                     updated_at, version) \
                 SELECT $1, $2, $3, \
                        coalesce((SELECT path FROM groups WHERE id = $3), ''::ltree) \
                          || text2ltree($4), \
                        false, $5, $5, $6 \
                 ON CONFLICT (id) DO NOTHING",
            )
            .bind(id)
            .bind(name.as_str())
            .bind(parent_id)
            .bind(label(id))
            .bind(at)
            .bind(event.sequence)
            .execute(&mut *conn)
            .await?;
        }
        GroupEvent::Renamed { name } => {
            guarded_update(
                conn,
                "groups",
                id,
                event,
                "name = $4, ",
                Some(Some(name.as_str())),
            )
            .await?;
        }
        GroupEvent::Archived => {
            guarded_update(conn, "groups", id, event, "archived = true, ", None).await?;
        }
        GroupEvent::Moved { parent_id } => {
            let parent = parent_id.map(|p| p.to_string());
            if guarded_update(
                conn,
                "groups",
                id,
                event,
                "parent_id = $4::uuid, ",
                Some(parent.as_deref()),
            )
            .await?
            {
                // Re-root the whole subtree: new prefix = parent's path + this group.
                sqlx::query(
                    "WITH moved AS (SELECT path AS old FROM groups WHERE id = $1), \
                          target AS (SELECT coalesce((SELECT path FROM groups WHERE id = $2), \
                                                      ''::ltree) || text2ltree($3) AS new) \
                     UPDATE groups g SET path = CASE WHEN g.id = $1 THEN target.new \
                         ELSE target.new || subpath(g.path, nlevel(moved.old)) END \
                     FROM moved, target WHERE g.path <@ moved.old",
                )
                .bind(id)
                .bind(parent_id)
                .bind(label(id))
                .execute(&mut *conn)
                .await?;
            }
        }
        GroupEvent::MemberAdded { user_id, role }
        | GroupEvent::MemberRoleChanged { user_id, role } => {
            set_member(conn, event, &GROUP_MEMBERS, id, user_id, role.as_str()).await?;
        }
        GroupEvent::MemberRemoved { user_id } => {
            remove_member(conn, event, &GROUP_MEMBERS, id, user_id).await?;
        }
        // Kept by the `themes` projection; here the group's version moves past it.
        GroupEvent::ThemeSet { .. } => {
            guarded_update(conn, "groups", id, event, "", None).await?;
        }
    }
    Ok(())
}

async fn apply_class(
    conn: &mut PgConnection,
    event: &LoggedEvent,
    payload: ClassEvent,
) -> anyhow::Result<()> {
    let id: ClassId = event.aggregate_id.parse().context("class id")?;
    let at = event.recorded_at;
    match payload {
        ClassEvent::Created { name, group_id } => {
            sqlx::query(
                "INSERT INTO classes (id, group_id, name, archived, created_at, updated_at, \
                                      version) \
                 VALUES ($1, $2, $3, false, $4, $4, $5) ON CONFLICT (id) DO NOTHING",
            )
            .bind(id)
            .bind(group_id)
            .bind(name.as_str())
            .bind(at)
            .bind(event.sequence)
            .execute(&mut *conn)
            .await?;
        }
        ClassEvent::Renamed { name } => {
            guarded_update(
                conn,
                "classes",
                id,
                event,
                "name = $4, ",
                Some(Some(name.as_str())),
            )
            .await?;
        }
        ClassEvent::Archived => {
            guarded_update(conn, "classes", id, event, "archived = true, ", None).await?;
        }
        ClassEvent::Moved { group_id } => {
            let group = group_id.to_string();
            guarded_update(
                conn,
                "classes",
                id,
                event,
                "group_id = $4::uuid, ",
                Some(Some(&group)),
            )
            .await?;
        }
        ClassEvent::MemberAdded { user_id, role }
        | ClassEvent::MemberRoleChanged { user_id, role } => {
            set_member(conn, event, &CLASS_MEMBERS, id, user_id, role.as_str()).await?;
        }
        ClassEvent::MemberRemoved { user_id } => {
            remove_member(conn, event, &CLASS_MEMBERS, id, user_id).await?;
        }
        // Kept by the `themes` projection; here the class's version moves past it.
        ClassEvent::ThemeSet { .. } => {
            guarded_update(conn, "classes", id, event, "", None).await?;
        }
    }
    Ok(())
}

async fn apply_tool(
    conn: &mut PgConnection,
    event: &LoggedEvent,
    payload: ToolEvent,
) -> anyhow::Result<()> {
    let id: ToolId = event.aggregate_id.parse().context("tool id")?;
    match payload {
        ToolEvent::Created {
            group_id,
            name,
            description,
        } => {
            sqlx::query(
                "INSERT INTO tools (id, group_id, name, description, archived, created_at, \
                                    updated_at, version) \
                 VALUES ($1, $2, $3, $4, false, $5, $5, $6) ON CONFLICT (id) DO NOTHING",
            )
            .bind(id)
            .bind(group_id)
            .bind(name.as_str())
            .bind(description)
            .bind(event.recorded_at)
            .bind(event.sequence)
            .execute(&mut *conn)
            .await?;
        }
        ToolEvent::Updated { name, description } => {
            if guarded_update(
                conn,
                "tools",
                id,
                event,
                "name = $4, ",
                Some(Some(name.as_str())),
            )
            .await?
            {
                sqlx::query("UPDATE tools SET description = $2 WHERE id = $1")
                    .bind(id)
                    .bind(description)
                    .execute(&mut *conn)
                    .await?;
            }
        }
        ToolEvent::Archived => {
            guarded_update(conn, "tools", id, event, "archived = true, ", None).await?;
        }
    }
    Ok(())
}
