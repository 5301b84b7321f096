//! Value types of identity: they parse at the edge and cannot hold bad data.

use serde::{Deserialize, Serialize};

/// An email address in the one spelling the service knows it by: one account per `Email`.
///
/// [`Email::parse`] (every address given at the edge: registration, login, password reset,
/// sign-in with a provider, the command line) folds each way of typing an address to one
/// spelling and refuses local parts that could pass for another address:
///
/// - the whole address in Unicode NFKC, trimmed: full-width letters (`ａdmin`), ligatures and
///   the full-width at sign are the plain ASCII ones;
/// - the local part (before the `@`) lower-cased and in ASCII only: a Cyrillic `а` or a
///   Greek `ο` cannot imitate a Latin letter, since no other script is taken there
///   ([`InvalidEmail::UnsupportedCharacters`]);
/// - the domain in its ASCII form (IDNA/UTS 46, `idna::domain_to_ascii`: lower-cased,
///   internationalized labels in punycode, `xn--…`), so a lookalike domain shows as the
///   different punycode it is.
///
/// An ASCII address is spelled as before these rules (trimmed, lower-cased), so the
/// accounts registered with one are found as they were.
///
/// Addresses recorded in events before these rules are read back by the rules they were
/// recorded under (trimmed and lower-cased): the log loads as it is.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Email(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidEmail {
    #[error("the email address is empty")]
    Empty,
    #[error("the email address is longer than 254 characters")]
    TooLong,
    #[error("the email address is not of the form name@domain.tld")]
    Malformed,
    #[error(
        "the part before the @ may hold only ASCII letters, digits, dots and \
         !#$%&'*+/=?^_`{{|}}~- (letters of other scripts can imitate Latin ones)"
    )]
    UnsupportedCharacters,
}

impl Email {
    pub const MAX_CHARS: usize = 254;

    /// An address as given at the edge: every rule, folded to its one spelling. An ASCII
    /// address keeps the spelling the earlier rules gave it (trimmed and lower-cased).
    pub fn parse(raw: &str) -> Result<Self, InvalidEmail> {
        use unicode_normalization::UnicodeNormalization as _;
        let folded: String = raw.trim().nfkc().collect();
        let shaped = Self::stored(&folded)?;
        let (local, domain) = shaped.0.split_once('@').expect("a stored email has one @");
        if !local.is_ascii() {
            return Err(InvalidEmail::UnsupportedCharacters);
        }
        let domain = idna::domain_to_ascii(domain).map_err(|_| InvalidEmail::Malformed)?;
        let email = format!("{local}@{domain}");
        if email.chars().count() > Self::MAX_CHARS {
            return Err(InvalidEmail::TooLong);
        }
        Ok(Self(email))
    }

    /// An address as recorded in an event: the rules it was recorded under (trimmed,
    /// lower-cased, of the form `name@domain.tld`); the folding of [`Email::parse`] came
    /// later, and the log must load as it is.
    fn stored(raw: &str) -> Result<Self, InvalidEmail> {
        let email = raw.trim().to_lowercase();
        if email.is_empty() {
            return Err(InvalidEmail::Empty);
        }
        if email.chars().count() > Self::MAX_CHARS {
            return Err(InvalidEmail::TooLong);
        }
        let (local, domain) = email.split_once('@').ok_or(InvalidEmail::Malformed)?;
        let valid = !local.is_empty()
            && !domain.contains('@')
            && domain.contains('.')
            && !domain.starts_with('.')
            && !domain.ends_with('.')
            && !email.chars().any(|c| c.is_whitespace() || c.is_control());
        if !valid {
            return Err(InvalidEmail::Malformed);
        }
        Ok(Self(email))
    }

    /// The spelling [`Email::parse`] gives a recorded address, if it has one: the key an
    /// account registered before the folding is found by now. `None` for an address the
    /// rules refuse today (such an account can no longer be found by its email).
    pub fn folded(&self) -> Option<Email> {
        Self::parse(&self.0).ok()
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Deserializing (events) applies the rules of [`Email::stored`]; requests go through
/// [`Email::parse`].
impl TryFrom<String> for Email {
    type Error = InvalidEmail;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::stored(&value)
    }
}

impl From<Email> for String {
    fn from(value: Email) -> Self {
        value.0
    }
}

/// A person's display name: trimmed, 1 to 100 characters, readable
/// ([`crate::name::check_readable`]: no control or format character, a visible one).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct DisplayName(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidDisplayName {
    #[error("the name is empty")]
    Empty,
    #[error("the name is longer than 100 characters")]
    TooLong,
    #[error("the name contains control characters")]
    ControlCharacters,
    #[error("{0}")]
    Unreadable(crate::name::UnreadableName),
}

impl DisplayName {
    /// A name as given at the edge (a request, the command line, a sign-in provider):
    /// every rule.
    pub fn parse(raw: &str) -> Result<Self, InvalidDisplayName> {
        let name = Self::stored(raw)?;
        crate::name::check_readable(name.as_str()).map_err(InvalidDisplayName::Unreadable)?;
        Ok(name)
    }

    /// A name as recorded in an event: the rules it was recorded under (the readability
    /// rule came later; the log must load as it is).
    fn stored(raw: &str) -> Result<Self, InvalidDisplayName> {
        let name = raw.trim();
        if name.is_empty() {
            return Err(InvalidDisplayName::Empty);
        }
        if name.chars().count() > 100 {
            return Err(InvalidDisplayName::TooLong);
        }
        if name.chars().any(char::is_control) {
            return Err(InvalidDisplayName::ControlCharacters);
        }
        Ok(Self(name.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Deserializing (events) applies the rules of [`DisplayName::stored`]; requests go through
/// [`DisplayName::parse`].
impl TryFrom<String> for DisplayName {
    type Error = InvalidDisplayName;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::stored(&value)
    }
}

impl From<DisplayName> for String {
    fn from(value: DisplayName) -> Self {
        value.0
    }
}

/// A password as typed, in Unicode normalization form NFKC, between 8 and 1024 characters
/// (counted after normalizing). Never serialized, never printed.
///
/// Normalizing (NIST SP 800-63B's advice) makes the same password typed on different
/// keyboards and systems the same bytes for the hasher: "é" as one code point (most
/// keyboards) or as "e" + a combining accent (some input methods), full-width letters from
/// CJK input methods, ligatures. ASCII passwords are unchanged by it.
#[derive(Clone, PartialEq, Eq)]
pub struct Password(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidPassword {
    #[error("the password must have at least 8 characters")]
    TooShort,
    #[error("the password must have at most 1024 characters")]
    TooLong,
}

impl Password {
    pub const MIN_CHARS: usize = 8;
    pub const MAX_CHARS: usize = 1024;

    pub fn parse(raw: &str) -> Result<Self, InvalidPassword> {
        use unicode_normalization::UnicodeNormalization as _;
        let normalized: String = raw.nfkc().collect();
        let chars = normalized.chars().count();
        if chars < Self::MIN_CHARS {
            return Err(InvalidPassword::TooShort);
        }
        if chars > Self::MAX_CHARS {
            return Err(InvalidPassword::TooLong);
        }
        Ok(Self(normalized))
    }

    /// The secret itself (normalized), for the password hasher only.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Password {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Password([redacted])")
    }
}

/// An argon2id PHC string. It lives in the event log (so that replays rebuild logins) but
/// never in a response, a log line or a read model; `Debug` hides it.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct PasswordHash(pub String);

impl std::fmt::Debug for PasswordHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PasswordHash([redacted])")
    }
}

/// The SHA-256 (hex) of a bearer secret (sign-in session token, reset token). The secret itself is
/// never stored anywhere.
#[derive(Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct TokenHash(pub String);

impl std::fmt::Debug for TokenHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TokenHash([redacted])")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_names_must_be_readable() {
        use crate::name::UnreadableName;
        assert_eq!(DisplayName::parse(" Ada ").unwrap().as_str(), "Ada");
        assert_eq!(
            DisplayName::parse("\u{200b}\u{200b}"),
            Err(InvalidDisplayName::Unreadable(
                UnreadableName::FormatCharacters
            ))
        );
        assert_eq!(
            DisplayName::parse("Ada\u{202e}nimda"),
            Err(InvalidDisplayName::Unreadable(
                UnreadableName::FormatCharacters
            ))
        );
        assert_eq!(
            DisplayName::parse("\u{2800}"),
            Err(InvalidDisplayName::Unreadable(
                UnreadableName::NoVisibleCharacter
            ))
        );
        // Recorded before the rule: still loads.
        let old: DisplayName = serde_json::from_str("\"\\u200bAda\"").unwrap();
        assert_eq!(old.as_str(), "\u{200b}Ada");
    }

    #[test]
    fn emails_are_trimmed_and_lower_cased() {
        assert_eq!(
            Email::parse("  Ada@Example.ORG ").unwrap().as_str(),
            "ada@example.org"
        );
    }

    #[test]
    fn lookalike_spellings_fold_to_one_email() {
        let plain = Email::parse("admin@example.org").unwrap();
        // Full-width letters and at sign (East Asian input methods), upper case.
        assert_eq!(Email::parse("\u{ff41}dmin@example.org").unwrap(), plain);
        assert_eq!(
            Email::parse("\u{ff21}\u{ff24}\u{ff2d}\u{ff29}\u{ff2e}\u{ff20}EXAMPLE.ORG").unwrap(),
            plain
        );
        // The Kelvin sign is a K; a ligature is its letters.
        assert_eq!(
            Email::parse("\u{212a}im@example.org").unwrap().as_str(),
            "kim@example.org"
        );
        assert_eq!(
            Email::parse("\u{fb01}n@example.org").unwrap().as_str(),
            "fin@example.org"
        );
    }

    #[test]
    fn local_parts_of_other_scripts_are_refused() {
        // Cyrillic a, Greek omicron: they look like Latin letters.
        for raw in [
            "\u{430}dmin@example.org",
            "r\u{3bf}bert@example.org",
            "\u{c9}lodie@example.org",
            "\u{4f60}\u{597d}@example.org",
        ] {
            assert_eq!(
                Email::parse(raw),
                Err(InvalidEmail::UnsupportedCharacters),
                "{raw}"
            );
        }
        // Not an address at all: malformed, as before.
        for raw in ["\u{430}dmin", "\u{430} b@example.org", "a@\u{430}"] {
            assert_eq!(Email::parse(raw), Err(InvalidEmail::Malformed), "{raw}");
        }
        assert_eq!(
            Email::parse("o'brien+algebra@example.org")
                .unwrap()
                .as_str(),
            "o'brien+algebra@example.org"
        );
    }

    #[test]
    fn domains_are_kept_in_their_ascii_form() {
        assert_eq!(
            Email::parse("Ada@B\u{dc}cher.DE").unwrap().as_str(),
            "ada@xn--bcher-kva.de"
        );
        assert_eq!(
            Email::parse("ada@xn--bcher-kva.de").unwrap(),
            Email::parse("ada@b\u{fc}cher.de").unwrap()
        );
        // A Cyrillic a in the domain is another domain, and shows as one.
        assert_eq!(
            Email::parse("admin@ex\u{430}mple.org").unwrap().as_str(),
            "admin@xn--exmple-4nf.org"
        );
        // ASCII addresses are spelled as they were before the folding.
        for raw in ["a..b@mail_server.example.org", "\"q\"@example.org"] {
            assert_eq!(
                Email::parse(raw).unwrap(),
                Email::stored(raw).unwrap(),
                "{raw}"
            );
        }
    }

    #[test]
    fn emails_recorded_before_the_folding_still_load() {
        let old: Email = serde_json::from_str("\"\u{430}dmin@b\u{fc}cher.de\"").unwrap();
        assert_eq!(old.as_str(), "\u{430}dmin@b\u{fc}cher.de");
        assert_eq!(old.folded(), None);
        let idn: Email = serde_json::from_str("\"ada@b\u{fc}cher.de\"").unwrap();
        assert_eq!(idn.folded().unwrap().as_str(), "ada@xn--bcher-kva.de");
        let wide: Email = serde_json::from_str("\"\u{ff41}dmin@example.org\"").unwrap();
        assert_eq!(wide.folded().unwrap().as_str(), "admin@example.org");
    }

    #[test]
    fn malformed_emails_are_rejected() {
        for raw in [
            "",
            "ada",
            "ada@",
            "@example.org",
            "ada@example",
            "a b@example.org",
            "a@b@c.org",
        ] {
            assert!(Email::parse(raw).is_err(), "{raw}");
        }
    }

    #[test]
    fn passwords_have_length_limits_in_characters() {
        assert_eq!(Password::parse("short"), Err(InvalidPassword::TooShort));
        assert!(Password::parse("ünïcödé!").is_ok());
        assert_eq!(
            Password::parse(&"x".repeat(1025)),
            Err(InvalidPassword::TooLong)
        );
        assert!(Password::parse(&"x".repeat(1024)).is_ok());
    }

    #[test]
    fn passwords_are_compared_in_nfkc() {
        // "é" as one code point and as "e" + combining acute accent.
        let composed = Password::parse("caf\u{e9} au lait").unwrap();
        let decomposed = Password::parse("cafe\u{301} au lait").unwrap();
        assert_eq!(composed, decomposed);
        assert_eq!(composed.expose(), "caf\u{e9} au lait");
        // Full-width letters (CJK input methods) are the ASCII ones.
        assert_eq!(
            Password::parse("\u{ff50}\u{ff41}\u{ff53}\u{ff53}word1").unwrap(),
            Password::parse("password1").unwrap()
        );
        // ASCII is untouched, and the length is counted after normalizing: 7 decomposed
        // letters are 14 code points but 7 characters.
        assert_eq!(
            Password::parse("Tr0ub4dor&3").unwrap().expose(),
            "Tr0ub4dor&3"
        );
        assert_eq!(
            Password::parse(&"e\u{301}".repeat(7)),
            Err(InvalidPassword::TooShort)
        );
    }

    #[test]
    fn secrets_do_not_print() {
        let p = Password::parse("correct horse").unwrap();
        assert!(!format!("{p:?}").contains("horse"));
        let h = PasswordHash("$argon2id$v=19$m=19456,t=2,p=1$abc$def".into());
        assert!(!format!("{h:?}").contains("argon2id"));
    }
}
