//! `/auth`: registration, login, sessions, password change and reset.

use std::sync::Arc;

use application::identity::{Account, Device, IdentityError, StartedSession};
use chrono::{DateTime, Utc};
use domain::auth_session::EndReason;
use domain::user::{DisplayName, Email, Password};
use poem::web::Data;
use poem::Request;
use poem_openapi::param::Path;
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object, OpenApi};
use projections::identity as read;
use uuid::Uuid;

use super::identity::{identity_error, session_cookie, sign_in_cookie, UserDto};
use super::tags::ApiTags;
use super::text::Text;
use crate::caller::{command_context, Caller, ClientIp, RequestId};
use crate::problem::{ApiError, ProblemKind};
use crate::state::Services;

/// The current session.
#[derive(Debug, Object)]
#[oai(example)]
pub struct CurrentSession {
    pub id: Uuid,
    pub expires_at: DateTime<Utc>,
}

/// A new session: the token is shown once (it is also set as the `session` cookie).
#[derive(Debug, Object)]
#[oai(example)]
pub struct SignedIn {
    pub user: UserDto,
    /// Bearer token for API clients: `Authorization: Bearer <token>`.
    pub token: String,
    pub session: CurrentSession,
}

#[derive(Debug, Object)]
#[oai(example)]
pub struct Me {
    pub user: UserDto,
    pub session: CurrentSession,
}

/// A signed-in device.
#[derive(Debug, Object)]
#[oai(rename = "SessionDto", example)]
pub struct AuthSessionDto {
    pub id: Uuid,
    pub created_at: DateTime<Utc>,
    pub last_seen_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    #[oai(nullable)]
    pub ip: Option<String>,
    #[oai(nullable)]
    pub user_agent: Option<String>,
    /// The session of this request.
    pub current: bool,
}

#[derive(Debug, Object)]
#[oai(rename = "SessionList", example)]
pub struct AuthSessionList {
    pub items: Vec<AuthSessionDto>,
}

/// The examples of the OpenAPI document: Ada's account
/// ([`identity::examples`](super::identity::examples)) signed in on two devices.
mod examples {
    use poem_openapi::types::Example;
    use uuid::Uuid;

    use super::{AuthSessionDto, AuthSessionList, CurrentSession, Me, SignedIn, UserDto};
    use crate::routes::identity::examples::at;

    const SESSION: Uuid = Uuid::from_u128(0x0193_5f0a_1c22_7d4e_8b33_2e6f_5a4b_3c21);
    const OTHER_SESSION: Uuid = Uuid::from_u128(0x0193_4e1b_2d33_7c5f_9a44_3f70_6b5c_4d32);

    impl Example for CurrentSession {
        fn example() -> Self {
            Self {
                id: SESSION,
                expires_at: at("2026-12-03T09:30:00Z"),
            }
        }
    }

    impl Example for SignedIn {
        fn example() -> Self {
            Self {
                user: UserDto::example(),
                token: "kXo3q9ZyV1m7bC2nR5tW8aE4dF6gH0jL3pS9uY2iQ7w".into(),
                session: CurrentSession::example(),
            }
        }
    }

    impl Example for Me {
        fn example() -> Self {
            Self {
                user: UserDto::example(),
                session: CurrentSession::example(),
            }
        }
    }

    impl Example for AuthSessionDto {
        fn example() -> Self {
            Self {
                id: SESSION,
                created_at: at("2026-11-26T09:30:00Z"),
                last_seen_at: at("2026-11-26T10:05:00Z"),
                expires_at: at("2026-12-03T09:30:00Z"),
                ip: Some("203.0.113.7".into()),
                user_agent: Some(
                    "Mozilla/5.0 (X11; CrOS x86_64 14541.0.0) AppleWebKit/537.36 \
                     (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"
                        .into(),
                ),
                current: true,
            }
        }
    }

    impl Example for AuthSessionList {
        fn example() -> Self {
            let other = AuthSessionDto {
                id: OTHER_SESSION,
                created_at: at("2026-11-20T14:12:00Z"),
                last_seen_at: at("2026-11-24T18:40:00Z"),
                expires_at: at("2026-11-27T14:12:00Z"),
                ip: Some("198.51.100.23".into()),
                user_agent: Some("raptscallions-ios/2.3 (iPad; iPadOS 18.1)".into()),
                current: false,
            };
            Self {
                items: vec![AuthSessionDto::example(), other],
            }
        }
    }
}

#[derive(Debug, Object)]
#[oai(deny_unknown_fields, example)]
pub struct Register {
    pub email: Text,
    pub name: Text,
    /// 8 to 1024 characters. Passwords are compared in Unicode normalization form NFKC, so
    /// the same password typed on another keyboard or system matches.
    pub password: Text,
}

impl poem_openapi::types::Example for Register {
    fn example() -> Self {
        Self {
            email: Text("ada@example.org".into()),
            name: Text("Ada Lovelace".into()),
            password: Text("correct horse battery staple".into()),
        }
    }
}

#[derive(Debug, Object)]
#[oai(deny_unknown_fields, example)]
pub struct Login {
    pub email: Text,
    pub password: Text,
}

impl poem_openapi::types::Example for Login {
    fn example() -> Self {
        Self {
            email: Text("ada@example.org".into()),
            password: Text("correct horse battery staple".into()),
        }
    }
}

#[derive(Debug, Object)]
#[oai(deny_unknown_fields, example)]
pub struct ChangePassword {
    pub current_password: Text,
    pub new_password: Text,
}

/// A new display name for the caller's account.
#[derive(Debug, Object)]
#[oai(deny_unknown_fields, example)]
pub struct ChangeName {
    /// 1–100 characters after trimming, no control characters.
    pub name: Text,
}

#[derive(Debug, Object)]
#[oai(deny_unknown_fields, example)]
pub struct ResetRequest {
    pub email: Text,
}

#[derive(Debug, Object)]
#[oai(deny_unknown_fields, example)]
pub struct ResetConfirm {
    /// The token from the email.
    pub token: Text,
    pub new_password: Text,
}

impl poem_openapi::types::Example for ChangePassword {
    fn example() -> Self {
        Self {
            current_password: Text("correct horse battery staple".into()),
            new_password: Text("a longer and newer passphrase".into()),
        }
    }
}

impl poem_openapi::types::Example for ChangeName {
    fn example() -> Self {
        Self {
            name: Text("Ada King".into()),
        }
    }
}

impl poem_openapi::types::Example for ResetRequest {
    fn example() -> Self {
        Self {
            email: Text("ada@example.org".into()),
        }
    }
}

impl poem_openapi::types::Example for ResetConfirm {
    fn example() -> Self {
        Self {
            token: Text("q2Zb0x3C5pQ9m1yVv7aN4dL8eR6tU2wI0oK3jH5gF7s".into()),
            new_password: Text("a longer and newer passphrase".into()),
        }
    }
}

#[derive(ApiResponse)]
pub enum RegisterResponse {
    /// Account created and signed in.
    #[oai(status = 201)]
    Created(Json<SignedIn>, #[oai(header = "Set-Cookie")] String),
}

#[derive(ApiResponse)]
pub enum LoginResponse {
    /// Signed in.
    #[oai(status = 200)]
    Ok(Json<SignedIn>, #[oai(header = "Set-Cookie")] String),
}

#[derive(ApiResponse)]
pub enum LoggedOut {
    /// Signed out; the cookie is cleared.
    #[oai(status = 204)]
    NoContent(#[oai(header = "Set-Cookie")] String),
}

#[derive(ApiResponse)]
pub enum Done {
    #[oai(status = 204)]
    NoContent,
}

#[derive(ApiResponse)]
pub enum Accepted {
    /// Always, whether or not the email belongs to an account.
    #[oai(status = 202)]
    Accepted,
}

pub struct AuthApi {
    pub services: Arc<Services>,
}

fn parse<T, E: std::fmt::Display>(field: &str, result: Result<T, E>) -> Result<T, ApiError> {
    result.map_err(|e| ApiError::new(ProblemKind::InvalidRequest, format!("{field}: {e}")))
}

impl AuthApi {
    fn clear_cookie(&self) -> String {
        session_cookie(&self.services.auth, "", std::time::Duration::ZERO)
    }

    /// Waits until the identity read model has the write at `position`.
    pub(crate) async fn caught_up(&self, position: Option<i64>) -> Result<(), ApiError> {
        self.services.caught_up(read::NAME, position).await
    }

    /// The response of a login or registration: built from the write side (the session
    /// just appended and the account as its events say), so it waits for no read model. A
    /// token the `identity` read model does not know yet is resolved from the log
    /// (`Identity::authenticate`), so the very next request is authenticated anyway, on any
    /// instance. The cookie is a sign-in's ([`sign_in_cookie`]).
    async fn signed_in(
        &self,
        (started, account): (StartedSession, Account),
    ) -> Result<(SignedIn, String), ApiError> {
        let user = UserDto {
            id: account.id,
            email: account.email,
            name: account.name,
            system_admin: account.system_admin,
            auditor: account.auditor,
            // A disabled account cannot sign in.
            disabled: false,
            created_at: account.created_at,
        };
        let cookie = sign_in_cookie(&self.services, &started.token);
        Ok((
            SignedIn {
                user,
                token: started.token,
                session: CurrentSession {
                    id: started.session_id,
                    expires_at: started.expires_at,
                },
            },
            cookie,
        ))
    }
}

fn device(req: &Request, ip: &ClientIp) -> Device {
    Device {
        ip: ip.0.clone(),
        user_agent: req
            .headers()
            .get(poem::http::header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned),
    }
}

#[OpenApi(tag = "ApiTags::Auth")]
impl AuthApi {
    /// Register
    ///
    /// Creates an account and signs it in: sets the `session` cookie and returns the token.
    #[oai(path = "/auth/register", method = "post", operation_id = "register")]
    async fn register(
        &self,
        req: &Request,
        caller: Data<&Caller>,
        request_id: Data<&RequestId>,
        ip: Data<&ClientIp>,
        body: Json<Register>,
    ) -> Result<RegisterResponse, ApiError> {
        self.services.limits.register.check(&ip)?;
        let email =
            Email::parse(&body.email.0).map_err(|e| crate::problem::email_error("email", e))?;
        let name = DisplayName::parse(&body.name.0).map_err(crate::problem::display_name_error)?;
        let password = parse("password", Password::parse(&body.password.0))?;
        let started = self
            .services
            .identity
            .register(
                &command_context(&caller, &request_id),
                email,
                name,
                password,
                device(req, &ip),
            )
            .await
            .map_err(identity_error)?;
        let (body, cookie) = self.signed_in(started).await?;
        Ok(RegisterResponse::Created(Json(body), cookie))
    }

    /// Log in
    ///
    /// Unknown email and wrong password give the same 401. After 5 consecutive failures the
    /// email is throttled, whether or not it has an account (429 with `Retry-After`,
    /// doubling up to 15 minutes).
    #[oai(path = "/auth/login", method = "post", operation_id = "login")]
    async fn login(
        &self,
        req: &Request,
        caller: Data<&Caller>,
        request_id: Data<&RequestId>,
        ip: Data<&ClientIp>,
        body: Json<Login>,
    ) -> Result<LoginResponse, ApiError> {
        self.services.limits.login.check(&ip)?;
        let invalid = || ApiError::kind(ProblemKind::InvalidCredentials);
        // Malformed credentials are simply wrong credentials (no hint either way).
        let email = Email::parse(&body.email.0).map_err(|_| invalid())?;
        let password = Password::parse(&body.password.0).map_err(|_| invalid())?;
        let started = self
            .services
            .identity
            .login(
                &command_context(&caller, &request_id),
                &email,
                &password,
                device(req, &ip),
            )
            .await
            .map_err(identity_error)?;
        let (body, cookie) = self.signed_in(started).await?;
        Ok(LoginResponse::Ok(Json(body), cookie))
    }

    /// Log out
    ///
    /// Ends the current session; the token stops working at once.
    #[oai(path = "/auth/logout", method = "post", operation_id = "logout")]
    async fn logout(
        &self,
        caller: Data<&Caller>,
        request_id: Data<&RequestId>,
    ) -> Result<LoggedOut, ApiError> {
        let principal = caller.user()?;
        let appended = self
            .services
            .identity
            .end_session(
                &command_context(&caller, &request_id),
                principal.session_id,
                EndReason::Logout,
            )
            .await
            .map_err(identity_error)?;
        self.caught_up(appended.position).await?;
        Ok(LoggedOut::NoContent(self.clear_cookie()))
    }

    /// Log out everywhere
    ///
    /// Ends every session of the caller, this one included.
    #[oai(path = "/auth/logout-all", method = "post", operation_id = "logoutAll")]
    async fn logout_all(
        &self,
        caller: Data<&Caller>,
        request_id: Data<&RequestId>,
    ) -> Result<LoggedOut, ApiError> {
        let principal = caller.user()?;
        let position = self
            .services
            .identity
            .end_all_sessions(
                &command_context(&caller, &request_id),
                principal.user_id,
                None,
                EndReason::LogoutAll,
            )
            .await
            .map_err(identity_error)?;
        self.caught_up(position).await?;
        Ok(LoggedOut::NoContent(self.clear_cookie()))
    }

    /// Who am I
    ///
    /// The signed-in account and the session the request was made with (its id and expiry),
    /// from the lookup that authenticated the request.
    #[oai(path = "/auth/me", method = "get", operation_id = "me")]
    async fn me(&self, caller: Data<&Caller>) -> Result<Json<Me>, ApiError> {
        // Everything comes from the session lookup that authenticated the request: no
        // second query. A disabled account never gets this far.
        let principal = caller.user()?;
        Ok(Json(Me {
            user: UserDto {
                id: principal.user_id,
                email: principal.email.clone(),
                name: principal.name.clone(),
                system_admin: principal.system_admin,
                auditor: principal.auditor,
                disabled: false,
                created_at: principal.created_at,
            },
            session: CurrentSession {
                id: principal.session_id,
                expires_at: principal.session_expires_at,
            },
        }))
    }

    /// Change my name
    ///
    /// The caller's display name, as others see it from now on (class rosters, dashboards).
    /// Answers the caller as `GET /auth/me` then does.
    #[oai(path = "/auth/me", method = "patch", operation_id = "changeMyName")]
    async fn change_name(
        &self,
        caller: Data<&Caller>,
        request_id: Data<&RequestId>,
        body: Json<ChangeName>,
    ) -> Result<Json<Me>, ApiError> {
        let principal = caller.user()?;
        let name = DisplayName::parse(&body.name.0).map_err(crate::problem::display_name_error)?;
        let position = self
            .services
            .identity
            .change_name(
                &command_context(&caller, &request_id),
                principal.user_id,
                name.clone(),
            )
            .await
            .map_err(identity_error)?;
        self.caught_up(position).await?;
        let mut me = self.me(caller).await?;
        me.0.user.name = name.as_str().to_owned();
        Ok(me)
    }

    /// My sessions
    ///
    /// The caller's signed-in devices, newest first; `current` marks this one.
    #[oai(path = "/auth/sessions", method = "get", operation_id = "listSessions")]
    async fn sessions(&self, caller: Data<&Caller>) -> Result<Json<AuthSessionList>, ApiError> {
        let principal = caller.user()?;
        let now = self.services.identity.clock().now();
        // Logins answer before the projection has their session (ADR 0007): the list waits
        // until it has everything committed so far, this session and the other devices'.
        self.services
            .caught_up_with_log(&projections::identity::IdentityProjection)
            .await?;
        let rows = read::sessions_of(&self.services.pool, principal.user_id, now).await?;
        Ok(Json(AuthSessionList {
            items: rows
                .into_iter()
                .map(|s| AuthSessionDto {
                    current: s.id == principal.session_id,
                    id: s.id,
                    created_at: s.created_at,
                    last_seen_at: s.last_seen_at,
                    expires_at: s.expires_at.min(s.absolute_expires_at),
                    ip: s.ip,
                    user_agent: s.user_agent,
                })
                .collect(),
        }))
    }

    /// End one of my sessions
    ///
    /// Only the caller's own sessions; any other id is 404.
    #[oai(
        path = "/auth/sessions/:id",
        method = "delete",
        operation_id = "revokeSession"
    )]
    async fn revoke(
        &self,
        caller: Data<&Caller>,
        request_id: Data<&RequestId>,
        id: Path<Uuid>,
    ) -> Result<Done, ApiError> {
        let principal = caller.user()?;
        let appended = self
            .services
            .identity
            .revoke_own_session(
                &command_context(&caller, &request_id),
                principal.user_id,
                id.0,
            )
            .await
            .map_err(identity_error)?;
        self.caught_up(appended.position).await?;
        Ok(Done::NoContent)
    }

    /// Change my password
    ///
    /// Needs the current password; ends every other session of the account. A wrong current
    /// password counts as a failed login (`user.login_failed`): after 5 in a row the account
    /// is throttled (429 with `Retry-After`, for logins too), and every request counts in
    /// the per-IP login limit.
    #[oai(
        path = "/auth/password",
        method = "put",
        operation_id = "changePassword"
    )]
    async fn change_password(
        &self,
        caller: Data<&Caller>,
        request_id: Data<&RequestId>,
        ip: Data<&ClientIp>,
        body: Json<ChangePassword>,
    ) -> Result<Done, ApiError> {
        let principal = caller.user()?;
        // A password guess like a login: the same per-IP count (and, in `change_password`,
        // the same account throttle and `user.login_failed`).
        self.services.limits.login.check(&ip)?;
        let new = parse("new_password", Password::parse(&body.new_password.0))?;
        let current = Password::parse(&body.current_password.0)
            .map_err(|_| ApiError::kind(ProblemKind::WrongPassword))?;
        let position = self
            .services
            .identity
            .change_password(
                &command_context(&caller, &request_id),
                principal,
                &current,
                &new,
            )
            .await
            .map_err(|e| match e {
                IdentityError::InvalidCredentials => ApiError::kind(ProblemKind::WrongPassword),
                other => identity_error(other),
            })?;
        self.caught_up(position).await?;
        Ok(Done::NoContent)
    }

    /// Ask for a password reset
    ///
    /// Always 202: the answer (and its timing) does not tell whether the email has an
    /// account. If it has, an email with a single-use token (valid `RESET_TOKEN_TTL_MINUTES`, default 60) is sent.
    #[oai(
        path = "/auth/password-reset",
        method = "post",
        operation_id = "requestPasswordReset"
    )]
    async fn request_reset(
        &self,
        caller: Data<&Caller>,
        request_id: Data<&RequestId>,
        ip: Data<&ClientIp>,
        body: Json<ResetRequest>,
    ) -> Result<Accepted, ApiError> {
        self.services.limits.reset.check(&ip)?;
        if let Ok(email) = Email::parse(&body.email.0) {
            self.services
                .identity
                .request_password_reset(command_context(&caller, &request_id), email);
        }
        Ok(Accepted::Accepted)
    }

    /// Reset the password
    ///
    /// With the emailed token. Ends every session of the account.
    #[oai(
        path = "/auth/password-reset/confirm",
        method = "post",
        operation_id = "confirmPasswordReset"
    )]
    async fn confirm_reset(
        &self,
        caller: Data<&Caller>,
        request_id: Data<&RequestId>,
        ip: Data<&ClientIp>,
        body: Json<ResetConfirm>,
    ) -> Result<Done, ApiError> {
        self.services.limits.reset.check(&ip)?;
        let new = parse("new_password", Password::parse(&body.new_password.0))?;
        let position = self
            .services
            .identity
            .confirm_password_reset(&command_context(&caller, &request_id), &body.token.0, &new)
            .await
            .map_err(identity_error)?;
        self.caught_up(position).await?;
        Ok(Done::NoContent)
    }
}
