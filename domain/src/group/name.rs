//! A group's display name (also the rules for class and tool names).

use serde::{Deserialize, Serialize};

/// A group's display name: trimmed, 1 to 200 characters, readable
/// ([`crate::name::check_readable`]: no control or format character, a visible one).
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
    #[error("{0}")]
    Unreadable(crate::name::UnreadableName),
}

impl GroupName {
    pub const MAX_CHARS: usize = 200;

    /// A name as given at the edge (a request, the command line): every rule.
    pub fn parse(raw: &str) -> Result<Self, InvalidGroupName> {
        let name = Self::stored(raw)?;
        crate::name::check_readable(name.as_str()).map_err(InvalidGroupName::Unreadable)?;
        Ok(name)
    }

    /// A name as recorded in an event: the rules it was recorded under. The readability
    /// rule came later (names with format characters were accepted before it), and the
    /// log must load as it is, so it is not applied here.
    fn stored(raw: &str) -> Result<Self, InvalidGroupName> {
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

/// Deserializing (events) applies the rules of [`GroupName::stored`]; requests go through
/// [`GroupName::parse`].
impl TryFrom<String> for GroupName {
    type Error = InvalidGroupName;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::stored(&value)
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
    fn rejects_invisible_names_and_format_characters() {
        use crate::name::UnreadableName;
        assert_eq!(
            GroupName::parse("\u{200b}\u{200b}"),
            Err(InvalidGroupName::Unreadable(
                UnreadableName::FormatCharacters
            ))
        );
        assert_eq!(
            GroupName::parse("abc\u{202e}gnp.exe"),
            Err(InvalidGroupName::Unreadable(
                UnreadableName::FormatCharacters
            ))
        );
        assert_eq!(
            GroupName::parse("\u{3164}"),
            Err(InvalidGroupName::Unreadable(
                UnreadableName::NoVisibleCharacter
            ))
        );
    }

    #[test]
    fn a_name_recorded_before_the_readability_rule_still_loads() {
        let name: GroupName = serde_json::from_str("\"\\u200b\\u200b\"").unwrap();
        assert_eq!(name.as_str(), "\u{200b}\u{200b}");
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
