//! Who is calling. The one place where a request's caller is resolved: the
//! [`crate::middleware::resolve_caller`] middleware puts a [`Caller`] into the request, and
//! handlers take it as `Data<&Caller>`. Authentication (sessions, bearer tokens) plugs in there.

use application::CommandContext;

/// The principal behind a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Caller {
    /// No credentials were presented.
    Anonymous,
}

impl Caller {
    /// The actor recorded in event metadata.
    pub fn actor(&self) -> String {
        match self {
            Self::Anonymous => "anonymous".to_owned(),
        }
    }
}

/// The request id (`x-request-id`): the correlation id of every event the request causes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestId(pub String);

/// The metadata of the commands a request issues.
pub fn command_context(caller: &Caller, request_id: &RequestId) -> CommandContext {
    CommandContext {
        actor: caller.actor(),
        correlation_id: request_id.0.clone(),
        causation_id: None,
    }
}
