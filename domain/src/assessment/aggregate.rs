//! The `Assessment` aggregate: the state an assessment's commands are decided on, its limits,
//! the decisions (valid scores and confidence, bounded texts, one review) and their
//! given/when/then tests.

use serde::{Deserialize, Serialize};

use super::{AssessmentCommand, AssessmentError, AssessmentEvent, CriterionScore};
use crate::Aggregate;

/// Assessments below this confidence wait for a teacher's review.
pub const REVIEW_THRESHOLD: f64 = 0.8;
/// The longest short text (criterion, model, prompt hash), in characters.
pub const MAX_LABEL_CHARS: usize = 200;
/// The longest raw model response or review note, in characters.
pub const MAX_RESPONSE_CHARS: usize = 100_000;
/// The most criteria one assessment may score.
pub const MAX_CRITERIA: usize = 50;

/// The write-side state of one assessment: only what its commands are decided on.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Assessment {
    pub recorded: bool,
    pub reviewed: bool,
}

fn label(value: &str, field: &'static str) -> Result<(), AssessmentError> {
    let chars = value.trim().chars().count();
    if chars == 0 || chars > MAX_LABEL_CHARS {
        return Err(AssessmentError::TextSize(field));
    }
    Ok(())
}

impl Aggregate for Assessment {
    const TYPE: &'static str = "assessment";
    type Command = AssessmentCommand;
    type Event = AssessmentEvent;
    type Error = AssessmentError;

    fn handle(&self, command: AssessmentCommand) -> Result<Vec<AssessmentEvent>, AssessmentError> {
        match command {
            AssessmentCommand::Record {
                learning_session_id,
                class_id,
                group_id,
                student_id,
                assignment_id,
                scores,
                confidence,
                trace,
            } => {
                if self.recorded {
                    return Err(AssessmentError::AlreadyRecorded);
                }
                let valid_score = |s: &CriterionScore| {
                    s.max.is_finite() && s.max > 0.0 && s.score >= 0.0 && s.score <= s.max
                };
                if scores.is_empty()
                    || scores.len() > MAX_CRITERIA
                    || !scores.iter().all(valid_score)
                {
                    return Err(AssessmentError::InvalidScores);
                }
                for s in &scores {
                    label(&s.criterion, "criterion")?;
                }
                if !(0.0..=1.0).contains(&confidence) {
                    return Err(AssessmentError::InvalidConfidence);
                }
                label(&trace.model, "trace.model")?;
                label(&trace.prompt_hash, "trace.prompt_hash")?;
                if trace.raw_response.chars().count() > MAX_RESPONSE_CHARS {
                    return Err(AssessmentError::TextSize("trace.raw_response"));
                }
                Ok(vec![AssessmentEvent::Recorded {
                    learning_session_id,
                    class_id,
                    group_id,
                    student_id,
                    assignment_id,
                    scores,
                    confidence,
                    trace,
                }])
            }
            AssessmentCommand::Review { reviewer_id, notes } => {
                if !self.recorded {
                    return Err(AssessmentError::NotFound);
                }
                if self.reviewed {
                    return Err(AssessmentError::AlreadyReviewed);
                }
                if notes
                    .as_ref()
                    .is_some_and(|n| n.chars().count() > MAX_RESPONSE_CHARS)
                {
                    return Err(AssessmentError::TextSize("notes"));
                }
                Ok(vec![AssessmentEvent::Reviewed { reviewer_id, notes }])
            }
        }
    }

    fn apply(&mut self, event: AssessmentEvent) {
        match event {
            AssessmentEvent::Recorded { .. } => self.recorded = true,
            AssessmentEvent::Reviewed { .. } => self.reviewed = true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aggregate::testing::{given, given_no_previous_events};
    use crate::assessment::Trace;
    use serde_json::json;

    fn trace() -> Trace {
        Trace {
            model: "tutor-1".into(),
            prompt_hash: "p1".into(),
            input_snapshot: json!({"essay": "x"}),
            raw_response: "{\"score\": 3}".into(),
            parsed_result: json!({"score": 3}),
            content_hash: "h".into(),
        }
    }

    fn record(scores: Vec<CriterionScore>, confidence: f64) -> AssessmentCommand {
        AssessmentCommand::Record {
            learning_session_id: uuid::Uuid::from_u128(1),
            class_id: uuid::Uuid::from_u128(2),
            group_id: uuid::Uuid::from_u128(3),
            student_id: uuid::Uuid::from_u128(4),
            assignment_id: None,
            scores,
            confidence,
            trace: Box::new(trace()),
        }
    }

    fn recorded() -> AssessmentEvent {
        AssessmentEvent::Recorded {
            learning_session_id: uuid::Uuid::from_u128(1),
            class_id: uuid::Uuid::from_u128(2),
            group_id: uuid::Uuid::from_u128(3),
            student_id: uuid::Uuid::from_u128(4),
            assignment_id: None,
            scores: vec![score(3.0, 4.0)],
            confidence: 0.5,
            trace: Box::new(trace()),
        }
    }

    fn score(score: f64, max: f64) -> CriterionScore {
        CriterionScore {
            criterion: "clarity".into(),
            score,
            max,
        }
    }

    #[test]
    fn record_once_with_valid_scores() {
        given_no_previous_events::<Assessment>()
            .when(record(vec![score(3.0, 4.0)], 0.5))
            .then_expect_events(vec![recorded()]);
        given::<Assessment>(vec![recorded()])
            .when(record(vec![score(3.0, 4.0)], 0.5))
            .then_expect_error(AssessmentError::AlreadyRecorded);
        for bad in [
            vec![],
            vec![score(5.0, 4.0)],
            vec![score(-1.0, 4.0)],
            vec![score(0.0, 0.0)],
        ] {
            given_no_previous_events::<Assessment>()
                .when(record(bad, 0.5))
                .then_expect_error(AssessmentError::InvalidScores);
        }
        given_no_previous_events::<Assessment>()
            .when(record(vec![score(1.0, 4.0)], 1.5))
            .then_expect_error(AssessmentError::InvalidConfidence);
        given_no_previous_events::<Assessment>()
            .when(record(vec![score(1.0, 4.0)], f64::NAN))
            .then_expect_error(AssessmentError::InvalidConfidence);
    }

    #[test]
    fn reviewed_once() {
        let review = || AssessmentCommand::Review {
            reviewer_id: uuid::Uuid::from_u128(9),
            notes: Some("fair".into()),
        };
        given_no_previous_events::<Assessment>()
            .when(review())
            .then_expect_error(AssessmentError::NotFound);
        given::<Assessment>(vec![recorded()])
            .when(review())
            .then_expect_events(vec![AssessmentEvent::Reviewed {
                reviewer_id: uuid::Uuid::from_u128(9),
                notes: Some("fair".into()),
            }]);
        given::<Assessment>(vec![
            recorded(),
            AssessmentEvent::Reviewed {
                reviewer_id: uuid::Uuid::from_u128(9),
                notes: None,
            },
        ])
        .when(review())
        .then_expect_error(AssessmentError::AlreadyReviewed);
    }
}
