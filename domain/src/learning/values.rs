//! Value types of a learning session: who wrote a message, how severe a misbehavior is, how
//! urgent a safety concern is.

use serde::{Deserialize, Serialize};

/// Who wrote a message of a learning session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MessageRole {
    Student,
    Assistant,
}

/// How severe a misbehavior is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Low,
    Medium,
    High,
    Critical,
}

/// How soon a safety concern needs a person.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Urgency {
    Immediate,
    SameDay,
    Monitor,
}
