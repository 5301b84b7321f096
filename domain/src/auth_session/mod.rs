//! Sign-in sessions: started by a login, renewed while used, ended for a reason. Stream type
//! `auth_session`.
//!
//! Not to be confused with a learning session (the `learning` module). `aggregate.rs` holds
//! the `AuthSession` state with its decisions (the idle and absolute expiry, renewal at most
//! once per interval, an expiry that a concurrent renewal wins over), `command.rs` what can be
//! asked of a sign-in session, `event.rs` what happened to it and why it ended (with
//! golden-JSON tests), `error.rs` why a command was rejected and `policy.rs` how long sign-in
//! sessions live.

mod aggregate;
mod command;
mod error;
mod event;
mod policy;

pub use aggregate::AuthSession;
pub use command::AuthSessionCommand;
pub use error::AuthSessionError;
pub use event::{AuthSessionEvent, EndReason};
pub use policy::AuthSessionPolicy;

/// A sign-in session's identity (not its token). Also its stream id.
pub type AuthSessionId = uuid::Uuid;
