//! Assessments: the tutoring service's scoring of a learning session, recorded together with
//! the trace of how the model arrived at it (model, prompt hash, input, raw response, parsed
//! result), so that teachers can review it and auditors can check it was not altered.
//!
//! `aggregate.rs` holds the `Assessment` state with its decisions (valid scores and
//! confidence, bounded texts, one review) and its limits, `command.rs` what can be asked of
//! an assessment, `event.rs` what happened to it, `error.rs` why a command was rejected and
//! `values.rs` the criterion scores and the trace with the exact bytes its content hash
//! covers.

mod aggregate;
mod command;
mod error;
mod event;
mod values;

pub use aggregate::{
    Assessment, MAX_CRITERIA, MAX_LABEL_CHARS, MAX_RESPONSE_CHARS, REVIEW_THRESHOLD,
};
pub use command::AssessmentCommand;
pub use error::AssessmentError;
pub use event::AssessmentEvent;
pub use values::{canonical_content, CriterionScore, Trace};

/// An assessment's identity. Also its stream id.
pub type AssessmentId = uuid::Uuid;
