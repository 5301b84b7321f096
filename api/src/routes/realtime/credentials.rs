//! `POST /realtime/credentials`: a short-lived NATS credential for a live dashboard (ADR 0011).

use std::sync::Arc;

use chrono::{DateTime, Utc};
use infrastructure::realtime::auth::JWT_COOKIE;
use infrastructure::realtime::grants::GrantRequest;
use poem::web::cookie::{Cookie, SameSite};
use poem::web::Data;
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object, OpenApi};
use uuid::Uuid;

use projections::realtime::Topic;

use super::authorize_topic;
use crate::caller::{Caller, Credential};
use crate::problem::{ApiError, ProblemKind};
use crate::routes::tags::ApiTags;
use crate::state::Services;

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
    /// account or losing a role revokes it within seconds.
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
        let prefix = &realtime.subject_prefix;
        let mut subjects = vec![Topic::UserNotifications(principal.user_id).subject(prefix)];
        for &class_id in &body.class_ids {
            // The dashboard is what was asked for: refused as its REST read is.
            let dashboard = Topic::ClassDashboard(class_id);
            authorize_topic(&self.services, principal, &dashboard).await?;
            subjects.push(dashboard.subject(prefix));
            // The rest of the class's topics where the policy allows them.
            for topic in [
                Topic::ClassInterventions(class_id),
                Topic::ClassSafetyConcerns(class_id),
            ] {
                match authorize_topic(&self.services, principal, &topic).await {
                    Ok(()) => subjects.push(topic.subject(prefix)),
                    Err(refused) if matches!(refused.status(), 403 | 404) => {}
                    Err(other) => return Err(other),
                }
            }
        }
        let expires_at = (Utc::now() + realtime.ttl).min(principal.session_expires_at);
        let credential = realtime
            .grants
            .issue(&GrantRequest {
                user_id: principal.user_id,
                auth_session_id: principal.session_id,
                class_ids: body.class_ids.clone(),
                subjects: subjects.clone(),
                expires_at,
            })
            .await
            .map_err(|error| match error.downcast::<sqlx::Error>() {
                Ok(database) => ApiError::from(database),
                Err(other) => ApiError::internal(&other),
            })?;
        self.services.metrics.realtime_credentials_issued.inc();
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
