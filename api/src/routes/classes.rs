//! `/classes`: read, rename, archive, move classes and manage their members.

use std::sync::Arc;

use poem::web::Data;
use poem_openapi::param::Path;
use poem_openapi::payload::Json;
use poem_openapi::{Object, OpenApi};
use projections::directory as read;
use uuid::Uuid;

use super::closed::{ClassRole, OneOf};
use super::directory::{self, class_rejected, ClassDto, ClassMembers, MemberList, NoContent};
use super::tags::ApiTags;
use super::text::Text;
use crate::caller::{command_context, Caller, RequestId};
use crate::problem::{command_error, ApiError, ProblemKind};
use crate::state::Services;

/// `PATCH /classes/{id}` body.
#[derive(Debug, Object)]
#[oai(deny_unknown_fields, example)]
pub struct UpdateClass {
    #[oai(nullable)]
    pub name: Option<Text>,
}

/// `PUT /classes/{id}/members/{user_id}` body.
#[derive(Debug, Object)]
#[oai(deny_unknown_fields, example)]
pub struct SetClassRole {
    /// `teacher` or `student`.
    pub role: OneOf<ClassRole>,
}

/// `POST /classes/{id}/move` body.
#[derive(Debug, Object)]
#[oai(deny_unknown_fields, example)]
pub struct MoveClass {
    pub group_id: Uuid,
}

pub struct ClassesApi {
    pub services: Arc<Services>,
}

impl ClassesApi {
    async fn read_after_write(
        &self,
        id: Uuid,
        position: Option<i64>,
    ) -> Result<Json<ClassDto>, ApiError> {
        self.services
            .caught_up(read::NAME, position)
            .await
            .map_err(|e| e.located(format!("/classes/{id}")))?;
        // After a write, `caught_up` started a new cache generation: this reads fresh.
        self.services
            .authz
            .class_row(id)
            .await?
            .map(|c| Json(c.into()))
            .ok_or_else(|| ApiError::not_found("class"))
    }
}

#[OpenApi(tag = "ApiTags::Classes")]
impl ClassesApi {
    /// Get a class
    ///
    /// The class, once the directory reflects the caller's latest change. 404 when it does not
    /// exist or the caller may not read it.
    #[oai(path = "/classes/:id", method = "get", operation_id = "getClass")]
    async fn get(&self, caller: Data<&Caller>, id: Path<Uuid>) -> Result<Json<ClassDto>, ApiError> {
        self.services
            .authz
            .class(caller.user()?, id.0, "class.read")
            .await?;
        self.read_after_write(id.0, None).await
    }

    /// Update a class
    ///
    /// Renames the class (`name`; a missing or null `name` changes nothing) and answers the
    /// class as the directory then has it. 409 `class-archived` for an archived class.
    #[oai(path = "/classes/:id", method = "patch", operation_id = "updateClass")]
    async fn update(
        &self,
        caller: Data<&Caller>,
        request_id: Data<&RequestId>,
        id: Path<Uuid>,
        body: Json<UpdateClass>,
    ) -> Result<Json<ClassDto>, ApiError> {
        self.services
            .authz
            .class(caller.user()?, id.0, "class.update")
            .await?;
        let mut position = None;
        if let Some(name) = &body.name {
            let name = domain::class::ClassName::parse(&name.0)
                .map_err(crate::problem::group_name_error)?;
            position = self
                .services
                .classes
                .rename(&command_context(&caller, &request_id), id.0, name)
                .await
                .map_err(|e| command_error(e, class_rejected))?
                .position;
        }
        self.read_after_write(id.0, position).await
    }

    /// Archive a class
    ///
    /// Archives the class: it can no longer be renamed, moved or given members; its members can
    /// still be removed. Archiving again is not an error.
    #[oai(
        path = "/classes/:id/archive",
        method = "post",
        operation_id = "archiveClass"
    )]
    async fn archive(
        &self,
        caller: Data<&Caller>,
        request_id: Data<&RequestId>,
        id: Path<Uuid>,
    ) -> Result<Json<ClassDto>, ApiError> {
        self.services
            .authz
            .class(caller.user()?, id.0, "class.archive")
            .await?;
        let appended = self
            .services
            .classes
            .archive(&command_context(&caller, &request_id), id.0)
            .await
            .map_err(|e| command_error(e, class_rejected))?;
        self.read_after_write(id.0, appended.position).await
    }

    /// Move a class to another group
    ///
    /// Needs the right to move the class and to create classes in the target group.
    #[oai(
        path = "/classes/:id/move",
        method = "post",
        operation_id = "moveClass"
    )]
    async fn move_class(
        &self,
        caller: Data<&Caller>,
        request_id: Data<&RequestId>,
        id: Path<Uuid>,
        body: Json<MoveClass>,
    ) -> Result<Json<ClassDto>, ApiError> {
        let principal = caller.user()?;
        let authz = &self.services.authz;
        authz.class(principal, id.0, "class.move").await?;
        let target = authz.group_target(principal, body.group_id).await?;
        let readable = target
            .as_ref()
            .is_some_and(|t| authz.policy.decide(principal, "group.read", t).0);
        match target {
            Some(target) if readable => authz.require(principal, "group.create_class", &target)?,
            _ => return Err(ApiError::kind(ProblemKind::GroupNotFound)),
        }
        let appended = self
            .services
            .classes
            .move_to(&command_context(&caller, &request_id), id.0, body.group_id)
            .await
            .map_err(|e| command_error(e, class_rejected))?;
        self.read_after_write(id.0, appended.position).await
    }

    /// Class members
    ///
    /// The teachers and students of the class, with the role each holds and since when.
    #[oai(
        path = "/classes/:id/members",
        method = "get",
        operation_id = "listClassMembers"
    )]
    async fn members(
        &self,
        caller: Data<&Caller>,
        id: Path<Uuid>,
    ) -> Result<Json<MemberList>, ApiError> {
        directory::list_members(&self.services, &caller, ClassMembers(id.0)).await
    }

    /// Add a class member or change their role
    ///
    /// Roles: `teacher`, `student`.
    #[oai(
        path = "/classes/:id/members/:user_id",
        method = "put",
        operation_id = "setClassMember"
    )]
    async fn set_member(
        &self,
        caller: Data<&Caller>,
        request_id: Data<&RequestId>,
        id: Path<Uuid>,
        user_id: Path<Uuid>,
        body: Json<SetClassRole>,
    ) -> Result<Json<MemberList>, ApiError> {
        let roster = ClassMembers(id.0);
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

    /// Remove a class member
    ///
    /// Removes the user from the class, answering once the directory has the change. Also
    /// allowed in an archived class.
    #[oai(
        path = "/classes/:id/members/:user_id",
        method = "delete",
        operation_id = "removeClassMember"
    )]
    async fn remove_member(
        &self,
        caller: Data<&Caller>,
        request_id: Data<&RequestId>,
        id: Path<Uuid>,
        user_id: Path<Uuid>,
    ) -> Result<NoContent, ApiError> {
        let roster = ClassMembers(id.0);
        directory::remove_member(&self.services, &caller, &request_id, roster, user_id.0).await
    }
}
