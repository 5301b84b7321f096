//! Sign-in sessions: started by a login, renewed while used, ended for a reason. Stream type
//! `auth_session`.
//!
//! Not to be confused with a learning session (`crate::learning`). `aggregate.rs` holds the
//! `Session` state with its decisions (the idle and absolute expiry, renewal at most once per
//! interval, an expiry that a concurrent renewal wins over), `command.rs` what can be asked of
//! a session, `event.rs` what happened to it and why it ended (with golden-JSON tests),
//! `error.rs` why a command was rejected and `policy.rs` how long sessions live.

mod aggregate;
mod command;
mod error;
mod event;
mod policy;

pub use aggregate::Session;
pub use command::SessionCommand;
pub use error::SessionError;
pub use event::{EndReason, SessionEvent};
pub use policy::SessionPolicy;

/// A session's identity (not its token). Also its stream id.
pub type SessionId = uuid::Uuid;
