//! A theme: how a group or a class presents itself (display name, primary and accent
//! colours, logo). Every value is optional: a value left out (`None`) is inherited from the
//! group above, and from the product's [`DEFAULT`] at the top.
//!
//! Groups set their theme (`group.theme_set`), and so do classes (`class.theme_set`): a
//! class inherits its group's theme unless it sets a value of its own. The values parse at
//! the edge ([`Color::parse`], [`LogoUrl::parse`], [`ThemeName`] follows the group-name
//! rules, [`crate::name::check_readable`] among them) and cannot hold bad data.

use serde::{Deserialize, Serialize};

/// A theme's display name: the rules of a group's name (trimmed, 1 to 200 characters,
/// readable).
pub type ThemeName = crate::group::GroupName;

/// What a group or class sets itself; `None` is inherited.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Theme {
    pub display_name: Option<ThemeName>,
    pub primary_color: Option<Color>,
    pub accent_color: Option<Color>,
    pub logo_url: Option<LogoUrl>,
}

/// The product's own theme, where no group above sets a value.
pub struct DefaultTheme {
    pub display_name: &'static str,
    pub primary_color: &'static str,
    pub accent_color: &'static str,
    /// No logo unless a group gives one.
    pub logo_url: Option<&'static str>,
}

/// The values every theme falls back to.
pub const DEFAULT: DefaultTheme = DefaultTheme {
    display_name: "Raptscallions",
    primary_color: "#1d4ed8",
    accent_color: "#f59e0b",
    logo_url: None,
};

/// A colour as `#rrggbb` (six hexadecimal digits), kept in lower case.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Color(String);

/// Why a string is not a [`Color`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("a colour is written #rrggbb: '#' and six hexadecimal digits, such as #1d4ed8")]
pub struct InvalidColor;

impl Color {
    /// `#rrggbb`, either case; stored in lower case. Nothing else (no `#rgb`, no names, no
    /// alpha, no spaces).
    pub fn parse(raw: &str) -> Result<Self, InvalidColor> {
        let digits = raw.strip_prefix('#').ok_or(InvalidColor)?;
        if digits.len() != 6 || !digits.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(InvalidColor);
        }
        Ok(Self(raw.to_ascii_lowercase()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Color {
    type Error = InvalidColor;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<Color> for String {
    fn from(value: Color) -> Self {
        value.0
    }
}

/// A logo's address: an absolute `https` URL with a host and no user name or password,
/// at most [`LogoUrl::MAX_CHARS`] characters, kept in its normalized form (an
/// internationalized host in its ASCII form).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct LogoUrl(String);

/// Why a string is not a [`LogoUrl`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum InvalidLogoUrl {
    #[error("the logo URL is not an absolute URL")]
    NotAUrl,
    #[error("the logo URL must use https")]
    NotHttps,
    #[error("the logo URL must not contain a user name or password")]
    Credentials,
    #[error("the logo URL is longer than 2048 characters")]
    TooLong,
}

impl LogoUrl {
    pub const MAX_CHARS: usize = 2048;

    pub fn parse(raw: &str) -> Result<Self, InvalidLogoUrl> {
        if raw.chars().count() > Self::MAX_CHARS {
            return Err(InvalidLogoUrl::TooLong);
        }
        // The URL standard strips surrounding spaces and drops tabs and newlines inside;
        // a logo's address has none of them.
        if raw.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(InvalidLogoUrl::NotAUrl);
        }
        let url = url::Url::parse(raw).map_err(|_| InvalidLogoUrl::NotAUrl)?;
        if url.scheme() != "https" {
            return Err(InvalidLogoUrl::NotHttps);
        }
        if url.host_str().is_none_or(str::is_empty) {
            return Err(InvalidLogoUrl::NotAUrl);
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(InvalidLogoUrl::Credentials);
        }
        let normalized = String::from(url);
        if normalized.chars().count() > Self::MAX_CHARS {
            return Err(InvalidLogoUrl::TooLong);
        }
        Ok(Self(normalized))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for LogoUrl {
    type Error = InvalidLogoUrl;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<LogoUrl> for String {
    fn from(value: LogoUrl) -> Self {
        value.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colours_are_six_hex_digits_kept_in_lower_case() {
        assert_eq!(Color::parse("#1D4ed8").unwrap().as_str(), "#1d4ed8");
        for bad in [
            "",
            "#",
            "1d4ed8",
            "#1d4",
            "#1d4ed8ff",
            "#1d4ed",
            "#gggggg",
            " #1d4ed8",
            "red",
            "#1d4ed８",
        ] {
            assert_eq!(Color::parse(bad), Err(InvalidColor), "{bad:?}");
        }
    }

    #[test]
    fn logo_urls_are_https_without_credentials() {
        assert_eq!(
            LogoUrl::parse("https://cdn.example.org/logo.png")
                .unwrap()
                .as_str(),
            "https://cdn.example.org/logo.png"
        );
        assert_eq!(
            LogoUrl::parse("https://Bücher.example/l.svg")
                .unwrap()
                .as_str(),
            "https://xn--bcher-kva.example/l.svg"
        );
        assert_eq!(
            LogoUrl::parse("http://cdn.example.org/logo.png"),
            Err(InvalidLogoUrl::NotHttps)
        );
        assert_eq!(
            LogoUrl::parse("javascript:alert(1)"),
            Err(InvalidLogoUrl::NotHttps)
        );
        assert_eq!(
            LogoUrl::parse("data:image/png;base64,AAAA"),
            Err(InvalidLogoUrl::NotHttps)
        );
        for bad in [
            "",
            "logo.png",
            "/logo.png",
            "https://",
            "https:// x.org/",
            "not a url",
        ] {
            assert_eq!(LogoUrl::parse(bad), Err(InvalidLogoUrl::NotAUrl), "{bad:?}");
        }
        assert_eq!(
            LogoUrl::parse("https://user:pw@example.org/logo.png"),
            Err(InvalidLogoUrl::Credentials)
        );
        let long = format!("https://example.org/{}", "a".repeat(2048));
        assert_eq!(LogoUrl::parse(&long), Err(InvalidLogoUrl::TooLong));
    }

    #[test]
    fn a_theme_reads_back_from_its_json() {
        let theme = Theme {
            display_name: Some(ThemeName::parse("Lincoln High").unwrap()),
            primary_color: Some(Color::parse("#1d4ed8").unwrap()),
            accent_color: None,
            logo_url: Some(LogoUrl::parse("https://cdn.example.org/logo.png").unwrap()),
        };
        let json = serde_json::to_value(&theme).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"display_name": "Lincoln High", "primary_color": "#1d4ed8",
                               "accent_color": null,
                               "logo_url": "https://cdn.example.org/logo.png"})
        );
        assert_eq!(serde_json::from_value::<Theme>(json).unwrap(), theme);
        assert!(serde_json::from_value::<Theme>(serde_json::json!({
            "display_name": null, "primary_color": "blue", "accent_color": null,
            "logo_url": null
        }))
        .is_err());
    }
}
