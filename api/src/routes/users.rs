//! `/users`: account administration, for system admins.

use std::sync::Arc;

use poem::web::Data;
use poem_openapi::param::Path;
use poem_openapi::payload::Json;
use poem_openapi::{Object, OpenApi};
use projections::identity as read;
use uuid::Uuid;

use super::identity::{identity_error, UserDto};
use super::tags::ApiTags;
use crate::caller::{command_context, Caller, RequestId};
use crate::problem::ApiError;
use crate::state::Services;

#[derive(Debug, Object)]
#[oai(deny_unknown_fields, example)]
pub struct AdminFlag {
    /// true grants system admin, false revokes it.
    pub admin: bool,
}

impl poem_openapi::types::Example for AdminFlag {
    fn example() -> Self {
        Self { admin: true }
    }
}

pub struct UsersApi {
    pub services: Arc<Services>,
}

impl UsersApi {
    /// Disables or enables an account (system admins) and answers it.
    async fn set_disabled(
        &self,
        caller: &Caller,
        request_id: &RequestId,
        id: Uuid,
        disabled: bool,
    ) -> Result<Json<UserDto>, ApiError> {
        self.services
            .authz
            .system(caller.user()?, "system.manage_users")?;
        let position = self
            .services
            .identity
            .set_disabled(&command_context(caller, request_id), id, disabled)
            .await
            .map_err(identity_error)?;
        self.user_after(id, position).await
    }

    async fn user_after(&self, id: Uuid, position: Option<i64>) -> Result<Json<UserDto>, ApiError> {
        self.services.caught_up(read::NAME, position).await?;
        read::get_user(&self.services.pool, id)
            .await?
            .map(|u| Json(u.into()))
            .ok_or_else(|| ApiError::not_found("user"))
    }
}

#[OpenApi(tag = "ApiTags::Users")]
impl UsersApi {
    /// Disable an account
    ///
    /// Ends all its sessions at once; it cannot sign in until enabled again.
    #[oai(
        path = "/users/:id/disable",
        method = "post",
        operation_id = "disableUser"
    )]
    async fn disable(
        &self,
        caller: Data<&Caller>,
        request_id: Data<&RequestId>,
        id: Path<Uuid>,
    ) -> Result<Json<UserDto>, ApiError> {
        self.set_disabled(&caller, &request_id, id.0, true).await
    }

    /// Enable an account
    ///
    /// Lets a disabled account sign in again; the sessions that disabling ended stay ended.
    #[oai(
        path = "/users/:id/enable",
        method = "post",
        operation_id = "enableUser"
    )]
    async fn enable(
        &self,
        caller: Data<&Caller>,
        request_id: Data<&RequestId>,
        id: Path<Uuid>,
    ) -> Result<Json<UserDto>, ApiError> {
        self.set_disabled(&caller, &request_id, id.0, false).await
    }

    /// Grant or revoke system admin
    ///
    /// Sets whether the account is a system admin (`system_admin`).
    #[oai(
        path = "/users/:id/admin",
        method = "post",
        operation_id = "setSystemAdmin"
    )]
    async fn admin(
        &self,
        caller: Data<&Caller>,
        request_id: Data<&RequestId>,
        id: Path<Uuid>,
        body: Json<AdminFlag>,
    ) -> Result<Json<UserDto>, ApiError> {
        self.services
            .authz
            .system(caller.user()?, "system.manage_users")?;
        let appended = self
            .services
            .identity
            .set_system_admin(&command_context(&caller, &request_id), id.0, body.admin)
            .await
            .map_err(identity_error)?;
        self.user_after(id.0, appended.position).await
    }

    /// Grant or revoke the auditor role
    ///
    /// Auditors may read the event history and nothing else.
    #[oai(
        path = "/users/:id/auditor",
        method = "post",
        operation_id = "setAuditor"
    )]
    async fn auditor(
        &self,
        caller: Data<&Caller>,
        request_id: Data<&RequestId>,
        id: Path<Uuid>,
        body: Json<AuditorFlag>,
    ) -> Result<Json<UserDto>, ApiError> {
        self.services
            .authz
            .system(caller.user()?, "system.manage_users")?;
        let appended = self
            .services
            .identity
            .set_auditor(&command_context(&caller, &request_id), id.0, body.auditor)
            .await
            .map_err(identity_error)?;
        self.user_after(id.0, appended.position).await
    }
}

#[derive(Debug, Object)]
#[oai(deny_unknown_fields, example)]
pub struct AuditorFlag {
    /// true grants the auditor role, false revokes it.
    pub auditor: bool,
}

impl poem_openapi::types::Example for AuditorFlag {
    fn example() -> Self {
        Self { auditor: true }
    }
}
