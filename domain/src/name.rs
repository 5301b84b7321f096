//! The rule every name shares, whatever it names (groups, classes, tools, people, service
//! accounts): what a reader sees is what it says.
//!
//! A name must contain at least one visible character, and no control character (Unicode
//! category Cc) or format character (Cf). Format characters are invisible: a zero-width space
//! (U+200B) makes a name that looks empty, a right-to-left override (U+202E) makes
//! `abc\u{202e}gnp.exe` display as `abcexe.png`, and a soft hyphen or a zero-width joiner
//! makes two names that look the same differ. Refusing the whole category also refuses the
//! zero-width (non-)joiners that some scripts (Persian, several Indic ones) and emoji
//! sequences use; a name reads fine without them, and allowing them between two letters is
//! possible later without accepting any name refused today.
//!
//! Visible characters are letters, marks that join a letter, numbers, punctuation and
//! symbols, except the few that are drawn blank (the Hangul fillers, the blank Braille
//! pattern). Separators (spaces of any width) are allowed between them, not alone.

use unicode_properties::{GeneralCategoryGroup, UnicodeGeneralCategory as _};

/// Why a name does not show what it says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum UnreadableName {
    #[error("the name contains control characters")]
    ControlCharacters,
    #[error(
        "the name contains invisible formatting characters (Unicode category Cf, such as \
         U+200B zero width space or U+202E right-to-left override)"
    )]
    FormatCharacters,
    #[error("the name has no visible character")]
    NoVisibleCharacter,
}

/// Characters of a visible category that are drawn blank.
const BLANK: [char; 5] = [
    '\u{115F}', // Hangul choseong filler
    '\u{1160}', // Hangul jungseong filler
    '\u{3164}', // Hangul filler
    '\u{FFA0}', // halfwidth Hangul filler
    '\u{2800}', // Braille pattern blank
];

/// Whether `c` leaves a mark of its own on the screen.
fn is_visible(c: char) -> bool {
    !BLANK.contains(&c)
        && matches!(
            c.general_category_group(),
            GeneralCategoryGroup::Letter
                | GeneralCategoryGroup::Number
                | GeneralCategoryGroup::Punctuation
                | GeneralCategoryGroup::Symbol
        )
}

/// Checks that `name` shows what it says (see the module's documentation). Length and
/// trimming are each name type's own rules.
pub fn check_readable(name: &str) -> Result<(), UnreadableName> {
    if name.chars().any(char::is_control) {
        return Err(UnreadableName::ControlCharacters);
    }
    if name
        .chars()
        .any(|c| c.general_category_group() == GeneralCategoryGroup::Other)
    {
        // Cc is refused above; what is left of "Other" is Cf (format), Co (private use),
        // Cs (never in a Rust string) and Cn (unassigned). Private-use and unassigned code
        // points have no agreed glyph either: refused with the format characters.
        return Err(UnreadableName::FormatCharacters);
    }
    if !name.chars().any(is_visible) {
        return Err(UnreadableName::NoVisibleCharacter);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ordinary_names_in_many_scripts_are_readable() {
        for name in [
            "Lincoln High",
            "Algebra 1 (2nd period)",
            "École Saint-Exupéry",
            "Ms. O'Brien",
            "Ньютон",
            "数学クラス",
            "मराठी",
            "علوم",
            "Α-team 🚀",
            "x",
            "1",
            "Ŝ",
            "e\u{301}cole", // a combining accent after a letter
        ] {
            assert_eq!(check_readable(name), Ok(()), "{name}");
        }
    }

    #[test]
    fn format_characters_are_refused() {
        for name in [
            "\u{200b}\u{200b}",
            "abc\u{202e}gnp.exe",
            "admin\u{200b}",
            "ad\u{00ad}min",
            "\u{feff}Math",
            "a\u{2066}b\u{2069}",
            "tag\u{e0041}",
            "a\u{200d}b",
        ] {
            assert_eq!(
                check_readable(name),
                Err(UnreadableName::FormatCharacters),
                "{name:?}"
            );
        }
    }

    #[test]
    fn private_use_and_unassigned_code_points_are_refused() {
        assert_eq!(
            check_readable("a\u{e000}"),
            Err(UnreadableName::FormatCharacters)
        );
        assert_eq!(
            check_readable("a\u{0378}"),
            Err(UnreadableName::FormatCharacters)
        );
    }

    #[test]
    fn names_without_a_visible_character_are_refused() {
        for name in [
            "\u{3164}",
            "\u{115f}\u{1160}",
            "\u{2800}\u{2800}",
            "\u{3000}",
            "\u{301}",
            " \u{2003} ",
            "",
        ] {
            assert_eq!(
                check_readable(name),
                Err(UnreadableName::NoVisibleCharacter),
                "{name:?}"
            );
        }
    }

    #[test]
    fn control_characters_are_refused() {
        assert_eq!(
            check_readable("a\u{0}b"),
            Err(UnreadableName::ControlCharacters)
        );
        assert_eq!(
            check_readable("a\nb"),
            Err(UnreadableName::ControlCharacters)
        );
    }
}
