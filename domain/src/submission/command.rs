//! What can be asked of a submission, and the facts about its assignment and evidence the
//! application looks up first.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::assignment::AssignmentStatus;

/// What can be asked of a submission.
#[derive(Debug, Clone, PartialEq)]
pub enum SubmissionCommand {
    /// Starts the student's submission (not submitted yet).
    Create {
        assignment: AssignmentFacts,
        student_id: Uuid,
        content: String,
        evidence: Vec<Evidence>,
    },
    /// Submits it, replacing the content and evidence where given. `now` is the time the
    /// command is decided at: after the assignment's due time a first submission is late,
    /// a second one is refused.
    Submit {
        assignment: AssignmentFacts,
        content: Option<String>,
        evidence: Option<Vec<Evidence>>,
        now: DateTime<Utc>,
    },
    /// Grades it (again, to correct a grade).
    Grade {
        assignment: AssignmentFacts,
        by: Uuid,
        score: Option<u32>,
        feedback: String,
    },
}

/// The assignment as it stands when the command is decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AssignmentFacts {
    pub id: Uuid,
    pub class_id: Uuid,
    pub status: AssignmentStatus,
    pub archived: bool,
    pub due_at: Option<DateTime<Utc>>,
    pub max_score: Option<u32>,
}

/// A learning session offered as evidence, as looked up: the student's own in the
/// assignment's class, or not.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Evidence {
    Own(Uuid),
    NotOwn(Uuid),
}
