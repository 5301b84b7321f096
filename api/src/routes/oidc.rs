//! Sign in with Google, Microsoft Entra ID and Clever; link and unlink providers.

use std::sync::Arc;

use application::external::{Completed, ExternalError, Purpose};
use application::identity::Device;
use chrono::{DateTime, Utc};
use poem::web::cookie::{Cookie, SameSite};
use poem::web::Data;
use poem::Request;
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object, OpenApi};

use super::closed::{OneOf, Provider};
use super::identity::examples::at;
use super::identity::sign_in_cookie;
use super::tags::ApiTags;
use crate::caller::{command_context, Caller, ClientIp, RequestId};
use crate::problem::{ApiError, ProblemKind};
use crate::state::Services;

/// The cookie that binds a sign-in flow to the browser that started it.
const FLOW_COOKIE: &str = "oidc_flow";

/// The providers to sign in with. (Not named `Providers`: generated clients would give its
/// `providers` member the class's own name.)
#[derive(Debug, Object)]
#[oai(rename = "ProviderList", example)]
pub struct Providers {
    /// Enabled providers: `google`, `microsoft`, `clever`.
    pub providers: Vec<OneOf<Provider>>,
}

#[derive(Debug, Object)]
#[oai(example)]
pub struct LinkStart {
    /// Send the browser here to link the provider to the signed-in account.
    pub authorization_url: String,
}

#[derive(Debug, Object)]
#[oai(example)]
pub struct LinkDto {
    pub provider: OneOf<Provider>,
    pub linked_at: DateTime<Utc>,
}

#[derive(Debug, Object)]
#[oai(example)]
pub struct Links {
    pub items: Vec<LinkDto>,
}

impl poem_openapi::types::Example for Providers {
    fn example() -> Self {
        Self {
            providers: vec!["google".into(), "clever".into()],
        }
    }
}

impl poem_openapi::types::Example for LinkStart {
    fn example() -> Self {
        Self {
            authorization_url: "https://accounts.google.com/o/oauth2/v2/auth?response_type=code\
                &client_id=raptscallions&state=…&nonce=…&code_challenge=…\
                &code_challenge_method=S256"
                .into(),
        }
    }
}

impl poem_openapi::types::Example for LinkDto {
    fn example() -> Self {
        Self {
            provider: "google".into(),
            linked_at: at("2026-09-02T07:45:00Z"),
        }
    }
}

impl poem_openapi::types::Example for Links {
    fn example() -> Self {
        Self {
            items: vec![LinkDto::example()],
        }
    }
}

#[derive(ApiResponse)]
pub enum Redirect {
    /// Continue in the browser at `Location`.
    #[oai(status = 302)]
    Found(
        #[oai(header = "Location")] String,
        #[oai(header = "Set-Cookie")] Option<String>,
    ),
}

#[derive(ApiResponse)]
pub enum LinkStarted {
    #[oai(status = 200)]
    Ok(Json<LinkStart>, #[oai(header = "Set-Cookie")] String),
}

#[derive(ApiResponse)]
pub enum Unlinked {
    #[oai(status = 204)]
    NoContent,
}

pub struct OidcApi {
    pub services: Arc<Services>,
}

fn cookie_value(req: &Request, name: &str) -> Option<String> {
    req.headers()
        .get_all(poem::http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(n, _)| *n == name)
        .map(|(_, v)| v.to_owned())
}

impl OidcApi {
    fn frontend(&self, path: &str) -> String {
        format!(
            "{}{path}",
            self.services.auth.frontend_url.trim_end_matches('/')
        )
    }

    fn flow_cookie(&self, value: &str) -> String {
        let mut cookie = Cookie::new_with_str(FLOW_COOKIE, value);
        cookie.set_http_only(true);
        cookie.set_same_site(SameSite::Lax);
        cookie.set_secure(self.services.auth.cookie_secure);
        cookie.set_path("/auth");
        cookie.set_max_age(std::time::Duration::from_secs(600));
        cookie.to_string()
    }

    fn failed(&self, provider: &str, error: &ExternalError) -> Redirect {
        tracing::warn!(provider, code = error.code(), %error, "external sign-in failed");
        Redirect::Found(
            self.frontend(&format!("/login?error={}", error.code())),
            None,
        )
    }
}

#[OpenApi(tag = "ApiTags::Auth")]
impl OidcApi {
    /// Sign-in providers
    ///
    /// The providers this server is configured to sign in with; an empty list when none is.
    #[oai(
        path = "/auth/providers",
        method = "get",
        operation_id = "listProviders"
    )]
    async fn providers(&self) -> Json<Providers> {
        Json(Providers {
            providers: self
                .services
                .external
                .provider_names()
                .into_iter()
                .map(OneOf::from)
                .collect(),
        })
    }

    /// Sign in with a provider
    ///
    /// Redirects to the provider with state, nonce and PKCE (S256); the flow lives 10
    /// minutes and is bound to this browser by the `oidc_flow` cookie.
    #[oai(
        path = "/auth/:provider",
        method = "get",
        operation_id = "startExternalSignIn"
    )]
    async fn start(&self, provider: Path<String>) -> Result<Redirect, ApiError> {
        match self
            .services
            .external
            .begin(&provider, Purpose::Login)
            .await
        {
            Ok(started) => Ok(Redirect::Found(
                started.redirect_url,
                Some(self.flow_cookie(&started.browser_binding)),
            )),
            Err(ExternalError::UnknownProvider) => Err(ApiError::not_found("provider")),
            Err(error) => Ok(self.failed(&provider, &error)),
        }
    }

    /// Provider callback
    ///
    /// Finishes the sign-in (or link) and redirects to the frontend: `/onboarding` for a new
    /// account, `/dashboard` otherwise, `/settings?linked=<provider>` after a link, and
    /// `/login?error=<code>` on any failure.
    #[oai(
        path = "/auth/:provider/callback",
        method = "get",
        operation_id = "externalCallback"
    )]
    #[allow(clippy::too_many_arguments)]
    async fn callback(
        &self,
        req: &Request,
        caller: Data<&Caller>,
        request_id: Data<&RequestId>,
        ip: Data<&ClientIp>,
        provider: Path<String>,
        code: Query<Option<String>>,
        state: Query<Option<String>>,
        error: Query<Option<String>>,
    ) -> Result<Redirect, ApiError> {
        let external = &self.services.external;
        if !external.provider_names().contains(&provider.as_str()) {
            return Err(ApiError::not_found("provider"));
        }
        let binding = cookie_value(req, FLOW_COOKIE);
        if let Some(error) = &error.0 {
            tracing::warn!(
                provider = provider.as_str(),
                error,
                "the provider refused the sign-in"
            );
            return Ok(Redirect::Found(
                self.frontend("/login?error=provider_error"),
                None,
            ));
        }
        // Clever's portal and Instant Login arrive without our state: start over with one.
        if provider.as_str() == "clever" && state.0.is_none() {
            tracing::info!("Clever sign-in without our state: restarting the flow");
            return Ok(Redirect::Found("/auth/clever".to_owned(), None));
        }
        let Some(code) = code.0.filter(|c| !c.is_empty()) else {
            return Ok(self.failed(
                &provider,
                &ExternalError::Provider(application::ports::OidcFailure::new(
                    "missing_code",
                    "no code",
                )),
            ));
        };
        let device = Device {
            ip: ip.0 .0.clone(),
            user_agent: req
                .headers()
                .get(poem::http::header::USER_AGENT)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned),
        };
        let completed = external
            .complete(
                &command_context(&caller, &request_id),
                &provider,
                &code,
                state.0.as_deref(),
                binding.as_deref(),
                device,
            )
            .await;
        match completed {
            Ok(Completed::SignedIn { session, new_user }) => {
                self.services
                    .caught_up(projections::identity::NAME, session.position)
                    .await?;
                let cookie = sign_in_cookie(&self.services, &session.token);
                let target = if new_user {
                    "/onboarding"
                } else {
                    "/dashboard"
                };
                Ok(Redirect::Found(self.frontend(target), Some(cookie)))
            }
            Ok(Completed::Linked { position, .. }) => {
                self.services
                    .caught_up(projections::identity::NAME, position)
                    .await?;
                Ok(Redirect::Found(
                    self.frontend(&format!("/settings?linked={}", provider.as_str())),
                    None,
                ))
            }
            Err(error) => Ok(self.failed(&provider, &error)),
        }
    }

    /// Link a provider to my account
    ///
    /// Returns where to send the browser; the callback links the provider's identity to the
    /// signed-in account.
    #[oai(
        path = "/auth/:provider/link",
        method = "post",
        operation_id = "startLink"
    )]
    async fn link(
        &self,
        caller: Data<&Caller>,
        provider: Path<String>,
    ) -> Result<LinkStarted, ApiError> {
        let principal = caller.user()?;
        match self
            .services
            .external
            .begin(&provider, Purpose::Link(principal.user_id))
            .await
        {
            Ok(started) => Ok(LinkStarted::Ok(
                Json(LinkStart {
                    authorization_url: started.redirect_url,
                }),
                self.flow_cookie(&started.browser_binding),
            )),
            Err(ExternalError::UnknownProvider) => Err(ApiError::not_found("provider")),
            Err(error) => {
                tracing::warn!(%error, "cannot start linking");
                Err(ApiError::kind(ProblemKind::ServiceUnavailable))
            }
        }
    }

    /// My linked providers
    ///
    /// The providers linked to the signed-in account, and when each was linked.
    #[oai(path = "/auth/links", method = "get", operation_id = "listLinks")]
    async fn links(&self, caller: Data<&Caller>) -> Result<Json<Links>, ApiError> {
        let principal = caller.user()?;
        let links = self.services.external.links(principal.user_id).await?;
        Ok(Json(Links {
            items: links
                .into_iter()
                .map(|l| LinkDto {
                    provider: l.provider.into(),
                    linked_at: l.linked_at,
                })
                .collect(),
        }))
    }

    /// Unlink a provider
    ///
    /// Refused (409 last-sign-in-method) when the account has no password and no other
    /// provider.
    #[oai(
        path = "/auth/links/:provider",
        method = "delete",
        operation_id = "unlinkProvider"
    )]
    async fn unlink(
        &self,
        caller: Data<&Caller>,
        request_id: Data<&RequestId>,
        provider: Path<String>,
    ) -> Result<Unlinked, ApiError> {
        let principal = caller.user()?;
        self.services
            .external
            .unlink(
                &command_context(&caller, &request_id),
                principal.user_id,
                &provider,
            )
            .await
            .map_err(|e| match e {
                application::CommandError::Rejected(domain::user::UserError::NotLinked) => {
                    ApiError::not_found("link")
                }
                application::CommandError::Rejected(domain::user::UserError::LastSignInMethod) => {
                    ApiError::kind(ProblemKind::LastSignInMethod)
                }
                other => {
                    crate::problem::command_error(other, |_| ApiError::kind(ProblemKind::Conflict))
                }
            })?;
        Ok(Unlinked::NoContent)
    }
}
