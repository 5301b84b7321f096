//! `/service-accounts`: credentials for the AI tutoring service (system admins).

use std::sync::Arc;

use domain::service_account::ServiceAccountError;
use poem::web::Data;
use poem_openapi::param::Path;
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object, OpenApi};
use uuid::Uuid;

use super::directory::group_rejected;
use super::tags::ApiTags;
use super::text::Text;
use crate::caller::{command_context, Caller, RequestId};
use crate::problem::{command_error, ApiError, ProblemKind};
use crate::state::Services;

#[derive(Debug, Object)]
#[oai(deny_unknown_fields, example)]
pub struct CreateServiceAccount {
    pub name: Text,
    /// The groups whose learning sessions it may work in (with their subtrees).
    pub group_ids: Vec<Uuid>,
}

/// A service account with its secret: shown only here, once. Send it as
/// `Authorization: Bearer <secret>`.
#[derive(Debug, Object)]
#[oai(example)]
pub struct ServiceAccountSecret {
    pub id: Uuid,
    pub secret: String,
}

#[derive(ApiResponse)]
pub enum Created {
    #[oai(status = 201)]
    Created(Json<ServiceAccountSecret>),
}

#[derive(ApiResponse)]
pub enum Revoked {
    #[oai(status = 204)]
    NoContent,
}

fn rejected(error: ServiceAccountError) -> ApiError {
    match error {
        ServiceAccountError::NotFound => ApiError::not_found("resource"),
        ServiceAccountError::AlreadyExists => ApiError::kind(ProblemKind::Conflict),
        ServiceAccountError::Revoked => ApiError::new(
            ProblemKind::Conflict,
            "the service account is revoked".to_owned(),
        ),
        ServiceAccountError::Invalid => {
            ApiError::new(ProblemKind::InvalidRequest, error.to_string())
        }
        ServiceAccountError::UnreadableName(unreadable) => {
            crate::problem::service_account_name_error(unreadable)
        }
    }
}

pub struct ServiceAccountsApi {
    pub services: Arc<Services>,
}

impl ServiceAccountsApi {
    async fn caught_up(&self, position: Option<i64>) -> Result<(), ApiError> {
        self.services
            .caught_up(projections::identity::NAME, position)
            .await
    }
}

#[OpenApi(tag = "ApiTags::Users")]
impl ServiceAccountsApi {
    /// Create a service account
    ///
    /// The secret is in this response and nowhere else (only its SHA-256 is stored).
    #[oai(
        path = "/service-accounts",
        method = "post",
        operation_id = "createServiceAccount"
    )]
    async fn create(
        &self,
        caller: Data<&Caller>,
        request_id: Data<&RequestId>,
        body: Json<CreateServiceAccount>,
    ) -> Result<Created, ApiError> {
        self.services
            .authz
            .system(caller.user()?, "system.manage_service_accounts")?;
        for group in &body.group_ids {
            if !self
                .services
                .groups
                .parent_fact(*group)
                .await
                .map_err(|e| command_error(e, group_rejected))?
                .is_active()
            {
                return Err(ApiError::kind(ProblemKind::GroupNotFound));
            }
        }
        let (id, secret, appended) = self
            .services
            .service_accounts
            .create(
                &command_context(&caller, &request_id),
                body.name.0.clone(),
                body.group_ids.clone(),
            )
            .await
            .map_err(|e| command_error(e, rejected))?;
        self.caught_up(appended.position).await?;
        Ok(Created::Created(Json(ServiceAccountSecret { id, secret })))
    }

    /// Rotate a service account's secret
    ///
    /// The old secret stops working at once.
    #[oai(
        path = "/service-accounts/:id/rotate",
        method = "post",
        operation_id = "rotateServiceAccount"
    )]
    async fn rotate(
        &self,
        caller: Data<&Caller>,
        request_id: Data<&RequestId>,
        id: Path<Uuid>,
    ) -> Result<Json<ServiceAccountSecret>, ApiError> {
        self.services
            .authz
            .system(caller.user()?, "system.manage_service_accounts")?;
        let (secret, appended) = self
            .services
            .service_accounts
            .rotate(&command_context(&caller, &request_id), id.0)
            .await
            .map_err(|e| command_error(e, rejected))?;
        self.caught_up(appended.position).await?;
        Ok(Json(ServiceAccountSecret { id: id.0, secret }))
    }

    /// Revoke a service account
    ///
    /// Revokes the account's secret: requests made with it are anonymous from then on.
    #[oai(
        path = "/service-accounts/:id/revoke",
        method = "post",
        operation_id = "revokeServiceAccount"
    )]
    async fn revoke(
        &self,
        caller: Data<&Caller>,
        request_id: Data<&RequestId>,
        id: Path<Uuid>,
    ) -> Result<Revoked, ApiError> {
        self.services
            .authz
            .system(caller.user()?, "system.manage_service_accounts")?;
        let appended = self
            .services
            .service_accounts
            .revoke(&command_context(&caller, &request_id), id.0)
            .await
            .map_err(|e| command_error(e, rejected))?;
        self.caught_up(appended.position).await?;
        Ok(Revoked::NoContent)
    }
}
