//! Who is calling. The one place where a request's caller is resolved is the
//! [`crate::middleware::resolve_caller`] middleware: it reads the session token (cookie
//! `session` or `Authorization: Bearer`), puts a [`Caller`] into the request, and handlers
//! take it as `Data<&Caller>`.

use application::identity::Principal;
use application::service_accounts::ServicePrincipal;
use application::CommandContext;

use crate::problem::{ApiError, ProblemKind};

/// How the caller presented its token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Credential {
    Cookie,
    Bearer,
}

/// The principal behind a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Caller {
    /// No valid credentials were presented.
    Anonymous,
    /// A signed-in user.
    User {
        principal: Principal,
        credential: Credential,
    },
    /// A service account (bearer secret `svc_…`).
    Service(ServicePrincipal),
}

impl Caller {
    /// The actor recorded in event metadata.
    pub fn actor(&self) -> String {
        match self {
            Self::Anonymous => "anonymous".to_owned(),
            Self::User { principal, .. } => format!("user:{}", principal.user_id),
            Self::Service(service) => format!("service:{}", service.id),
        }
    }

    /// The signed-in user, or 401 (anonymous) / 403 (a service account: only the endpoints
    /// that take [`Caller::who`] accept those).
    pub fn user(&self) -> Result<&Principal, ApiError> {
        match self {
            Self::User { principal, .. } => Ok(principal),
            Self::Service(_) => Err(ApiError::kind(ProblemKind::Forbidden)),
            Self::Anonymous => Err(ApiError::kind(ProblemKind::Unauthenticated)),
        }
    }

    /// A user or a service account, or 401.
    pub fn who(&self) -> Result<crate::authz::Who<'_>, ApiError> {
        match self {
            Self::User { principal, .. } => Ok(crate::authz::Who::User(principal)),
            Self::Service(service) => Ok(crate::authz::Who::Service(service)),
            Self::Anonymous => Err(ApiError::kind(ProblemKind::Unauthenticated)),
        }
    }
}

/// The request id (`x-request-id`): the correlation id of every event the request causes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestId(pub String);

/// The client's IP address (the peer, or the last `X-Forwarded-For` entry when
/// `TRUST_FORWARDED_FOR=true`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientIp(pub Option<String>);

/// The metadata of the commands a request issues.
pub fn command_context(caller: &Caller, request_id: &RequestId) -> CommandContext {
    CommandContext {
        actor: caller.actor(),
        correlation_id: request_id.0.clone(),
        causation_id: None,
    }
}
