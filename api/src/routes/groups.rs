//! `/groups`: create, read, rename, archive and list groups.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use domain::group::{GroupError, GroupId, GroupName};
use poem::web::Data;
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object, OpenApi};
use projections::groups::{self as read, GroupCursor, GroupListing, GroupRow};
use uuid::Uuid;

use super::text::Text;
use super::ApiTags;
use crate::app::Services;
use crate::caller::{command_context, Caller, RequestId};
use crate::problem::{command_error, ApiError, ProblemKind};

/// A group as clients see it.
#[derive(Debug, Object)]
#[oai(rename = "Group")]
pub struct GroupDto {
    pub id: Uuid,
    pub name: String,
    pub parent_id: Option<Uuid>,
    /// Ids from the top-level group down to this one (inclusive).
    pub path: Vec<Uuid>,
    pub archived: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// The number of events in the group's history; grows with every change.
    pub version: i64,
}

impl From<GroupRow> for GroupDto {
    fn from(row: GroupRow) -> Self {
        Self {
            id: row.id,
            name: row.name,
            parent_id: row.parent_id,
            path: row.path.0,
            archived: row.archived,
            created_at: row.created_at,
            updated_at: row.updated_at,
            version: row.version,
        }
    }
}

/// `POST /groups` body.
#[derive(Debug, Object)]
#[oai(deny_unknown_fields, example)]
pub struct CreateGroup {
    /// 1 to 200 characters after trimming.
    pub name: Text,
    /// The parent group; absent or null for a top-level group.
    pub parent_id: Option<Uuid>,
}

impl poem_openapi::types::Example for CreateGroup {
    fn example() -> Self {
        Self {
            name: Text("Lincoln High School".into()),
            parent_id: None,
        }
    }
}

/// `PATCH /groups/{id}` body: the fields to change.
#[derive(Debug, Object)]
#[oai(deny_unknown_fields)]
pub struct UpdateGroup {
    pub name: Option<Text>,
}

/// A page of groups.
#[derive(Debug, Object)]
pub struct GroupPage {
    pub items: Vec<GroupDto>,
    /// Pass as `cursor` to get the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

#[derive(ApiResponse)]
pub enum CreatedGroup {
    /// The group was created.
    #[oai(status = 201)]
    Created(Json<GroupDto>, #[oai(header = "Location")] String),
}

pub struct GroupsApi {
    pub services: Arc<Services>,
}

fn parse_name(raw: &str) -> Result<GroupName, ApiError> {
    GroupName::parse(raw)
        .map_err(|e| ApiError::new(ProblemKind::InvalidRequest, format!("name: {e}")))
}

fn rejected(error: GroupError) -> ApiError {
    match error {
        GroupError::NotFound => ApiError::not_found("group"),
        GroupError::AlreadyExists => ApiError::kind(ProblemKind::Conflict),
        GroupError::Archived => ApiError::kind(ProblemKind::GroupArchived),
        GroupError::ParentNotFound => ApiError::kind(ProblemKind::ParentNotFound),
        GroupError::ParentArchived => ApiError::kind(ProblemKind::ParentArchived),
    }
}

fn encode_cursor(row: &GroupRow) -> String {
    format!("{}_{}", row.created_at.timestamp_micros(), row.id.simple())
}

fn decode_cursor(raw: &str) -> Result<GroupCursor, ApiError> {
    let invalid = || {
        ApiError::new(
            ProblemKind::InvalidParameter,
            "cursor: not a cursor".to_owned(),
        )
    };
    let (micros, id) = raw.split_once('_').ok_or_else(invalid)?;
    Ok(GroupCursor {
        created_at: DateTime::from_timestamp_micros(micros.parse().map_err(|_| invalid())?)
            .ok_or_else(invalid)?,
        id: Uuid::try_parse(id).map_err(|_| invalid())?,
    })
}

impl GroupsApi {
    /// Waits until the groups read model reflects `position`, then reads the group.
    async fn read_after_write(
        &self,
        id: GroupId,
        position: Option<i64>,
    ) -> Result<GroupDto, ApiError> {
        self.services.caught_up(read::NAME, position).await?;
        read::get(&self.services.pool, id)
            .await?
            .map(GroupDto::from)
            .ok_or_else(|| ApiError::not_found("group"))
    }
}

#[OpenApi(tag = "ApiTags::Groups")]
impl GroupsApi {
    /// Create a group
    ///
    /// Creates a top-level group, or a subgroup when `parent_id` is given. The response
    /// reflects the new group, and so does the caller's next read.
    #[oai(path = "/groups", method = "post", operation_id = "createGroup")]
    async fn create(
        &self,
        caller: Data<&Caller>,
        request_id: Data<&RequestId>,
        body: Json<CreateGroup>,
    ) -> Result<CreatedGroup, ApiError> {
        caller.user()?;
        let name = parse_name(&body.name.0)?;
        let (id, appended) = self
            .services
            .groups
            .create(&command_context(&caller, &request_id), name, body.parent_id)
            .await
            .map_err(|e| command_error(e, rejected))?;
        let group = self.read_after_write(id, appended.position).await?;
        Ok(CreatedGroup::Created(Json(group), format!("/groups/{id}")))
    }

    /// Get a group
    #[oai(path = "/groups/:id", method = "get", operation_id = "getGroup")]
    async fn get(&self, caller: Data<&Caller>, id: Path<Uuid>) -> Result<Json<GroupDto>, ApiError> {
        caller.user()?;
        read::get(&self.services.pool, id.0)
            .await?
            .map(|row| Json(row.into()))
            .ok_or_else(|| ApiError::not_found("group"))
    }

    /// Update a group
    ///
    /// Renames the group. Renaming to the current name changes nothing. An archived group
    /// cannot be changed (409).
    #[oai(path = "/groups/:id", method = "patch", operation_id = "updateGroup")]
    async fn update(
        &self,
        caller: Data<&Caller>,
        request_id: Data<&RequestId>,
        id: Path<Uuid>,
        body: Json<UpdateGroup>,
    ) -> Result<Json<GroupDto>, ApiError> {
        caller.user()?;
        let mut position = None;
        if let Some(name) = &body.name {
            let name = parse_name(&name.0)?;
            let appended = self
                .services
                .groups
                .rename(&command_context(&caller, &request_id), id.0, name)
                .await
                .map_err(|e| command_error(e, rejected))?;
            position = appended.position;
        }
        self.read_after_write(id.0, position).await.map(Json)
    }

    /// Archive a group
    ///
    /// Archived groups keep their history and stay readable, but cannot be changed or
    /// receive subgroups. Archiving twice is not an error.
    #[oai(
        path = "/groups/:id/archive",
        method = "post",
        operation_id = "archiveGroup"
    )]
    async fn archive(
        &self,
        caller: Data<&Caller>,
        request_id: Data<&RequestId>,
        id: Path<Uuid>,
    ) -> Result<Json<GroupDto>, ApiError> {
        caller.user()?;
        let appended = self
            .services
            .groups
            .archive(&command_context(&caller, &request_id), id.0)
            .await
            .map_err(|e| command_error(e, rejected))?;
        self.read_after_write(id.0, appended.position)
            .await
            .map(Json)
    }

    /// List groups
    ///
    /// Oldest first, paged with `cursor`. Archived groups are left out unless
    /// `include_archived=true`.
    #[oai(path = "/groups", method = "get", operation_id = "listGroups")]
    async fn list(
        &self,
        caller: Data<&Caller>,
        /// Page size, 1 to 200 (default 50).
        #[oai(validator(minimum(value = "1"), maximum(value = "200")))]
        limit: Query<Option<i64>>,
        /// The `next_cursor` of the previous page.
        cursor: Query<Option<String>>,
        /// Only direct children of this group.
        parent_id: Query<Option<Uuid>>,
        /// Only this group and its descendants.
        within: Query<Option<Uuid>>,
        /// Include archived groups.
        include_archived: Query<Option<bool>>,
    ) -> Result<Json<GroupPage>, ApiError> {
        caller.user()?;
        let limit = limit.0.unwrap_or(50);
        let listing = GroupListing {
            after: cursor.0.as_deref().map(decode_cursor).transpose()?,
            limit: limit + 1,
            parent_id: parent_id.0,
            within: within.0,
            include_archived: include_archived.0.unwrap_or(false),
        };
        let mut rows = read::list(&self.services.pool, &listing).await?;
        let next_cursor = if rows.len() as i64 > limit {
            rows.truncate(limit as usize);
            rows.last().map(encode_cursor)
        } else {
            None
        };
        Ok(Json(GroupPage {
            items: rows.into_iter().map(GroupDto::from).collect(),
            next_cursor,
        }))
    }
}
