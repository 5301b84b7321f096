//! Ports: what the application needs from the outside world, implemented in infrastructure or
//! projections.

/// Told after every successful append; defined by the read side, whose `LogSignal` wakes the
/// subscribers of the appended type.
pub use projections::signal::AppendListener;

/// An [`AppendListener`] that does nothing (tools and tests that have no subscribers).
#[derive(Debug, Default, Clone, Copy)]
pub struct NoListener;

impl AppendListener for NoListener {
    fn appended(&self, _aggregate_type: &'static str) {}
}

use chrono::{DateTime, Utc};
use domain::user::{Password, PasswordHash};

/// The time. Injected so that tests can move it (session expiry, reset expiry).
pub trait Clock: Send + Sync + 'static {
    fn now(&self) -> DateTime<Utc>;
}

/// The system clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// A clock that only moves when told to (tests).
#[derive(Debug)]
pub struct ManualClock(std::sync::Mutex<DateTime<Utc>>);

impl ManualClock {
    pub fn new(start: DateTime<Utc>) -> Self {
        Self(std::sync::Mutex::new(start))
    }

    pub fn advance(&self, by: chrono::Duration) {
        *self.0.lock().expect("clock") += by;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        *self.0.lock().expect("clock")
    }
}

/// Password hashing (argon2id), run off the async workers by the implementation.
#[async_trait::async_trait]
pub trait PasswordHasher: Send + Sync + 'static {
    async fn hash(&self, password: &Password) -> anyhow_like::Result<PasswordHash>;
    /// Whether `password` matches `hash`; a malformed hash is a mismatch.
    async fn verify(&self, password: &Password, hash: &PasswordHash) -> bool;
    /// The same work as [`PasswordHasher::verify`] against a fixed hash, so that an unknown
    /// email costs as much as a known one.
    async fn verify_dummy(&self, password: &Password);
    /// Whether `hash` was made with other parameters than [`PasswordHasher::hash`] uses now
    /// (so a correct password should be hashed again and stored). Cheap: parses, never
    /// hashes. A malformed hash needs none (it verifies nothing anyway).
    fn needs_rehash(&self, hash: &PasswordHash) -> bool;
}

/// An email to send.
#[derive(Clone, PartialEq, Eq)]
pub struct OutgoingEmail {
    pub to: String,
    pub subject: String,
    pub text: String,
    pub html: Option<String>,
    /// A stable `Message-ID` (`<id@domain>`): a re-sent copy of the same email carries the
    /// same one, so mail clients can fold duplicates.
    pub message_id: Option<String>,
}

impl std::fmt::Debug for OutgoingEmail {
    // Bodies may carry secrets (reset links): never print them.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OutgoingEmail")
            .field("to", &self.to)
            .field("subject", &self.subject)
            .finish_non_exhaustive()
    }
}

/// Sends emails (SMTP in production).
#[async_trait::async_trait]
pub trait Mailer: Send + Sync + 'static {
    async fn send(&self, email: &OutgoingEmail) -> anyhow_like::Result<()>;
}

/// A small boxed-error result for ports, so that `application` needs no `anyhow`.
pub mod anyhow_like {
    pub type Error = Box<dyn std::error::Error + Send + Sync + 'static>;
    pub type Result<T> = std::result::Result<T, Error>;
}

/// The start of a sign-in at an OpenID provider: where to send the browser, and the secrets
/// the callback will need (kept server-side).
#[derive(Clone)]
pub struct AuthorizationStart {
    pub url: String,
    pub state: String,
    pub nonce: String,
    pub pkce_verifier: String,
}

/// Who the provider says signed in, after the ID token was verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExternalIdentity {
    pub subject: String,
    pub email: Option<String>,
    pub email_verified: bool,
    pub name: Option<String>,
    /// Clever's user type (student, teacher, staff, district_admin).
    pub user_type: Option<String>,
}

/// A sign-in that failed at or with the provider; `code` is shown to the user
/// (`/login?error=<code>`), `detail` is logged.
#[derive(Debug, thiserror::Error)]
#[error("{code}: {detail}")]
pub struct OidcFailure {
    pub code: &'static str,
    pub detail: String,
}

impl OidcFailure {
    pub fn new(code: &'static str, detail: impl Into<String>) -> Self {
        Self {
            code,
            detail: detail.into(),
        }
    }
}

/// An OpenID Connect provider (Google, Microsoft Entra ID, Clever).
#[async_trait::async_trait]
pub trait OidcProvider: Send + Sync + 'static {
    /// The provider's name in URLs and links: `google`, `microsoft`, `clever`.
    fn name(&self) -> &'static str;
    /// Starts a sign-in: state, nonce and PKCE (S256).
    async fn start(&self) -> Result<AuthorizationStart, OidcFailure>;
    /// Exchanges the code (once) and verifies the ID token: signature, issuer, audience,
    /// nonce, expiry.
    async fn finish(
        &self,
        code: &str,
        pkce_verifier: &str,
        nonce: &str,
    ) -> Result<ExternalIdentity, OidcFailure>;
}
