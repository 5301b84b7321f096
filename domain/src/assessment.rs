//! Assessments: the tutoring service's scoring of a learning session, recorded together with
//! the trace of how the model arrived at it (model, prompt hash, input, raw response, parsed
//! result), so that teachers can review it and auditors can check it was not altered.
//!
//! The content hash is SHA-256 over [`canonical_content`] of the input snapshot and the raw
//! response; the application computes it (hashing is not the domain's business) and every read
//! recomputes it.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::class::ClassId;
use crate::group::GroupId;
use crate::learning::LearningSessionId;
use crate::user::UserId;
use crate::{Aggregate, DomainEvent};

pub type AssessmentId = uuid::Uuid;

/// Assessments below this confidence wait for a teacher's review.
pub const REVIEW_THRESHOLD: f64 = 0.8;
/// The longest short text (criterion, model, prompt hash), in characters.
pub const MAX_LABEL_CHARS: usize = 200;
/// The longest raw model response or review note, in characters.
pub const MAX_RESPONSE_CHARS: usize = 100_000;
/// The most criteria one assessment may score.
pub const MAX_CRITERIA: usize = 50;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CriterionScore {
    pub criterion: String,
    pub score: f64,
    pub max: f64,
}

/// How the model produced the assessment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Trace {
    pub model: String,
    pub prompt_hash: String,
    pub input_snapshot: Value,
    pub raw_response: String,
    pub parsed_result: Value,
    /// Hex SHA-256 of [`canonical_content`]`(input_snapshot, raw_response)`.
    pub content_hash: String,
}

/// The exact bytes the content hash covers: `{"input":…,"response":…}` as JSON with object
/// keys sorted (recursively), no whitespace, numbers and strings as serde_json writes them.
/// Stable across storage round trips (jsonb reorders keys; this does not care).
pub fn canonical_content(input_snapshot: &Value, raw_response: &str) -> String {
    let mut out = String::from("{\"input\":");
    out.push_str(&write_sorted(input_snapshot));
    out.push_str(",\"response\":");
    out.push_str(&Value::String(raw_response.to_owned()).to_string());
    out.push('}');
    out
}

/// JSON text with object keys sorted at every level, whatever order the map keeps.
fn write_sorted(value: &Value) -> String {
    match value {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            let parts: Vec<String> = keys
                .into_iter()
                .map(|k| format!("{}:{}", Value::String(k.clone()), write_sorted(&map[k])))
                .collect();
            format!("{{{}}}", parts.join(","))
        }
        Value::Array(items) => {
            let parts: Vec<String> = items.iter().map(write_sorted).collect();
            format!("[{}]", parts.join(","))
        }
        // A whole number written as a float (`1e16`, `3.0`, `-0.0`) is written as the integer
        // it is: storage (jsonb) gives it back in that form.
        Value::Number(n) if n.is_f64() => match n.as_f64() {
            Some(f) if f.fract() == 0.0 && f.abs() < 1.8e19 => format!("{}", f as i128),
            _ => n.to_string(),
        },
        other => other.to_string(),
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Assessment {
    pub recorded: bool,
    pub reviewed: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub enum AssessmentCommand {
    /// The application looked up the session (its class, group and student) and computed the
    /// content hash.
    Record {
        learning_session_id: LearningSessionId,
        class_id: ClassId,
        group_id: GroupId,
        student_id: UserId,
        assignment_id: Option<uuid::Uuid>,
        scores: Vec<CriterionScore>,
        confidence: f64,
        trace: Box<Trace>,
    },
    Review {
        reviewer_id: UserId,
        notes: Option<String>,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AssessmentError {
    #[error("the assessment already exists")]
    AlreadyRecorded,
    #[error("the assessment does not exist")]
    NotFound,
    #[error("the assessment has already been reviewed")]
    AlreadyReviewed,
    #[error(
        "scores: between 1 and {MAX_CRITERIA} criteria, each with 0 <= score <= max and max > 0"
    )]
    InvalidScores,
    #[error("confidence must be between 0 and 1")]
    InvalidConfidence,
    #[error("{0} is empty or too long")]
    TextSize(&'static str),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum AssessmentEvent {
    #[serde(rename = "assessment.recorded")]
    Recorded {
        learning_session_id: LearningSessionId,
        class_id: ClassId,
        group_id: GroupId,
        student_id: UserId,
        assignment_id: Option<uuid::Uuid>,
        scores: Vec<CriterionScore>,
        confidence: f64,
        trace: Box<Trace>,
    },
    #[serde(rename = "assessment.reviewed")]
    Reviewed {
        reviewer_id: UserId,
        notes: Option<String>,
    },
}

impl DomainEvent for AssessmentEvent {
    fn event_type(&self) -> &'static str {
        match self {
            Self::Recorded { .. } => "assessment.recorded",
            Self::Reviewed { .. } => "assessment.reviewed",
        }
    }

    fn event_version(&self) -> &'static str {
        "1"
    }
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

    #[test]
    fn canonical_content_ignores_key_order_and_whitespace() {
        let a: Value = serde_json::from_str(r#"{"b": [1, {"y": 2, "x": 1}], "a": "é"}"#).unwrap();
        let b: Value = serde_json::from_str(r#"{"a":"é","b":[1,{"x":1,"y":2}]}"#).unwrap();
        assert_eq!(canonical_content(&a, "r"), canonical_content(&b, "r"));
        assert_eq!(
            canonical_content(&b, "say \"hi\""),
            r#"{"input":{"a":"é","b":[1,{"x":1,"y":2}]},"response":"say \"hi\""}"#
        );
        assert_ne!(canonical_content(&b, "r"), canonical_content(&b, "r "));
    }

    #[test]
    fn canonical_numbers_survive_a_storage_round_trip() {
        let written: Value = serde_json::from_str(r#"[1e16, 3.0, -0.0, 0.1, 1.5e-7]"#).unwrap();
        let stored: Value =
            serde_json::from_str(r#"[10000000000000000, 3, 0, 0.1, 0.00000015]"#).unwrap();
        assert_eq!(
            canonical_content(&written, ""),
            canonical_content(&stored, "")
        );
    }
}
