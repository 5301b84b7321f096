//! The directory (groups, their classes, and who belongs where) as `/groups`, `/classes` and
//! `/service-accounts` share it: a class as clients see it (also listed and created under its
//! group), the members of a group or class, how group and class rejections read as problems,
//! and the membership endpoints, which follow one rule for a group and a class.

use application::identity::Principal;
use application::{Appended, CommandContext};
use chrono::{DateTime, Utc};
use domain::class::{ClassError, ClassRole};
use domain::group::{GroupError, GroupRole};
use domain::Aggregate as _;
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object};
use projections::directory as read;
use projections::directory::{self, ClassRow, MemberRow};
use sqlx::PgPool;
use uuid::Uuid;

use super::closed::{MemberRole, OneOf};
use crate::authz::Authz;
use crate::caller::{command_context, Caller, RequestId};
use crate::problem::{command_error, ApiError, ProblemKind};
use crate::state::Services;

/// A class as clients see it.
#[derive(Debug, Object)]
#[oai(rename = "Class", example)]
pub struct ClassDto {
    pub id: Uuid,
    pub group_id: Uuid,
    pub name: String,
    pub archived: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub version: i64,
}

impl From<ClassRow> for ClassDto {
    fn from(row: ClassRow) -> Self {
        Self {
            id: row.id,
            group_id: row.group_id,
            name: row.name,
            archived: row.archived,
            created_at: row.created_at,
            updated_at: row.updated_at,
            version: row.version,
        }
    }
}

#[derive(Debug, Object)]
#[oai(example)]
pub struct ClassList {
    pub items: Vec<ClassDto>,
}

#[derive(ApiResponse)]
pub enum CreatedClass {
    /// The class was created.
    #[oai(status = 201)]
    Created(Json<ClassDto>, #[oai(header = "Location")] String),
}

/// A member of a group or class.
#[derive(Debug, Object)]
pub struct MemberDto {
    pub user_id: Uuid,
    pub email: String,
    pub name: String,
    /// In a group `admin`, `counselor` or `member`; in a class `teacher` or `student`.
    pub role: OneOf<MemberRole>,
    pub since: DateTime<Utc>,
}

#[derive(Debug, Object)]
#[oai(example)]
pub struct MemberList {
    pub items: Vec<MemberDto>,
}

impl From<Vec<MemberRow>> for MemberList {
    fn from(rows: Vec<MemberRow>) -> Self {
        Self {
            items: rows
                .into_iter()
                .map(|m| MemberDto {
                    user_id: m.user_id,
                    email: m.email,
                    name: m.name,
                    role: m.role.into(),
                    since: m.since,
                })
                .collect(),
        }
    }
}

#[derive(ApiResponse)]
pub enum NoContent {
    #[oai(status = 204)]
    NoContent,
}

/// A group command's rejection as the problem the API answers.
pub(crate) fn group_rejected(error: GroupError) -> ApiError {
    match error {
        GroupError::NotFound => ApiError::not_found("group"),
        GroupError::AlreadyExists => ApiError::kind(ProblemKind::Conflict),
        GroupError::Archived => ApiError::kind(ProblemKind::GroupArchived),
        GroupError::ParentNotFound => ApiError::kind(ProblemKind::ParentNotFound),
        GroupError::ParentArchived => ApiError::kind(ProblemKind::ParentArchived),
        GroupError::Cycle => ApiError::kind(ProblemKind::GroupCycle),
        GroupError::MemberNotFound => ApiError::not_found("membership"),
        GroupError::LastAdmin => ApiError::kind(ProblemKind::LastAdmin),
    }
}

/// A class command's rejection as the problem the API answers.
pub(crate) fn class_rejected(error: ClassError) -> ApiError {
    match error {
        ClassError::NotFound => ApiError::not_found("class"),
        ClassError::AlreadyExists => ApiError::kind(ProblemKind::Conflict),
        ClassError::Archived => ApiError::kind(ProblemKind::ClassArchived),
        ClassError::GroupNotFound => ApiError::kind(ProblemKind::GroupNotFound),
        ClassError::GroupArchived => ApiError::kind(ProblemKind::GroupArchived),
        ClassError::MemberNotFound => ApiError::not_found("membership"),
    }
}

/// The members of one group or one class: what differs between the two. What they share,
/// the rule of the membership endpoints, is [`list_members`], [`set_member`] and
/// [`remove_member`].
pub(crate) trait Roster {
    /// The roles its members hold.
    type Role;
    /// The policy's actions that read and change the members.
    const READ_MEMBERS: &'static str;
    const MANAGE_MEMBERS: &'static str;

    /// Parses a role of this roster, or answers 422 naming the roles there are.
    fn role(raw: &str) -> Result<Self::Role, ApiError>;

    /// Allows `action` on the roster's group or class, or answers as [`Authz`] does (404
    /// when it cannot be read or does not exist, 403 when it can be read only).
    async fn require(
        &self,
        authz: &Authz,
        principal: &Principal,
        action: &str,
    ) -> Result<(), ApiError>;

    /// The members, from the directory.
    async fn members(&self, pool: &PgPool) -> sqlx::Result<Vec<MemberRow>>;

    /// Adds `user_id` with `role`, or changes their role.
    async fn set(
        &self,
        services: &Services,
        context: &CommandContext,
        principal: &Principal,
        user_id: Uuid,
        role: Self::Role,
    ) -> Result<Appended, ApiError>;

    /// Removes `user_id`.
    async fn remove(
        &self,
        services: &Services,
        context: &CommandContext,
        principal: &Principal,
        user_id: Uuid,
    ) -> Result<Appended, ApiError>;
}

/// The members of a group: admins, counselors and members, who hold their role over the
/// whole subtree. Only a system admin may lower or remove the last admin of a top-level
/// group (the command is told who asks).
pub(crate) struct GroupMembers(pub Uuid);

impl Roster for GroupMembers {
    type Role = GroupRole;
    const READ_MEMBERS: &'static str = "group.read_members";
    const MANAGE_MEMBERS: &'static str = "group.manage_members";

    fn role(raw: &str) -> Result<GroupRole, ApiError> {
        GroupRole::parse(raw).ok_or_else(|| {
            ApiError::new(
                ProblemKind::InvalidRequest,
                "role: expected admin, counselor or member".to_owned(),
            )
        })
    }

    async fn require(
        &self,
        authz: &Authz,
        principal: &Principal,
        action: &str,
    ) -> Result<(), ApiError> {
        authz.group(principal, self.0, action).await.map(drop)
    }

    async fn members(&self, pool: &PgPool) -> sqlx::Result<Vec<MemberRow>> {
        directory::members_of_group(pool, self.0).await
    }

    async fn set(
        &self,
        services: &Services,
        context: &CommandContext,
        principal: &Principal,
        user_id: Uuid,
        role: GroupRole,
    ) -> Result<Appended, ApiError> {
        services
            .groups
            .set_member(context, self.0, user_id, role, principal.system_admin)
            .await
            .map_err(|e| command_error(e, group_rejected))
    }

    async fn remove(
        &self,
        services: &Services,
        context: &CommandContext,
        principal: &Principal,
        user_id: Uuid,
    ) -> Result<Appended, ApiError> {
        services
            .groups
            .remove_member(context, self.0, user_id, principal.system_admin)
            .await
            .map_err(|e| command_error(e, group_rejected))
    }
}

/// The members of a class: teachers and students.
pub(crate) struct ClassMembers(pub Uuid);

impl Roster for ClassMembers {
    type Role = ClassRole;
    const READ_MEMBERS: &'static str = "class.read_members";
    const MANAGE_MEMBERS: &'static str = "class.manage_members";

    fn role(raw: &str) -> Result<ClassRole, ApiError> {
        ClassRole::parse(raw).ok_or_else(|| {
            ApiError::new(
                ProblemKind::InvalidRequest,
                "role: expected teacher or student".to_owned(),
            )
        })
    }

    async fn require(
        &self,
        authz: &Authz,
        principal: &Principal,
        action: &str,
    ) -> Result<(), ApiError> {
        authz.class(principal, self.0, action).await.map(drop)
    }

    async fn members(&self, pool: &PgPool) -> sqlx::Result<Vec<MemberRow>> {
        directory::members_of_class(pool, self.0).await
    }

    async fn set(
        &self,
        services: &Services,
        context: &CommandContext,
        _principal: &Principal,
        user_id: Uuid,
        role: ClassRole,
    ) -> Result<Appended, ApiError> {
        services
            .classes
            .set_member(context, self.0, user_id, role)
            .await
            .map_err(|e| command_error(e, class_rejected))
    }

    async fn remove(
        &self,
        services: &Services,
        context: &CommandContext,
        _principal: &Principal,
        user_id: Uuid,
    ) -> Result<Appended, ApiError> {
        services
            .classes
            .remove_member(context, self.0, user_id)
            .await
            .map_err(|e| command_error(e, class_rejected))
    }
}

/// `GET …/members`: the members, for whoever may read them.
pub(crate) async fn list_members<R: Roster>(
    services: &Services,
    caller: &Caller,
    roster: R,
) -> Result<Json<MemberList>, ApiError> {
    roster
        .require(&services.authz, caller.user()?, R::READ_MEMBERS)
        .await?;
    Ok(Json(MemberList::from(
        roster.members(&services.pool).await?,
    )))
}

/// `PUT …/members/{user_id}`: adds a member or changes their role. The caller must be
/// allowed to manage the members, the role must be one of the roster's, and the user must
/// have an account that the caller may add (`account.add_to_roster`: someone they can already
/// see in a member list, or who belongs nowhere yet), in that order. An account they may
/// not add gets the same 422 user-not-found as a missing one, so that where a person belongs
/// cannot be probed. The answer is the members once the directory has the change, so that
/// the caller's next request is decided on it.
pub(crate) async fn set_member<R: Roster>(
    services: &Services,
    caller: &Caller,
    request_id: &RequestId,
    roster: R,
    user_id: Uuid,
    role: &str,
) -> Result<Json<MemberList>, ApiError> {
    let principal = caller.user()?;
    roster
        .require(&services.authz, principal, R::MANAGE_MEMBERS)
        .await?;
    let role = R::role(role)?;
    if !services.groups.user_exists(user_id).await?
        || !services.authz.may_add(principal, user_id).await?
    {
        return Err(ApiError::kind(ProblemKind::UserNotFound));
    }
    let appended = roster
        .set(
            services,
            &command_context(caller, request_id),
            principal,
            user_id,
            role,
        )
        .await?;
    services.caught_up(read::NAME, appended.position).await?;
    // The list shows each member's account from the identity read model: one registered a
    // moment ago may not be there yet (registration answers without waiting for it), and
    // would be missing from the answer.
    services
        .caught_up_with_stream(
            projections::identity::NAME,
            domain::user::User::TYPE,
            user_id,
        )
        .await?;
    Ok(Json(MemberList::from(
        roster.members(&services.pool).await?,
    )))
}

/// `DELETE …/members/{user_id}`: removes a member, answering once the directory has the
/// change.
pub(crate) async fn remove_member<R: Roster>(
    services: &Services,
    caller: &Caller,
    request_id: &RequestId,
    roster: R,
    user_id: Uuid,
) -> Result<NoContent, ApiError> {
    let principal = caller.user()?;
    roster
        .require(&services.authz, principal, R::MANAGE_MEMBERS)
        .await?;
    let appended = roster
        .remove(
            services,
            &command_context(caller, request_id),
            principal,
            user_id,
        )
        .await?;
    services.caught_up(read::NAME, appended.position).await?;
    Ok(NoContent::NoContent)
}
