//! Submissions: a student's answer to an assignment, one per student and assignment.
//!
//! `aggregate.rs` holds the `Submission` state with its decisions (only for a published
//! assignment, resubmitted until the due time or the grade, late flagged rather than refused,
//! a grade within the assignment's maximum), `command.rs` what can be asked of a submission
//! (with the facts the application looks up first), `event.rs` what happened to it
//! (golden-JSON tests), `error.rs` why a command was rejected.

mod aggregate;
mod command;
mod error;
mod event;

pub use aggregate::{Grade, Submission, SubmissionStatus, MAX_CONTENT_CHARS, MAX_EVIDENCE};
pub use command::{AssignmentFacts, Evidence, SubmissionCommand};
pub use error::SubmissionError;
pub use event::SubmissionEvent;

/// A submission's identity. Also its stream id: derived from the assignment and the student
/// (`application::submissions::submission_id`), so a student has one stream per assignment.
pub type SubmissionId = uuid::Uuid;
