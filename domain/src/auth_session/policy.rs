//! How long sign-in sessions live.

use chrono::Duration;

/// How long sessions live.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AuthSessionPolicy {
    /// Idle lifetime: a session unused this long expires (7 days).
    pub idle: Duration,
    /// Absolute lifetime from the start (30 days).
    pub absolute: Duration,
    /// At most one renewal per this interval (1 hour).
    pub renewal_interval: Duration,
}

impl Default for AuthSessionPolicy {
    fn default() -> Self {
        Self {
            idle: Duration::days(7),
            absolute: Duration::days(30),
            renewal_interval: Duration::hours(1),
        }
    }
}
