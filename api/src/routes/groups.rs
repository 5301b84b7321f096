//! `/groups`: create, read, rename, archive, move and list groups; their members and classes.

use std::sync::Arc;

use application::identity::Principal;
use chrono::{DateTime, Utc};
use domain::group::{GroupId, GroupName};
use poem::web::Data;
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object, OpenApi};
use projections::directory as read_directory;
use projections::directory::{self as read, GroupCursor, GroupListing, GroupRow};
use uuid::Uuid;

use super::closed::{GroupRole, OneOf};
use super::directory::{
    self, class_rejected, group_rejected, ClassDto, ClassList, CreatedClass, GroupMembers,
    MemberList, NoContent,
};
use super::tags::ApiTags;
use super::text::Text;
use crate::authz::Target;
use crate::caller::{command_context, Caller, RequestId};
use crate::problem::{command_error, ApiError, ProblemKind};
use crate::state::Services;

/// A group as clients see it.
#[derive(Debug, Object)]
#[oai(rename = "Group", example)]
pub struct GroupDto {
    pub id: Uuid,
    pub name: String,
    #[oai(nullable)]
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
    #[oai(nullable)]
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
#[oai(deny_unknown_fields, example)]
pub struct UpdateGroup {
    #[oai(nullable)]
    pub name: Option<Text>,
}

/// A page of groups.
#[derive(Debug, Object)]
#[oai(example)]
pub struct GroupPage {
    pub items: Vec<GroupDto>,
    /// Pass as `cursor` to get the next page; null on the last page.
    #[oai(nullable)]
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
    GroupName::parse(raw).map_err(crate::problem::group_name_error)
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
    /// Whether the caller may put a group under `parent` (when creating it or moving it
    /// there), with the parent's path (empty at the top level). The top level needs
    /// `system.create_top_level_group`; a parent group needs `group.create_subgroup`, and a
    /// parent the caller cannot read looks exactly like a missing one (422 parent-not-found).
    async fn require_parent(
        &self,
        principal: &Principal,
        parent: Option<Uuid>,
    ) -> Result<Vec<Uuid>, ApiError> {
        let authz = &self.services.authz;
        let Some(parent) = parent else {
            authz.system(principal, "system.create_top_level_group")?;
            return Ok(vec![]);
        };
        let target = authz.group_target(principal, parent).await?;
        let readable = target
            .as_ref()
            .is_some_and(|t| authz.policy.decide(principal, "group.read", t).0);
        match target {
            Some(target) if readable => {
                authz.require(principal, "group.create_subgroup", &target)?;
                Ok(match target {
                    Target::Group { facts, .. } => facts.path,
                    _ => vec![parent],
                })
            }
            _ => Err(ApiError::kind(ProblemKind::ParentNotFound)),
        }
    }

    /// Waits until the groups read model reflects `position`, then reads the group.
    async fn read_after_write(
        &self,
        id: GroupId,
        position: Option<i64>,
    ) -> Result<GroupDto, ApiError> {
        self.services
            .caught_up(read::NAME, position)
            .await
            .map_err(|e| e.located(format!("/groups/{id}")))?;
        read::get_group(&self.services.pool, id)
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
        let principal = caller.user()?;
        let parent_path = self.require_parent(principal, body.parent_id).await?;
        let name = parse_name(&body.name.0)?;
        let (id, appended) = self
            .services
            .groups
            .create(
                &command_context(&caller, &request_id),
                name.clone(),
                body.parent_id,
            )
            .await
            .map_err(|e| command_error(e, group_rejected))?;
        // Answered from the command's own event, without waiting for the projection: reads
        // of the group (`GET /groups/{id}`, the list, authorization) wait for it instead when
        // they would otherwise be behind (ADR 0007). The projection derives the same row.
        let created_at = appended
            .recorded_at
            .ok_or_else(|| ApiError::kind(ProblemKind::ReadModelLagging))?;
        let mut path = parent_path;
        path.push(id);
        let group = GroupDto {
            id,
            name: name.as_str().to_owned(),
            parent_id: body.parent_id,
            path,
            archived: false,
            created_at,
            updated_at: created_at,
            version: 1,
        };
        Ok(CreatedGroup::Created(Json(group), format!("/groups/{id}")))
    }

    /// Get a group
    ///
    /// The group, once the directory reflects its creation or the caller's latest change. 404
    /// when it does not exist or the caller may not read it.
    #[oai(path = "/groups/:id", method = "get", operation_id = "getGroup")]
    async fn get(&self, caller: Data<&Caller>, id: Path<Uuid>) -> Result<Json<GroupDto>, ApiError> {
        self.services
            .authz
            .group(caller.user()?, id.0, "group.read")
            .await?;
        // Creations answer without waiting for the projection (ADR 0007).
        self.services
            .caught_up_with_stream(
                read::NAME,
                <domain::group::Group as domain::Aggregate>::TYPE,
                id.0,
            )
            .await?;
        read::get_group(&self.services.pool, id.0)
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
        self.services
            .authz
            .group(caller.user()?, id.0, "group.update")
            .await?;
        let mut position = None;
        if let Some(name) = &body.name {
            let name = parse_name(&name.0)?;
            let appended = self
                .services
                .groups
                .rename(&command_context(&caller, &request_id), id.0, name)
                .await
                .map_err(|e| command_error(e, group_rejected))?;
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
        self.services
            .authz
            .group(caller.user()?, id.0, "group.archive")
            .await?;
        let appended = self
            .services
            .groups
            .archive(&command_context(&caller, &request_id), id.0)
            .await
            .map_err(|e| command_error(e, group_rejected))?;
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
        let principal = caller.user()?;
        let limit = limit.0.unwrap_or(50);
        // Groups are created without waiting for the projection: list what is committed.
        self.services
            .caught_up_with_log(&projections::directory::DirectoryProjection)
            .await?;
        let listing = GroupListing {
            after: cursor.0.as_deref().map(decode_cursor).transpose()?,
            limit: limit + 1,
            parent_id: parent_id.0,
            within: within.0,
            include_archived: include_archived.0.unwrap_or(false),
            // Everyone sees only the groups the policy lets them read.
            visible_to: (!principal.system_admin).then_some(principal.user_id),
        };
        let mut rows = read::list_groups(&self.services.pool, &listing).await?;
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

    /// Move a group
    ///
    /// Under another parent (`parent_id`), or to the top level (`null`, system admins only).
    /// Refuses cycles (422 group-cycle) and archived parents.
    #[oai(path = "/groups/:id/move", method = "post", operation_id = "moveGroup")]
    async fn move_group(
        &self,
        caller: Data<&Caller>,
        request_id: Data<&RequestId>,
        id: Path<Uuid>,
        body: Json<MoveGroup>,
    ) -> Result<Json<GroupDto>, ApiError> {
        let principal = caller.user()?;
        self.services
            .authz
            .group(principal, id.0, "group.move")
            .await?;
        self.require_parent(principal, body.parent_id).await?;
        let appended = self
            .services
            .groups
            .move_group(&command_context(&caller, &request_id), id.0, body.parent_id)
            .await
            .map_err(|e| command_error(e, group_rejected))?;
        self.read_after_write(id.0, appended.position)
            .await
            .map(Json)
    }

    /// Group members
    ///
    /// The admins, counselors and members of the group itself, with the role each holds and
    /// since when.
    #[oai(
        path = "/groups/:id/members",
        method = "get",
        operation_id = "listGroupMembers"
    )]
    async fn members(
        &self,
        caller: Data<&Caller>,
        id: Path<Uuid>,
    ) -> Result<Json<MemberList>, ApiError> {
        directory::list_members(&self.services, &caller, GroupMembers(id.0)).await
    }

    /// Add a member or change their role
    ///
    /// Roles: `admin`, `counselor`, `member`. Admins and counselors hold their role over the
    /// whole subtree. Lowering the last admin of a top-level group is refused (409) unless a
    /// system admin does it.
    #[oai(
        path = "/groups/:id/members/:user_id",
        method = "put",
        operation_id = "setGroupMember"
    )]
    async fn set_member(
        &self,
        caller: Data<&Caller>,
        request_id: Data<&RequestId>,
        id: Path<Uuid>,
        user_id: Path<Uuid>,
        body: Json<SetRole>,
    ) -> Result<Json<MemberList>, ApiError> {
        let roster = GroupMembers(id.0);
        directory::set_member(
            &self.services,
            &caller,
            &request_id,
            roster,
            user_id.0,
            &body.role.0,
        )
        .await
    }

    /// Remove a member
    ///
    /// Removes the user from the group, answering once the directory has the change. Removing
    /// the last admin of a top-level group is refused (409 `last-admin`) unless a system admin
    /// does it.
    #[oai(
        path = "/groups/:id/members/:user_id",
        method = "delete",
        operation_id = "removeGroupMember"
    )]
    async fn remove_member(
        &self,
        caller: Data<&Caller>,
        request_id: Data<&RequestId>,
        id: Path<Uuid>,
        user_id: Path<Uuid>,
    ) -> Result<NoContent, ApiError> {
        let roster = GroupMembers(id.0);
        directory::remove_member(&self.services, &caller, &request_id, roster, user_id.0).await
    }

    /// Classes of a group
    ///
    /// The classes directly in the group, without the archived ones unless
    /// `include_archived=true`.
    #[oai(
        path = "/groups/:id/classes",
        method = "get",
        operation_id = "listGroupClasses"
    )]
    async fn classes(
        &self,
        caller: Data<&Caller>,
        id: Path<Uuid>,
        /// Include archived classes.
        include_archived: Query<Option<bool>>,
    ) -> Result<Json<ClassList>, ApiError> {
        self.services
            .authz
            .group(caller.user()?, id.0, "group.list_classes")
            .await?;
        let rows = read_directory::classes_of_group(
            &self.services.pool,
            id.0,
            include_archived.0.unwrap_or(false),
        )
        .await?;
        Ok(Json(ClassList {
            items: rows.into_iter().map(ClassDto::from).collect(),
        }))
    }

    /// Create a class in a group
    ///
    /// Creates a class in the group; `Location` names the new class. 409 `group-archived` in an
    /// archived group.
    #[oai(
        path = "/groups/:id/classes",
        method = "post",
        operation_id = "createClass"
    )]
    async fn create_class(
        &self,
        caller: Data<&Caller>,
        request_id: Data<&RequestId>,
        id: Path<Uuid>,
        body: Json<CreateClass>,
    ) -> Result<CreatedClass, ApiError> {
        self.services
            .authz
            .group(caller.user()?, id.0, "group.create_class")
            .await?;
        let name = parse_name(&body.name.0)?;
        let (class_id, appended) = self
            .services
            .classes
            .create(&command_context(&caller, &request_id), id.0, name)
            .await
            .map_err(|e| command_error(e, class_rejected))?;
        self.services
            .caught_up_created(read::NAME, appended.position)
            .await
            .map_err(|e| e.located(format!("/classes/{class_id}")))?;
        let class = read_directory::get_class(&self.services.pool, class_id)
            .await?
            .ok_or_else(|| ApiError::kind(ProblemKind::ReadModelLagging))?;
        Ok(CreatedClass::Created(
            Json(class.into()),
            format!("/classes/{class_id}"),
        ))
    }
}

/// `POST /groups/{id}/move` body.
#[derive(Debug, Object)]
#[oai(deny_unknown_fields, example)]
pub struct MoveGroup {
    /// The new parent; null moves the group to the top level.
    #[oai(nullable)]
    pub parent_id: Option<Uuid>,
}

/// `PUT /groups/{id}/members/{user_id}` body.
#[derive(Debug, Object)]
#[oai(deny_unknown_fields, example)]
pub struct SetRole {
    /// `admin`, `counselor` or `member`.
    pub role: OneOf<GroupRole>,
}

/// `POST /groups/{id}/classes` body.
#[derive(Debug, Object)]
#[oai(deny_unknown_fields, example)]
pub struct CreateClass {
    pub name: Text,
}
