//! Value types of notifications: the kinds a user is notified of, and what a notification is
//! about.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::user::UserId;

/// What a notification is for; email preferences are chosen per kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NotificationKind {
    Misbehavior,
    Struggle,
    SafetyConcern,
    AssessmentReview,
}

impl NotificationKind {
    pub const ALL: [Self; 4] = [
        Self::Misbehavior,
        Self::Struggle,
        Self::SafetyConcern,
        Self::AssessmentReview,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Misbehavior => "misbehavior",
            Self::Struggle => "struggle",
            Self::SafetyConcern => "safety_concern",
            Self::AssessmentReview => "assessment_review",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == value)
    }

    /// Whether email is on for this kind when the user has not chosen: the urgent kinds
    /// (misbehavior of medium severity or above, safety concerns) are emailed, the rest are
    /// in-app only.
    pub fn email_by_default(self) -> bool {
        matches!(self, Self::Misbehavior | Self::SafetyConcern)
    }
}

/// What a notification is about; rendered into emails, shown in the app.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NotificationSubject {
    pub class_id: uuid::Uuid,
    pub class_name: String,
    pub learning_session_id: Option<uuid::Uuid>,
    pub assessment_id: Option<uuid::Uuid>,
    pub student_id: Option<UserId>,
    pub student_name: Option<String>,
    /// Kind-specific facts (severity, category, topic, urgency, confidence, …).
    pub details: BTreeMap<String, String>,
}
