//! `POST /realtime/credentials`: a short-lived NATS credential for a live dashboard (ADR 0011).

use std::sync::Arc;

use application::identity::Principal;
use chrono::{DateTime, Utc};
use infrastructure::realtime::auth::{IssuedCredential, JWT_COOKIE};
use infrastructure::realtime::grants::{deciding_read_models, GrantRequest, Recheck};
use poem::web::cookie::{Cookie, SameSite};
use poem::web::Data;
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object, OpenApi};
use uuid::Uuid;

use projections::realtime::Topic;
use projections::WaitError;

use super::{authorize_topic, Facts};
use crate::caller::{Caller, Credential};
use crate::problem::{ApiError, ProblemKind};
use crate::routes::tags::ApiTags;
use crate::state::{RealtimeCredentials, Services};

/// At most this many classes per credential.
pub const MAX_CLASSES: usize = 20;

/// What to watch.
#[derive(Debug, Object)]
#[oai(deny_unknown_fields, rename = "RealtimeCredentialRequest", example)]
pub struct CredentialRequest {
    /// Classes whose dashboards to watch (each must be readable by the caller as
    /// `GET /classes/{id}/dashboard` is); at most 20. The caller's own notifications are
    /// always included (an empty list: only those).
    #[oai(validator(max_items = 20, unique_items))]
    pub class_ids: Vec<Uuid>,
}

impl poem_openapi::types::Example for CredentialRequest {
    fn example() -> Self {
        Self {
            class_ids: vec![Uuid::from_u128(0x0195_a3a0_0000_7000_8000_0000_0000_0c01)],
        }
    }
}

/// A credential for NATS's websocket listener.
#[derive(Debug, Object)]
#[oai(rename = "RealtimeCredential", example)]
pub struct CredentialDto {
    /// Where to connect (the NATS websocket listener).
    pub websocket_url: String,
    /// When the server disconnects this credential: ask for a new one before (the connection
    /// then reconnects with it).
    pub expires_at: DateTime<Utc>,
    /// The subjects it may subscribe to. It may publish nothing.
    pub subjects: Vec<String>,
    /// The NATS user JWT (a bearer credential), for clients that signed in with a bearer
    /// token. A browser (signed in with the `session` cookie) gets it only as the HttpOnly
    /// `rapt_nats` cookie, which it sends to the websocket listener by itself (`null` here).
    #[oai(nullable)]
    pub jwt: Option<String>,
}

impl poem_openapi::types::Example for CredentialDto {
    fn example() -> Self {
        let class = Uuid::from_u128(0x0195_a3a0_0000_7000_8000_0000_0000_0c01);
        let user = Uuid::from_u128(0x0195_a3a0_0000_7000_8000_0000_0000_0a01);
        Self {
            websocket_url: "wss://realtime.example.org".into(),
            expires_at: "2026-12-07T10:10:00Z".parse().expect("example time"),
            subjects: vec![
                format!("rapt.user.{user}.notifications"),
                format!("rapt.class.{class}.dashboard"),
                format!("rapt.class.{class}.interventions"),
            ],
            jwt: None,
        }
    }
}

/// How many times one request decides its credential when the log keeps overtaking the
/// decision; then it answers 503.
const DECISIONS: usize = 3;

/// The caller as the identity read model has them now (not as the session cache remembers
/// them): 401 when the session ended or the account is disabled; the system roles as they are.
async fn signed_in_now(services: &Services, principal: &Principal) -> Result<Principal, ApiError> {
    let now = projections::identity::signed_in_now(
        &services.pool,
        principal.user_id,
        principal.session_id,
    )
    .await?;
    if !now.session_live || now.disabled {
        return Err(ApiError::kind(ProblemKind::Unauthenticated));
    }
    Ok(Principal {
        system_admin: now.system_admin,
        auditor: now.auditor,
        ..principal.clone()
    })
}

/// 503 `read-model-lagging`: the caller's permissions changed while the credential was
/// decided, and the read models did not catch up in time (or they kept changing).
fn changing() -> ApiError {
    ApiError::new(
        ProblemKind::ReadModelLagging,
        "the caller's permissions changed while the credential was issued; ask again".to_owned(),
    )
}

/// An error of issuing or checking a credential: the database's as such, anything else 500.
fn grant_error(error: anyhow::Error) -> ApiError {
    match error.downcast::<sqlx::Error>() {
        Ok(database) => ApiError::from(database),
        Err(other) => ApiError::internal(&other),
    }
}

#[derive(ApiResponse)]
enum IssueResponse {
    /// Issued.
    #[oai(status = 201)]
    Created(
        Json<CredentialDto>,
        #[oai(header = "Set-Cookie")] Option<String>,
        #[oai(header = "Cache-Control")] String,
    ),
}

pub struct RealtimeCredentialsApi {
    pub services: Arc<Services>,
}

impl RealtimeCredentialsApi {
    /// Decides what `principal` may watch of `class_ids` on the read models as they are,
    /// stores the credential, then checks it against the log: a revoking event that the facts
    /// did not have yet (the read models lag, or it came while this request decided) revokes
    /// it here, and the request is decided again once the read models have that event
    /// (ADR 0011, "Issuing against revocation"). The credential and its subjects.
    async fn decide_and_issue(
        &self,
        realtime: &RealtimeCredentials,
        principal: &Principal,
        class_ids: &[Uuid],
        expires_at: DateTime<Utc>,
    ) -> Result<(IssuedCredential, Vec<String>), ApiError> {
        let grants = &realtime.grants;
        for _ in 0..DECISIONS {
            let decided_from = grants.decided_from().await.map_err(grant_error)?;
            let current = signed_in_now(&self.services, principal).await?;
            let subjects = self
                .granted_subjects(&current, class_ids, &realtime.subject_prefix)
                .await?;
            let request = GrantRequest {
                user_id: principal.user_id,
                auth_session_id: principal.session_id,
                class_ids: class_ids.to_vec(),
                subjects,
                expires_at,
            };
            let credential = grants.issue(&request).await.map_err(grant_error)?;
            let overtaken_at = match grants
                .recheck(decided_from, &request)
                .await
                .map_err(grant_error)?
            {
                Recheck::Stands => return Ok((credential, request.subjects)),
                Recheck::DecideAgainAfter(position) => position,
            };
            grants
                .revoke_issued(&credential.user_key)
                .await
                .map_err(grant_error)?;
            // Decide again once each read model has applied every event of its own up to the
            // one that overtook this decision.
            for read_model in deciding_read_models() {
                self.services
                    .checkpoints
                    .wait_for_handled(
                        read_model.name(),
                        read_model.aggregate_types(),
                        Some(overtaken_at),
                        self.services.read_your_writes_timeout,
                    )
                    .await
                    .map_err(|error| match error {
                        WaitError::Store(database) => ApiError::from(database),
                        WaitError::Timeout { .. } => changing(),
                    })?;
            }
        }
        Err(changing())
    }

    /// The subjects `principal` may subscribe to for `class_ids`, decided on the directory as
    /// it is now: their notifications, and per class its dashboard (refused as its REST read
    /// is) and its interventions and safety concerns where the policy allows them.
    async fn granted_subjects(
        &self,
        principal: &Principal,
        class_ids: &[Uuid],
        prefix: &str,
    ) -> Result<Vec<String>, ApiError> {
        let services = &self.services;
        let mut subjects = vec![Topic::UserNotifications(principal.user_id).subject(prefix)];
        for &class_id in class_ids {
            // The dashboard is what was asked for: refused as its REST read is.
            let dashboard = Topic::ClassDashboard(class_id);
            authorize_topic(services, principal, &dashboard, Facts::Current).await?;
            subjects.push(dashboard.subject(prefix));
            // The rest of the class's topics where the policy allows them.
            for topic in [
                Topic::ClassInterventions(class_id),
                Topic::ClassSafetyConcerns(class_id),
            ] {
                match authorize_topic(services, principal, &topic, Facts::Current).await {
                    Ok(()) => subjects.push(topic.subject(prefix)),
                    Err(refused) if matches!(refused.status(), 403 | 404) => {}
                    Err(other) => return Err(other),
                }
            }
        }
        Ok(subjects)
    }
}

#[OpenApi(tag = "ApiTags::Realtime")]
impl RealtimeCredentialsApi {
    /// A credential for live updates
    ///
    /// Signed-in users only. Grants subscribing to the caller's own notifications and, for
    /// each class asked for, to its dashboard (`class.read_dashboard`), and to its
    /// interventions and safety concerns where the policy lets the caller read those. A class
    /// the caller may not watch fails the whole request as `GET /classes/{id}/dashboard`
    /// would (404 or 403). The credential lives `REALTIME_CREDENTIAL_TTL_MS` (10 minutes by
    /// default), never beyond the session; logging out, ending the session, disabling the
    /// account or losing a role revokes it within seconds. 503 when the caller's permissions
    /// change while it is issued and the read models do not catch up in time.
    #[oai(
        path = "/realtime/credentials",
        method = "post",
        operation_id = "issueRealtimeCredential"
    )]
    async fn issue(
        &self,
        caller: Data<&Caller>,
        body: Json<CredentialRequest>,
    ) -> Result<IssueResponse, ApiError> {
        let principal = caller.user()?;
        let Some(realtime) = &self.services.realtime else {
            return Err(ApiError::kind(ProblemKind::RealtimeUnavailable));
        };
        let expires_at = (Utc::now() + realtime.ttl).min(principal.session_expires_at);
        let (credential, subjects) = self
            .decide_and_issue(realtime, principal, &body.class_ids, expires_at)
            .await?;
        self.services.metrics.realtime_credential_issued();
        let browser = matches!(
            *caller,
            Caller::User {
                credential: Credential::Cookie,
                ..
            }
        );
        let cookie = browser.then(|| {
            let mut cookie = Cookie::new_with_str(JWT_COOKIE, &credential.jwt);
            cookie.set_http_only(true);
            // Only pages of this site make the browser send it (the websocket listener is on
            // the same host, another port: the same site).
            cookie.set_same_site(SameSite::Strict);
            cookie.set_secure(self.services.auth.cookie_secure);
            cookie.set_path("/");
            if let Some(domain) = &self.services.auth.cookie_domain {
                cookie.set_domain(domain.clone());
            }
            cookie.set_max_age((expires_at - Utc::now()).to_std().unwrap_or_default());
            cookie.to_string()
        });
        Ok(IssueResponse::Created(
            Json(CredentialDto {
                websocket_url: realtime.websocket_url.clone(),
                expires_at,
                subjects,
                jwt: (!browser).then_some(credential.jwt),
            }),
            cookie,
            "no-store".into(),
        ))
    }
}
