//! A user's role in a class.

use serde::{Deserialize, Serialize};

/// A user's role in a class.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClassRole {
    Teacher,
    Student,
}

impl ClassRole {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Teacher => "teacher",
            Self::Student => "student",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "teacher" => Some(Self::Teacher),
            "student" => Some(Self::Student),
            _ => None,
        }
    }
}
