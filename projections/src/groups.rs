//! The `groups` read model: one row per group, with its materialized path for subtree queries.

use anyhow::{bail, Context as _};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use domain::group::{Group, GroupEvent, GroupId};
use domain::Aggregate as _;
use sqlx::postgres::PgRow;
use sqlx::{FromRow, PgConnection, PgExecutor, Row};
use uuid::Uuid;

use crate::log::LoggedEvent;
use crate::runner::Projection;

/// The subscriber name of this projection.
pub const NAME: &str = "groups";

/// One row of the read model.
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

/// An ltree label for a group id (ltree labels cannot contain dashes before PostgreSQL 16).
fn label(id: GroupId) -> String {
    id.simple().to_string()
}

const SELECT: &str = "SELECT id, name, parent_id, path::text AS path, archived, created_at, \
                      updated_at, version FROM groups";

pub async fn get<'e>(executor: impl PgExecutor<'e>, id: GroupId) -> sqlx::Result<Option<GroupRow>> {
    sqlx::query_as(&format!("{SELECT} WHERE id = $1"))
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
}

pub async fn list<'e>(
    executor: impl PgExecutor<'e>,
    listing: &GroupListing,
) -> sqlx::Result<Vec<GroupRow>> {
    let mut query = sqlx::QueryBuilder::new(SELECT);
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
    query
        .push(" ORDER BY created_at, id LIMIT ")
        .push_bind(listing.limit);
    query.build_query_as().fetch_all(executor).await
}

/// Maintains the `groups` table.
pub struct GroupsProjection;

#[async_trait]
impl Projection for GroupsProjection {
    fn name(&self) -> &'static str {
        NAME
    }

    async fn reset(&self, conn: &mut PgConnection) -> anyhow::Result<()> {
        sqlx::query("TRUNCATE groups").execute(conn).await?;
        Ok(())
    }

    async fn apply(&self, conn: &mut PgConnection, event: &LoggedEvent) -> anyhow::Result<()> {
        if event.aggregate_type != Group::TYPE {
            return Ok(());
        }
        let id: GroupId = event.aggregate_id.parse().context("group id")?;
        let payload: GroupEvent =
            serde_json::from_value(event.payload.clone()).context("group event payload")?;
        let at = event.recorded_at;
        let seq = event.sequence;
        let done = match payload {
            GroupEvent::Created { name, parent_id } => sqlx::query(
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
            .bind(seq)
            .execute(&mut *conn)
            .await?
            .rows_affected(),
            GroupEvent::Renamed { name } => sqlx::query(
                "UPDATE groups SET name = $2, updated_at = $3, version = $4 \
                     WHERE id = $1 AND version = $4 - 1",
            )
            .bind(id)
            .bind(name.as_str())
            .bind(at)
            .bind(seq)
            .execute(&mut *conn)
            .await?
            .rows_affected(),
            GroupEvent::Archived => sqlx::query(
                "UPDATE groups SET archived = true, updated_at = $2, version = $3 \
                     WHERE id = $1 AND version = $3 - 1",
            )
            .bind(id)
            .bind(at)
            .bind(seq)
            .execute(&mut *conn)
            .await?
            .rows_affected(),
        };
        if done == 0 {
            ensure_already_applied(conn, id, seq).await?;
        }
        Ok(())
    }
}

/// An update that matched no row is fine only if the row already has this event (a replayed
/// batch); anything else means an event is missing, which must stop the projection.
async fn ensure_already_applied(
    conn: &mut PgConnection,
    id: GroupId,
    seq: i64,
) -> anyhow::Result<()> {
    let version: Option<i64> = sqlx::query_scalar("SELECT version FROM groups WHERE id = $1")
        .bind(id)
        .fetch_optional(conn)
        .await?;
    match version {
        Some(v) if v >= seq => Ok(()),
        other => bail!("group {id} is at version {other:?}, cannot apply event #{seq}"),
    }
}
