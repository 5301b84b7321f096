//! Who is told what: the notices that detections, assessments and the workflows' steps call
//! for, whom each goes to, and its wording. Plain rules without I/O: the reactions subscriber
//! and the workflows look the recipients up and create the notifications.
//!
//! | cause | kind | audience |
//! | --- | --- | --- |
//! | misbehavior of severity medium or above | `misbehavior` | the class's teachers |
//! | an assessment with confidence below 0.8 | `assessment_review` | the class's teachers |
//! | a struggle (the intervention workflow) | `struggle` | the class's teachers |
//! | a safety concern (the escalation workflow) | `safety_concern` | the handlers of the level: see [`crate::workflows`] |

use std::collections::BTreeMap;

use domain::assessment::REVIEW_THRESHOLD;
use domain::learning::{Severity, Urgency};
use domain::notification::NotificationKind;

/// What a recipient is told, before it is addressed to anyone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    pub kind: NotificationKind,
    /// Kind-specific facts, shown in the app and in emails.
    pub details: BTreeMap<String, String>,
}

fn details(pairs: &[(&str, String)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), v.clone()))
        .collect()
}

/// The name of a serde-named unit variant (`medium`, `same_day`).
fn name_of(value: impl serde::Serialize) -> String {
    serde_json::to_value(value)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

impl Notice {
    /// Misbehavior of severity medium or above; below it only counts on the dashboard.
    pub fn misbehavior(category: &str, severity: Severity, evidence: &str) -> Option<Self> {
        (severity >= Severity::Medium).then(|| Self {
            kind: NotificationKind::Misbehavior,
            details: details(&[
                ("severity", name_of(severity)),
                ("category", category.to_owned()),
                ("evidence", evidence.to_owned()),
            ]),
        })
    }

    /// An assessment whose confidence is below the review threshold.
    pub fn assessment_review(confidence: f64) -> Option<Self> {
        (confidence < REVIEW_THRESHOLD).then(|| Self {
            kind: NotificationKind::AssessmentReview,
            details: details(&[("confidence", format!("{confidence:.2}"))]),
        })
    }

    /// A student struggling with a topic.
    pub fn struggle(topic: &str, indicators: &[String], duration_seconds: u32) -> Self {
        Self {
            kind: NotificationKind::Struggle,
            details: details(&[
                ("topic", topic.to_owned()),
                ("indicators", indicators.join(", ")),
                ("minutes", duration_seconds.div_ceil(60).to_string()),
            ]),
        }
    }

    /// A safety concern, first alert (`level` 0) or an escalation after nobody acknowledged
    /// it (`level` 1 and up).
    pub fn safety_concern(
        concern_type: &str,
        urgency: Urgency,
        evidence: &str,
        level: u32,
    ) -> Self {
        let mut facts = vec![
            ("urgency", name_of(urgency)),
            ("concern_type", concern_type.to_owned()),
            ("evidence", evidence.to_owned()),
        ];
        if level > 0 {
            facts.push(("escalation_level", level.to_string()));
        }
        Self {
            kind: NotificationKind::SafetyConcern,
            details: details(&facts),
        }
    }

    /// The follow-up of a concern under `monitor`.
    pub fn safety_follow_up(concern_type: &str, evidence: &str) -> Self {
        Self {
            kind: NotificationKind::SafetyConcern,
            details: details(&[
                ("urgency", name_of(Urgency::Monitor)),
                ("concern_type", concern_type.to_owned()),
                ("evidence", evidence.to_owned()),
                ("follow_up", "true".to_owned()),
            ]),
        }
    }

    fn detail(&self, key: &str) -> &str {
        self.details
            .get(key)
            .map(String::as_str)
            .unwrap_or_default()
    }

    /// The title and body, naming the class and the student.
    pub fn texts(&self, class_name: &str, student: &str) -> (String, String) {
        let d = |k: &str| self.detail(k);
        match self.kind {
            NotificationKind::Misbehavior => (
                format!("Misbehavior ({}) in {class_name}", d("severity")),
                format!("{student}: {} — {}", d("category"), d("evidence")),
            ),
            NotificationKind::Struggle => (
                format!("{student} is struggling with {} in {class_name}", d("topic")),
                format!("Indicators: {}", d("indicators")),
            ),
            NotificationKind::SafetyConcern if self.details.contains_key("follow_up") => (
                format!("Please review a safety concern in {class_name}"),
                format!(
                    "{student}: {}. {} It is still open; please review it.",
                    d("concern_type"),
                    d("evidence")
                ),
            ),
            NotificationKind::SafetyConcern if self.details.contains_key("escalation_level") => (
                format!(
                    "Escalated safety concern ({}) in {class_name}",
                    d("urgency")
                ),
                format!(
                    "{student}: {}. {} Nobody has acknowledged it yet.",
                    d("concern_type"),
                    d("evidence")
                ),
            ),
            NotificationKind::SafetyConcern => (
                format!("Safety concern ({}) in {class_name}", d("urgency")),
                format!("{student}: {}. {}", d("concern_type"), d("evidence")),
            ),
            NotificationKind::AssessmentReview => (
                format!("Assessment to review in {class_name}"),
                format!(
                    "An assessment of {student}'s session has confidence {}; please review its trace.",
                    d("confidence")
                ),
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn misbehavior_below_medium_tells_nobody() {
        assert_eq!(Notice::misbehavior("off_topic", Severity::Low, "x"), None);
        let notice = Notice::misbehavior("cheating", Severity::High, "copied").unwrap();
        assert_eq!(notice.kind, NotificationKind::Misbehavior);
        assert_eq!(
            notice.texts("Algebra I", "Ada"),
            (
                "Misbehavior (high) in Algebra I".to_owned(),
                "Ada: cheating — copied".to_owned()
            )
        );
    }

    #[test]
    fn only_unsure_assessments_ask_for_review() {
        assert_eq!(Notice::assessment_review(0.8), None);
        let notice = Notice::assessment_review(0.5).unwrap();
        assert_eq!(notice.details["confidence"], "0.50");
        assert_eq!(
            notice.texts("Algebra I", "Ada").0,
            "Assessment to review in Algebra I"
        );
    }

    #[test]
    fn a_struggle_names_the_topic_and_rounds_minutes_up() {
        let notice = Notice::struggle("fractions", &["repeated_errors".into()], 61);
        assert_eq!(notice.details["minutes"], "2");
        assert_eq!(
            notice.texts("Algebra I", "Ada"),
            (
                "Ada is struggling with fractions in Algebra I".to_owned(),
                "Indicators: repeated_errors".to_owned()
            )
        );
    }

    #[test]
    fn safety_notices_say_first_alert_escalation_or_follow_up() {
        let first = Notice::safety_concern("self_harm", Urgency::Immediate, "said so", 0);
        assert_eq!(
            first.texts("Algebra I", "Ada").0,
            "Safety concern (immediate) in Algebra I"
        );
        assert!(!first.details.contains_key("escalation_level"));
        let escalated = Notice::safety_concern("self_harm", Urgency::SameDay, "said so", 2);
        assert_eq!(escalated.details["escalation_level"], "2");
        assert_eq!(
            escalated.texts("Algebra I", "Ada").0,
            "Escalated safety concern (same_day) in Algebra I"
        );
        let follow_up = Notice::safety_follow_up("bullying", "mentioned");
        assert_eq!(
            follow_up.texts("Algebra I", "Ada").0,
            "Please review a safety concern in Algebra I"
        );
    }
}
