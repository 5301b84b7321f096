//! The `Submission` aggregate: the state a submission's commands are decided on and their
//! given/when/then tests.
//!
//! A student starts one for a published assignment and submits it; until the due time (or,
//! without one, until the assignment closes) and until it is graded they may submit again.
//! A first submission after the due time is accepted and flagged late; once the assignment
//! is closed nothing more is accepted. Teachers grade submitted work, and may grade again to
//! correct a grade; a grade stays within the assignment's maximum score.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{AssignmentFacts, Evidence, SubmissionCommand, SubmissionError, SubmissionEvent};
use crate::assignment::AssignmentStatus;
use crate::Aggregate;

/// Content: at most 50,000 characters.
pub const MAX_CONTENT_CHARS: usize = 50_000;
/// At most this many learning sessions as evidence.
pub const MAX_EVIDENCE: usize = 20;

/// Where a submission is.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SubmissionStatus {
    #[default]
    Draft,
    Submitted,
    Graded,
}

impl SubmissionStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Draft => "draft",
            Self::Submitted => "submitted",
            Self::Graded => "graded",
        }
    }
}

/// A grade as given.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Grade {
    pub by: Uuid,
    pub score: Option<u32>,
    pub max_score: Option<u32>,
    pub feedback: String,
}

/// The write-side state of one submission.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Submission {
    pub created: bool,
    pub assignment_id: Option<Uuid>,
    pub class_id: Option<Uuid>,
    pub student_id: Option<Uuid>,
    pub content: String,
    pub evidence: Vec<Uuid>,
    pub status: SubmissionStatus,
    pub attempts: u32,
    pub late: bool,
    pub grade: Option<Grade>,
}

fn open(assignment: &AssignmentFacts) -> Result<(), SubmissionError> {
    if assignment.archived {
        return Err(SubmissionError::AssignmentNotOpen("archived"));
    }
    match assignment.status {
        AssignmentStatus::Published => Ok(()),
        other => Err(SubmissionError::AssignmentNotOpen(other.as_str())),
    }
}

fn check_content(content: &str) -> Result<(), SubmissionError> {
    if content.chars().count() > MAX_CONTENT_CHARS {
        return Err(SubmissionError::ContentTooLong);
    }
    Ok(())
}

fn evidence_ids(evidence: Vec<Evidence>) -> Result<Vec<Uuid>, SubmissionError> {
    if evidence.len() > MAX_EVIDENCE {
        return Err(SubmissionError::TooMuchEvidence);
    }
    let mut ids: Vec<Uuid> = Vec::with_capacity(evidence.len());
    for item in evidence {
        match item {
            Evidence::Own(id) if !ids.contains(&id) => ids.push(id),
            Evidence::Own(_) => {}
            Evidence::NotOwn(id) => return Err(SubmissionError::NotOwnEvidence(id)),
        }
    }
    Ok(ids)
}

impl Submission {
    fn submit(
        &self,
        assignment: AssignmentFacts,
        content: Option<String>,
        evidence: Option<Vec<Evidence>>,
        now: DateTime<Utc>,
    ) -> Result<Vec<SubmissionEvent>, SubmissionError> {
        if !self.created {
            return Err(SubmissionError::NotFound);
        }
        if self.status == SubmissionStatus::Graded {
            return Err(SubmissionError::Graded);
        }
        open(&assignment)?;
        let late = assignment.due_at.is_some_and(|due| now > due);
        if late && self.status == SubmissionStatus::Submitted {
            return Err(SubmissionError::PastDue);
        }
        let content = content.unwrap_or_else(|| self.content.clone());
        check_content(&content)?;
        let evidence = match evidence {
            Some(evidence) => evidence_ids(evidence)?,
            None => self.evidence.clone(),
        };
        if content.trim().is_empty() && evidence.is_empty() {
            return Err(SubmissionError::Empty);
        }
        Ok(vec![SubmissionEvent::Submitted {
            assignment_id: assignment.id,
            class_id: assignment.class_id,
            student_id: self.student_id.ok_or(SubmissionError::NotFound)?,
            content,
            evidence,
            late,
            attempt: self.attempts + 1,
        }])
    }

    fn grade(
        &self,
        assignment: AssignmentFacts,
        by: Uuid,
        score: Option<u32>,
        feedback: String,
    ) -> Result<Vec<SubmissionEvent>, SubmissionError> {
        if !self.created {
            return Err(SubmissionError::NotFound);
        }
        if self.status == SubmissionStatus::Draft {
            return Err(SubmissionError::NotSubmitted);
        }
        match (assignment.max_score, score) {
            (None, Some(_)) => return Err(SubmissionError::NotScored),
            (Some(_), None) => return Err(SubmissionError::ScoreRequired),
            (Some(max), Some(score)) if score > max => {
                return Err(SubmissionError::ScoreAboveMaximum(max))
            }
            _ => {}
        }
        let grade = Grade {
            by,
            score,
            max_score: assignment.max_score,
            feedback,
        };
        if self.grade.as_ref() == Some(&grade) {
            return Ok(vec![]);
        }
        Ok(vec![SubmissionEvent::Graded {
            by: grade.by,
            score: grade.score,
            max_score: grade.max_score,
            feedback: grade.feedback,
        }])
    }
}

impl Aggregate for Submission {
    const TYPE: &'static str = "submission";
    type Command = SubmissionCommand;
    type Event = SubmissionEvent;
    type Error = SubmissionError;

    fn handle(&self, command: SubmissionCommand) -> Result<Vec<SubmissionEvent>, SubmissionError> {
        match command {
            SubmissionCommand::Create {
                assignment,
                student_id,
                content,
                evidence,
            } => {
                if self.created {
                    return Err(SubmissionError::AlreadyExists);
                }
                open(&assignment)?;
                check_content(&content)?;
                Ok(vec![SubmissionEvent::Created {
                    assignment_id: assignment.id,
                    class_id: assignment.class_id,
                    student_id,
                    content,
                    evidence: evidence_ids(evidence)?,
                }])
            }
            SubmissionCommand::Submit {
                assignment,
                content,
                evidence,
                now,
            } => self.submit(assignment, content, evidence, now),
            SubmissionCommand::Grade {
                assignment,
                by,
                score,
                feedback,
            } => self.grade(assignment, by, score, feedback),
        }
    }

    fn apply(&mut self, event: SubmissionEvent) {
        match event {
            SubmissionEvent::Created {
                assignment_id,
                class_id,
                student_id,
                content,
                evidence,
            } => {
                self.created = true;
                self.assignment_id = Some(assignment_id);
                self.class_id = Some(class_id);
                self.student_id = Some(student_id);
                self.content = content;
                self.evidence = evidence;
            }
            SubmissionEvent::Submitted {
                content,
                evidence,
                late,
                attempt,
                ..
            } => {
                self.content = content;
                self.evidence = evidence;
                self.late = late;
                self.attempts = attempt;
                self.status = SubmissionStatus::Submitted;
            }
            SubmissionEvent::Graded {
                by,
                score,
                max_score,
                feedback,
            } => {
                self.status = SubmissionStatus::Graded;
                self.grade = Some(Grade {
                    by,
                    score,
                    max_score,
                    feedback,
                });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aggregate::testing::{given, given_no_previous_events};

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    fn assignment(status: AssignmentStatus) -> AssignmentFacts {
        AssignmentFacts {
            id: Uuid::from_u128(1),
            class_id: Uuid::from_u128(2),
            status,
            archived: false,
            due_at: Some(at("2026-12-11T16:00:00Z")),
            max_score: Some(10),
        }
    }

    fn created() -> SubmissionEvent {
        SubmissionEvent::Created {
            assignment_id: Uuid::from_u128(1),
            class_id: Uuid::from_u128(2),
            student_id: Uuid::from_u128(3),
            content: "5/6".into(),
            evidence: vec![],
        }
    }

    fn submitted(late: bool, attempt: u32) -> SubmissionEvent {
        SubmissionEvent::Submitted {
            assignment_id: Uuid::from_u128(1),
            class_id: Uuid::from_u128(2),
            student_id: Uuid::from_u128(3),
            content: "5/6".into(),
            evidence: vec![],
            late,
            attempt,
        }
    }

    fn submit(now: &str) -> SubmissionCommand {
        SubmissionCommand::Submit {
            assignment: assignment(AssignmentStatus::Published),
            content: None,
            evidence: None,
            now: at(now),
        }
    }

    fn grade(score: Option<u32>) -> SubmissionCommand {
        SubmissionCommand::Grade {
            assignment: assignment(AssignmentStatus::Published),
            by: Uuid::from_u128(9),
            score,
            feedback: "Good".into(),
        }
    }

    #[test]
    fn create_for_a_published_assignment() {
        given_no_previous_events::<Submission>()
            .when(SubmissionCommand::Create {
                assignment: assignment(AssignmentStatus::Published),
                student_id: Uuid::from_u128(3),
                content: "5/6".into(),
                evidence: vec![],
            })
            .then_expect_events(vec![created()]);
    }

    #[test]
    fn create_is_refused_for_a_draft_or_closed_assignment_or_foreign_evidence() {
        for status in [AssignmentStatus::Draft, AssignmentStatus::Closed] {
            given_no_previous_events::<Submission>()
                .when(SubmissionCommand::Create {
                    assignment: assignment(status),
                    student_id: Uuid::from_u128(3),
                    content: "5/6".into(),
                    evidence: vec![],
                })
                .then_expect_error(SubmissionError::AssignmentNotOpen(status.as_str()));
        }
        given_no_previous_events::<Submission>()
            .when(SubmissionCommand::Create {
                assignment: assignment(AssignmentStatus::Published),
                student_id: Uuid::from_u128(3),
                content: String::new(),
                evidence: vec![Evidence::NotOwn(Uuid::from_u128(7))],
            })
            .then_expect_error(SubmissionError::NotOwnEvidence(Uuid::from_u128(7)));
    }

    #[test]
    fn submit_on_time_then_again_before_the_due_time() {
        given::<Submission>(vec![created()])
            .when(submit("2026-12-10T10:00:00Z"))
            .then_expect_events(vec![submitted(false, 1)]);
        given::<Submission>(vec![created(), submitted(false, 1)])
            .when(submit("2026-12-11T15:59:59Z"))
            .then_expect_events(vec![submitted(false, 2)]);
    }

    #[test]
    fn a_first_submission_after_the_due_time_is_late_a_second_is_refused() {
        given::<Submission>(vec![created()])
            .when(submit("2026-12-12T09:00:00Z"))
            .then_expect_events(vec![submitted(true, 1)]);
        given::<Submission>(vec![created(), submitted(false, 1)])
            .when(submit("2026-12-12T09:00:00Z"))
            .then_expect_error(SubmissionError::PastDue);
    }

    #[test]
    fn nothing_is_submitted_once_graded_or_closed_or_empty() {
        given::<Submission>(vec![
            created(),
            submitted(false, 1),
            SubmissionEvent::Graded {
                by: Uuid::from_u128(9),
                score: Some(8),
                max_score: Some(10),
                feedback: String::new(),
            },
        ])
        .when(submit("2026-12-10T10:00:00Z"))
        .then_expect_error(SubmissionError::Graded);
        given::<Submission>(vec![created()])
            .when(SubmissionCommand::Submit {
                assignment: assignment(AssignmentStatus::Closed),
                content: None,
                evidence: None,
                now: at("2026-12-10T10:00:00Z"),
            })
            .then_expect_error(SubmissionError::AssignmentNotOpen("closed"));
        given::<Submission>(vec![created()])
            .when(SubmissionCommand::Submit {
                assignment: assignment(AssignmentStatus::Published),
                content: Some("  ".into()),
                evidence: None,
                now: at("2026-12-10T10:00:00Z"),
            })
            .then_expect_error(SubmissionError::Empty);
    }

    #[test]
    fn grade_within_the_maximum() {
        given::<Submission>(vec![created(), submitted(false, 1)])
            .when(grade(Some(10)))
            .then_expect_events(vec![SubmissionEvent::Graded {
                by: Uuid::from_u128(9),
                score: Some(10),
                max_score: Some(10),
                feedback: "Good".into(),
            }]);
    }

    #[test]
    fn grades_above_the_maximum_without_a_score_or_of_a_draft_are_refused() {
        given::<Submission>(vec![created(), submitted(false, 1)])
            .when(grade(Some(11)))
            .then_expect_error(SubmissionError::ScoreAboveMaximum(10));
        given::<Submission>(vec![created(), submitted(false, 1)])
            .when(grade(None))
            .then_expect_error(SubmissionError::ScoreRequired);
        given::<Submission>(vec![created()])
            .when(grade(Some(5)))
            .then_expect_error(SubmissionError::NotSubmitted);
        let mut feedback_only = assignment(AssignmentStatus::Published);
        feedback_only.max_score = None;
        given::<Submission>(vec![created(), submitted(false, 1)])
            .when(SubmissionCommand::Grade {
                assignment: feedback_only,
                by: Uuid::from_u128(9),
                score: Some(5),
                feedback: String::new(),
            })
            .then_expect_error(SubmissionError::NotScored);
    }
}
