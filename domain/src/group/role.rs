//! A user's role in a group.

use serde::{Deserialize, Serialize};

/// A user's role in a group. Admins and counselors hold their role over the whole subtree.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GroupRole {
    Admin,
    Counselor,
    Member,
}

impl GroupRole {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Admin => "admin",
            Self::Counselor => "counselor",
            Self::Member => "member",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "admin" => Some(Self::Admin),
            "counselor" => Some(Self::Counselor),
            "member" => Some(Self::Member),
            _ => None,
        }
    }
}
