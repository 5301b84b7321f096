//! A group's display name (also the rules for class and tool names).

use serde::{Deserialize, Serialize};

/// A group's display name: trimmed, 1 to 200 characters, no control characters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct GroupName(String);

/// Why a string is not a valid [`GroupName`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidGroupName {
    #[error("the name is empty")]
    Empty,
    #[error("the name is longer than {max} characters")]
    TooLong { max: usize },
    #[error("the name contains control characters")]
    ControlCharacters,
}

impl GroupName {
    pub const MAX_CHARS: usize = 200;

    pub fn parse(raw: &str) -> Result<Self, InvalidGroupName> {
        let trimmed = raw.trim();
        if trimmed.is_empty() {
            return Err(InvalidGroupName::Empty);
        }
        if trimmed.chars().count() > Self::MAX_CHARS {
            return Err(InvalidGroupName::TooLong {
                max: Self::MAX_CHARS,
            });
        }
        if trimmed.chars().any(char::is_control) {
            return Err(InvalidGroupName::ControlCharacters);
        }
        Ok(Self(trimmed.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for GroupName {
    type Error = InvalidGroupName;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<GroupName> for String {
    fn from(value: GroupName) -> Self {
        value.0
    }
}

impl std::fmt::Display for GroupName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trims_and_accepts_a_normal_name() {
        assert_eq!(
            GroupName::parse("  Lincoln High ").unwrap().as_str(),
            "Lincoln High"
        );
    }

    #[test]
    fn rejects_empty_long_and_control_characters() {
        assert_eq!(GroupName::parse("   "), Err(InvalidGroupName::Empty));
        assert_eq!(
            GroupName::parse(&"x".repeat(201)),
            Err(InvalidGroupName::TooLong { max: 200 })
        );
        assert_eq!(
            GroupName::parse("a\u{0}b"),
            Err(InvalidGroupName::ControlCharacters)
        );
    }

    #[test]
    fn deserializing_validates() {
        assert!(serde_json::from_str::<GroupName>("\"\"").is_err());
        assert_eq!(
            serde_json::from_str::<GroupName>("\"Math\"")
                .unwrap()
                .as_str(),
            "Math"
        );
    }
}
