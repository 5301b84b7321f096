//! What the account routes share (`/auth`, `/auth/links`, `/users`, and the examples of the
//! event history): an account as clients see it, how the identity use cases' refusals read as
//! problems, and the `session` cookie a sign-in sets.

use application::identity::IdentityError;
use chrono::{DateTime, Utc};
use infrastructure::config::AuthConfig;
use poem::web::cookie::{Cookie, SameSite};
use poem_openapi::Object;
use projections::identity as read;
use uuid::Uuid;

use crate::middleware::session_cookie_name;
use crate::problem::{ApiError, ProblemKind};
use crate::state::Services;

/// An account as its owner and admins see it. Never the password hash.
#[derive(Debug, Object)]
#[oai(rename = "User", example)]
pub struct UserDto {
    pub id: Uuid,
    pub email: String,
    pub name: String,
    pub system_admin: bool,
    pub auditor: bool,
    pub disabled: bool,
    pub created_at: DateTime<Utc>,
}

impl From<read::UserRow> for UserDto {
    fn from(row: read::UserRow) -> Self {
        Self {
            id: row.id,
            email: row.email,
            name: row.name,
            system_admin: row.system_admin,
            auditor: row.auditor,
            disabled: row.disabled,
            created_at: row.created_at,
        }
    }
}

/// An identity use case's refusal as the problem the API answers.
pub(crate) fn identity_error(error: IdentityError) -> ApiError {
    match error {
        IdentityError::EmailTaken => ApiError::kind(ProblemKind::EmailTaken),
        IdentityError::InvalidCredentials => ApiError::kind(ProblemKind::InvalidCredentials),
        IdentityError::Disabled => ApiError::kind(ProblemKind::AccountDisabled),
        IdentityError::Throttled { retry_after } => ApiError::too_many_requests(retry_after),
        IdentityError::InvalidResetToken => ApiError::kind(ProblemKind::InvalidResetToken),
        IdentityError::ExpiredResetToken => ApiError::kind(ProblemKind::ResetTokenExpired),
        IdentityError::NotFound => ApiError::not_found("resource"),
        IdentityError::Conflict => ApiError::kind(ProblemKind::Conflict),
        IdentityError::Store(e) => e.into(),
        IdentityError::Hashing => ApiError::internal(&"password hashing failed"),
    }
}

/// The session cookie (`Set-Cookie` value) for a token, kept `max_age` (zero clears it):
/// `__Host-session`, or `session` when it cannot be a `__Host-` cookie
/// ([`session_cookie_name`]).
pub(crate) fn session_cookie(
    auth: &AuthConfig,
    token: &str,
    max_age: std::time::Duration,
) -> String {
    let mut cookie = Cookie::new_with_str(session_cookie_name(auth), token);
    cookie.set_http_only(true);
    cookie.set_same_site(SameSite::Lax);
    cookie.set_secure(auth.cookie_secure);
    cookie.set_path("/");
    if let Some(domain) = &auth.cookie_domain {
        cookie.set_domain(domain.clone());
    }
    cookie.set_max_age(max_age);
    cookie.to_string()
}

/// The `session` cookie of a new sign-in (password or provider): it lives as long as the
/// session's absolute lifetime; the idle expiry slides on the server, so a renewal needs no
/// new cookie.
pub(crate) fn sign_in_cookie(services: &Services, token: &str) -> String {
    let max_age = services
        .identity
        .settings()
        .sessions
        .absolute
        .to_std()
        .unwrap_or_default();
    session_cookie(&services.auth, token, max_age)
}

/// The examples' account: Ada's, whose story every module's examples tell (her sign-ins,
/// provider links and event history; her work as a student in `routes/examples.rs`).
pub(crate) mod examples {
    use chrono::{DateTime, Utc};
    use poem_openapi::types::Example;
    use uuid::Uuid;

    use super::UserDto;

    /// Ada's account.
    pub(crate) const USER: Uuid = Uuid::from_u128(0x0193_2c4e_8a10_7b3e_9f21_6d5a_4c3b_2a10);

    /// An example's time, written as RFC 3339.
    pub(crate) fn at(rfc3339: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(rfc3339)
            .expect("example time")
            .with_timezone(&Utc)
    }

    impl Example for UserDto {
        fn example() -> Self {
            Self {
                id: USER,
                email: "ada@example.org".into(),
                name: "Ada Lovelace".into(),
                system_admin: false,
                auditor: false,
                disabled: false,
                created_at: at("2026-09-01T08:00:00Z"),
            }
        }
    }
}
