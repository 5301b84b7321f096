//! Learning sessions: a student working with a tool in a class, watched over by the AI
//! tutoring service (detections) and by teachers and counselors (pause, resume).
//!
//! Not to be confused with a sign-in session (the `auth_session` module). `aggregate.rs`
//! holds the `LearningSession` state with its decisions (messages and free texts within their
//! limits, no messages while paused, nothing after completion), `command.rs` what can be
//! asked of a learning session (also the detections the tutoring service reports), `event.rs`
//! what happened in it (with golden-JSON tests), `error.rs` why a command was rejected and
//! `values.rs` the message roles, severities and urgencies.

mod aggregate;
mod command;
mod error;
mod event;
mod values;

pub use aggregate::{LearningSession, Status, MAX_MESSAGE_CHARS, MAX_TEXT_CHARS};
pub use command::{Detection, LearningSessionCommand};
pub use error::LearningSessionError;
pub use event::LearningSessionEvent;
pub use values::{MessageRole, Severity, Urgency};

/// A learning session's identity. Also its stream id.
pub type LearningSessionId = uuid::Uuid;
