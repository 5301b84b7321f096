//! Configuration from environment variables. Every variable is documented in the README and
//! in `.env.example`; a missing or malformed one stops start-up with an error naming it.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::str::FromStr;
use std::time::Duration;

use sqlx::postgres::PgConnectOptions;

/// How logs are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

/// The service's settings.
#[derive(Debug, Clone)]
pub struct Config {
    /// `DATABASE_URL` (required).
    pub database: PgConnectOptions,
    /// `NATS_URL` (required).
    pub nats_url: String,
    /// `BIND_ADDR`, default `127.0.0.1:8080`.
    pub bind_addr: SocketAddr,
    /// `LOG_FORMAT`: `text` (default) or `json`.
    pub log_format: LogFormat,
    /// `DATABASE_MAX_CONNECTIONS`, default 20.
    pub database_max_connections: u32,
    /// `DATABASE_ACQUIRE_TIMEOUT_MS`, default 3000: how long a request waits for a database
    /// connection before it answers 503.
    pub database_acquire_timeout: Duration,
    /// `MAX_BODY_BYTES`, default 65536: larger request bodies get 413.
    pub max_body_bytes: usize,
    /// `READ_YOUR_WRITES_TIMEOUT_MS`, default 5000: how long a write waits for its read
    /// model before answering anyway.
    pub read_your_writes_timeout: Duration,
    /// `NATS_SUBJECT_PREFIX`, default `rapt`: the first token of every subject the service
    /// publishes (`rapt.events.<aggregate_type>.<aggregate_id>`).
    pub nats_subject_prefix: String,
    /// `NATS_EVENTS_STREAM`, default `RAPT_EVENTS`: the JetStream stream of the relay.
    pub nats_events_stream: String,
    /// `NATS_DUPLICATE_WINDOW_SECS`, default 3600: JetStream de-duplication window of the
    /// relay's stream. A relay outage longer than this may publish an event twice.
    pub nats_duplicate_window: Duration,
    /// `REALTIME_RETENTION_MS`, default 86400000 (a day): how long a published live update
    /// stays available for catch-up (`GET /realtime/updates`) before it is pruned.
    pub realtime_retention: Duration,
    /// `SUBSCRIBER_POLL_INTERVAL_MS`, default 1000: how often idle subscribers look at the
    /// log without being woken.
    pub subscriber_poll_interval: Duration,
    /// `SUBSCRIBER_TAKEOVER_INTERVAL_MS`, default 1000: how often a standby process tries to
    /// take over a subscriber.
    pub subscriber_takeover_interval: Duration,
    /// `REACTIONS_FAULT_AFTER_COMMANDS`, unset by default. Fault injection for tests: the
    /// reactions subscriber's first batch fails after this many notification commands, as if
    /// the process had crashed mid-batch. Never set it in production.
    pub reactions_fault_after: Option<usize>,
    /// The workflows' delays: `STRUGGLE_RECHECK_AFTER_MS` (300000), `SAFETY_ACK_TIMEOUT_MS`
    /// (900000), `SAFETY_SAME_DAY_ACK_TIMEOUT_MS` (28800000), `SAFETY_FOLLOW_UP_AFTER_MS`
    /// (86400000).
    pub workflows: application::workflows::WorkflowSettings,
    /// `METRICS_ENABLED`, default true: false records nothing and makes `GET /metrics` a 404.
    pub metrics_enabled: bool,
    /// `METRICS_TOKEN`: when set, `GET /metrics` asks for it as a bearer token; unset, the
    /// metrics are open (scraped from inside the network).
    pub metrics_token: Option<MetricsToken>,
    pub auth: AuthConfig,
    pub realtime_credentials: RealtimeCredentialsConfig,
    pub http: HttpLimits,
    pub audit: AuditConfig,
}

/// The bearer token of `GET /metrics`; never printed.
#[derive(Clone)]
pub struct MetricsToken(String);

impl MetricsToken {
    /// Whether `presented` is the token (compared in constant time).
    pub fn matches(&self, presented: &str) -> bool {
        use subtle::ConstantTimeEq as _;
        self.0.as_bytes().ct_eq(presented.as_bytes()).into()
    }
}

impl std::fmt::Debug for MetricsToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MetricsToken(..)")
    }
}

/// The audit chain's settings (docs/adr/0015-a-tamper-evident-log.md).
#[derive(Debug, Clone)]
pub struct AuditConfig {
    /// `AUDIT_SIGNING_KEY` (an Ed25519 private key, PKCS#8 PEM as `openssl genpkey
    /// -algorithm ed25519` writes it) or `AUDIT_SIGNING_KEY_FILE` (a path to one). Unset:
    /// the log is sealed but no checkpoint is signed, and `/audit/public-key` is a 404.
    pub key: Option<std::sync::Arc<projections::audit::AuditKey>>,
    /// `AUDIT_CHECKPOINT_EVERY_EVENTS`, default 10000: a signed checkpoint after this many
    /// sealed events...
    pub checkpoint_every: i64,
    /// `AUDIT_CHECKPOINT_INTERVAL_MS`, default 60000: ...or when events were sealed and the
    /// last checkpoint is this old.
    pub checkpoint_interval: Duration,
    /// `NATS_AUDIT_STREAM`, default `RAPT_AUDIT`: the JetStream stream that keeps copies of
    /// the checkpoints (subject `<prefix>.audit.checkpoints`), outside the database.
    pub stream: String,
}

/// What the HTTP server allows a client connection: reverse proxies' kind of limits, so that
/// slow or idle clients cannot hold the service's connections (and file descriptors).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HttpLimits {
    /// `HTTP_HEADER_READ_TIMEOUT_MS`, default 10000: from a request's first byte (or from
    /// the connection's opening, for its first request) until its head (request line and
    /// headers) is complete. Past it the connection gets `408 request-timeout` and is closed.
    pub header_read_timeout: Duration,
    /// `HTTP_BODY_READ_TIMEOUT_MS`, default 30000: how long reading a request body may take
    /// in all. Past it: `408 request-timeout`, and the connection is closed.
    pub body_read_timeout: Duration,
    /// `HTTP_IDLE_TIMEOUT_MS`, default 60000: how long a kept-alive connection may wait for
    /// its next request, and how long a response may wait for the client to read it, before
    /// the connection is closed.
    pub idle_timeout: Duration,
    /// `HTTP_MAX_CONNECTIONS`, default 4096: open client connections at most. Further ones
    /// wait in the listen backlog until one closes.
    pub max_connections: usize,
}

/// Live dashboards' credentials (ADR 0011).
#[derive(Debug, Clone)]
pub struct RealtimeCredentialsConfig {
    /// `NATS_OPERATOR_SIGNING_SEED`, `NATS_ACCOUNT_SEED`, `NATS_SYSTEM_ACCOUNT_SEED` (all or
    /// none; `raptscallions nats-setup` writes them): without them the service connects to
    /// NATS without credentials and `POST /realtime/credentials` answers 503.
    pub keys: Option<crate::realtime::auth::NatsKeys>,
    /// `NATS_WEBSOCKET_URL`, default `ws://127.0.0.1:4223`: where dashboards connect.
    pub websocket_url: String,
    /// `REALTIME_CREDENTIAL_TTL_MS`, default 600000 (10 minutes): a credential's lifetime
    /// (never beyond the session that asked for it).
    pub ttl: Duration,
}

/// Identity and web settings.
#[derive(Debug, Clone)]
pub struct AuthConfig {
    /// `ARGON2_MEMORY_KIB` (19456), `ARGON2_ITERATIONS` (2), `ARGON2_PARALLELISM` (1).
    pub argon2: crate::passwords::Argon2Settings,
    /// `SMTP_URL`: unset means emails are not sent (and recorded as failed).
    pub smtp_url: Option<String>,
    /// `SMTP_FROM`, default `Raptscallions <no-reply@raptscallions.app>`.
    pub smtp_from: String,
    /// `FRONTEND_URL`, default `http://localhost:3000`: links in emails.
    pub frontend_url: String,
    /// `COOKIE_SECURE`, default true: the `Secure` attribute of the session cookie.
    pub cookie_secure: bool,
    /// `COOKIE_DOMAIN`: the cookie's `Domain` attribute, if set.
    pub cookie_domain: Option<String>,
    /// `ALLOWED_ORIGINS`: comma-separated origins allowed to make cookie-authenticated unsafe
    /// requests; default the origin of `FRONTEND_URL`.
    pub allowed_origins: Vec<String>,
    /// `AUTH_RATE_LIMIT_PER_MINUTE`, default 20: per IP, for each of register, login and
    /// password reset.
    pub auth_rate_limit_per_minute: u32,
    /// `TRUST_FORWARDED_FOR`, default false: take the client IP from the last
    /// `X-Forwarded-For` entry (only behind one proxy that sets or appends it).
    pub trust_forwarded_for: bool,
    /// `MAIL_RETRY_ATTEMPTS` (3) and `MAIL_RETRY_DELAY_MS` (1000, doubling).
    pub mail_retry_attempts: u32,
    pub mail_retry_delay: Duration,
    /// `RESET_TOKEN_TTL_MINUTES`, default 60.
    pub reset_token_ttl_minutes: i64,
    /// `SESSION_SWEEP_INTERVAL_MS`, default 600000 (10 minutes): how often sessions that
    /// expired without being used again are ended (reason `expired`).
    pub session_sweep_interval: Duration,
    /// The configured OpenID providers (`GOOGLE_*`, `MICROSOFT_*`, `CLEVER_*`); a provider
    /// without configuration is not offered.
    pub oidc_providers: Vec<crate::oidc::ProviderSettings>,
}

/// A variable is missing or malformed.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ConfigError {
    #[error("environment variable {0} is required but not set")]
    Missing(&'static str),
    #[error("environment variable {variable} is malformed: {reason}")]
    Malformed {
        variable: &'static str,
        reason: String,
    },
}

impl Config {
    /// Reads the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_vars(std::env::vars().collect())
    }

    /// Reads the given variables (tests pass their own).
    pub fn from_vars(vars: HashMap<String, String>) -> Result<Self, ConfigError> {
        let env = Env(vars);
        let database = database_options(&env)?;
        let nats_url = env.required("NATS_URL")?;
        if !(nats_url.starts_with("nats://")
            || nats_url.starts_with("tls://")
            || nats_url.starts_with("ws://")
            || nats_url.starts_with("wss://"))
        {
            return Err(ConfigError::Malformed {
                variable: "NATS_URL",
                reason: "expected nats://host:port".into(),
            });
        }
        let log_format = log_format(&env)?;
        Ok(Self {
            database,
            nats_url,
            bind_addr: env.parse("BIND_ADDR", "127.0.0.1:8080".parse().expect("default"))?,
            log_format,
            database_max_connections: env.parse("DATABASE_MAX_CONNECTIONS", 20)?,
            database_acquire_timeout: env.millis("DATABASE_ACQUIRE_TIMEOUT_MS", 3000)?,
            max_body_bytes: env.parse("MAX_BODY_BYTES", 64 * 1024)?,
            read_your_writes_timeout: env.millis("READ_YOUR_WRITES_TIMEOUT_MS", 5000)?,
            nats_subject_prefix: env.subject_token("NATS_SUBJECT_PREFIX", "rapt")?,
            nats_events_stream: env
                .optional("NATS_EVENTS_STREAM")
                .unwrap_or_else(|| "RAPT_EVENTS".into()),
            nats_duplicate_window: Duration::from_secs(
                env.parse("NATS_DUPLICATE_WINDOW_SECS", 3600)?,
            ),
            realtime_retention: env.millis("REALTIME_RETENTION_MS", 86_400_000)?,
            subscriber_poll_interval: env.millis("SUBSCRIBER_POLL_INTERVAL_MS", 1000)?,
            subscriber_takeover_interval: env.millis("SUBSCRIBER_TAKEOVER_INTERVAL_MS", 1000)?,
            reactions_fault_after: match env.optional("REACTIONS_FAULT_AFTER_COMMANDS") {
                Some(_) => Some(env.parse("REACTIONS_FAULT_AFTER_COMMANDS", 0)?),
                None => None,
            },
            workflows: application::workflows::WorkflowSettings {
                struggle_recheck_after: env.millis("STRUGGLE_RECHECK_AFTER_MS", 300_000)?,
                safety_ack_timeout: env.millis("SAFETY_ACK_TIMEOUT_MS", 900_000)?,
                safety_same_day_ack_timeout: env
                    .millis("SAFETY_SAME_DAY_ACK_TIMEOUT_MS", 28_800_000)?,
                safety_follow_up_after: env.millis("SAFETY_FOLLOW_UP_AFTER_MS", 86_400_000)?,
            },
            metrics_enabled: env.parse("METRICS_ENABLED", true)?,
            metrics_token: env
                .optional("METRICS_TOKEN")
                .filter(|t| !t.trim().is_empty())
                .map(MetricsToken),
            auth: auth_config(&env)?,
            realtime_credentials: realtime_credentials(&env)?,
            http: HttpLimits {
                header_read_timeout: env.millis("HTTP_HEADER_READ_TIMEOUT_MS", 10_000)?,
                body_read_timeout: env.millis("HTTP_BODY_READ_TIMEOUT_MS", 30_000)?,
                idle_timeout: env.millis("HTTP_IDLE_TIMEOUT_MS", 60_000)?,
                max_connections: env.parse("HTTP_MAX_CONNECTIONS", 4096_usize)?.max(1),
            },
            audit: audit_config(&env)?,
        })
    }
}

fn audit_config(env: &Env) -> Result<AuditConfig, ConfigError> {
    let pem = match (
        env.optional("AUDIT_SIGNING_KEY"),
        env.optional("AUDIT_SIGNING_KEY_FILE"),
    ) {
        (Some(_), Some(_)) => {
            return Err(ConfigError::Malformed {
                variable: "AUDIT_SIGNING_KEY_FILE",
                reason: "set AUDIT_SIGNING_KEY or AUDIT_SIGNING_KEY_FILE, not both".into(),
            })
        }
        (Some(pem), None) => Some(("AUDIT_SIGNING_KEY", pem)),
        (None, Some(path)) => Some((
            "AUDIT_SIGNING_KEY_FILE",
            std::fs::read_to_string(&path).map_err(|e| ConfigError::Malformed {
                variable: "AUDIT_SIGNING_KEY_FILE",
                reason: format!("cannot read {path}: {e}"),
            })?,
        )),
        (None, None) => None,
    };
    let key = pem
        .map(|(variable, pem)| {
            // Names the variable, never the value.
            projections::audit::AuditKey::from_pem(&pem)
                .map(std::sync::Arc::new)
                .map_err(|_| ConfigError::Malformed {
                    variable,
                    reason: "not an Ed25519 private key in PKCS#8 PEM".into(),
                })
        })
        .transpose()?;
    Ok(AuditConfig {
        key,
        checkpoint_every: env
            .parse("AUDIT_CHECKPOINT_EVERY_EVENTS", 10_000_i64)?
            .max(1),
        checkpoint_interval: env.millis("AUDIT_CHECKPOINT_INTERVAL_MS", 60_000)?,
        stream: env
            .optional("NATS_AUDIT_STREAM")
            .unwrap_or_else(|| "RAPT_AUDIT".into()),
    })
}

fn realtime_credentials(env: &Env) -> Result<RealtimeCredentialsConfig, ConfigError> {
    const SEEDS: [&str; 3] = [
        "NATS_OPERATOR_SIGNING_SEED",
        "NATS_ACCOUNT_SEED",
        "NATS_SYSTEM_ACCOUNT_SEED",
    ];
    let seeds: Vec<Option<String>> = SEEDS.iter().map(|name| env.optional(name)).collect();
    let keys = match seeds.as_slice() {
        [None, None, None] => None,
        [Some(operator), Some(account), Some(system)] => Some(
            crate::realtime::auth::NatsKeys::from_seeds(operator, account, system).map_err(
                // Names the variable, never the value.
                |e| {
                    let message = e.to_string();
                    ConfigError::Malformed {
                        variable: SEEDS
                            .into_iter()
                            .find(|name| message.starts_with(name))
                            .unwrap_or(SEEDS[0]),
                        reason: "not an nkey seed".into(),
                    }
                },
            )?,
        ),
        _ => {
            let missing = SEEDS
                .iter()
                .zip(&seeds)
                .find(|(_, value)| value.is_none())
                .map(|(name, _)| *name)
                .expect("one is missing");
            return Err(ConfigError::Missing(missing));
        }
    };
    let websocket_url = env
        .optional("NATS_WEBSOCKET_URL")
        .unwrap_or_else(|| "ws://127.0.0.1:4223".into());
    if !(websocket_url.starts_with("ws://") || websocket_url.starts_with("wss://")) {
        return Err(ConfigError::Malformed {
            variable: "NATS_WEBSOCKET_URL",
            reason: "expected ws://host:port or wss://host:port".into(),
        });
    }
    Ok(RealtimeCredentialsConfig {
        keys,
        websocket_url,
        ttl: env.millis("REALTIME_CREDENTIAL_TTL_MS", 600_000)?,
    })
}

/// Only what the database tools (`migrate`, `replay`) need: `DATABASE_URL` and `LOG_FORMAT`.
pub fn database_from_env() -> Result<(PgConnectOptions, LogFormat), ConfigError> {
    let env = Env(std::env::vars().collect());
    Ok((database_options(&env)?, log_format(&env)?))
}

fn database_options(env: &Env) -> Result<PgConnectOptions, ConfigError> {
    let url = env.required("DATABASE_URL")?;
    let malformed = |reason: String| ConfigError::Malformed {
        variable: "DATABASE_URL",
        reason,
    };
    // sqlx accepts any scheme; only PostgreSQL URLs make sense here.
    if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
        return Err(malformed(
            "expected postgres://user@host:port/database".into(),
        ));
    }
    PgConnectOptions::from_str(&url).map_err(|e| malformed(e.to_string()))
}

/// Only the audit key (for `verify`), if set.
pub fn audit_key_from_env(
) -> Result<Option<std::sync::Arc<projections::audit::AuditKey>>, ConfigError> {
    Ok(audit_config(&Env(std::env::vars().collect()))?.key)
}

/// Only the identity settings (for `create-admin`).
pub fn auth_from_env() -> Result<AuthConfig, ConfigError> {
    auth_config(&Env(std::env::vars().collect()))
}

fn auth_config(env: &Env) -> Result<AuthConfig, ConfigError> {
    let defaults = crate::passwords::Argon2Settings::default();
    let frontend_url = env
        .optional("FRONTEND_URL")
        .unwrap_or_else(|| "http://localhost:3000".into());
    let allowed_origins = match env.optional("ALLOWED_ORIGINS") {
        Some(list) => list
            .split(',')
            // Browsers serialize origins in lower case; a trailing slash in the setting is
            // tolerated (the CSRF check then compares exactly).
            .map(|o| o.trim().trim_end_matches('/').to_ascii_lowercase())
            .filter(|o| !o.is_empty())
            .collect(),
        None => vec![origin_of(&frontend_url).ok_or(ConfigError::Malformed {
            variable: "FRONTEND_URL",
            reason: "expected an absolute http(s) URL".into(),
        })?],
    };
    Ok(AuthConfig {
        argon2: crate::passwords::Argon2Settings {
            memory_kib: env.parse("ARGON2_MEMORY_KIB", defaults.memory_kib)?,
            iterations: env.parse("ARGON2_ITERATIONS", defaults.iterations)?,
            parallelism: env.parse("ARGON2_PARALLELISM", defaults.parallelism)?,
        },
        smtp_url: env.optional("SMTP_URL"),
        smtp_from: env
            .optional("SMTP_FROM")
            .unwrap_or_else(|| "Raptscallions <no-reply@raptscallions.app>".into()),
        frontend_url,
        cookie_secure: env.parse("COOKIE_SECURE", true)?,
        cookie_domain: env.optional("COOKIE_DOMAIN"),
        allowed_origins,
        auth_rate_limit_per_minute: env.parse("AUTH_RATE_LIMIT_PER_MINUTE", 20)?,
        trust_forwarded_for: env.parse("TRUST_FORWARDED_FOR", false)?,
        mail_retry_attempts: env.parse("MAIL_RETRY_ATTEMPTS", 3)?,
        mail_retry_delay: env.millis("MAIL_RETRY_DELAY_MS", 1000)?,
        reset_token_ttl_minutes: env.parse("RESET_TOKEN_TTL_MINUTES", 60)?,
        session_sweep_interval: env.millis("SESSION_SWEEP_INTERVAL_MS", 600_000)?,
        oidc_providers: oidc_providers(env)?,
    })
}

/// `<P>_CLIENT_ID`, `<P>_CLIENT_SECRET`, `<P>_REDIRECT_URI`, `<P>_ISSUER_URL`: all three of
/// the first, or none; a partial set names what is missing.
fn oidc_providers(env: &Env) -> Result<Vec<crate::oidc::ProviderSettings>, ConfigError> {
    use crate::oidc::{ProviderKind, ProviderSettings};
    let mut providers = Vec::new();
    let specs: [(&'static str, [&'static str; 4]); 3] = [
        (
            "google",
            [
                "GOOGLE_CLIENT_ID",
                "GOOGLE_CLIENT_SECRET",
                "GOOGLE_REDIRECT_URI",
                "GOOGLE_ISSUER_URL",
            ],
        ),
        (
            "microsoft",
            [
                "MICROSOFT_CLIENT_ID",
                "MICROSOFT_CLIENT_SECRET",
                "MICROSOFT_REDIRECT_URI",
                "MICROSOFT_ISSUER_URL",
            ],
        ),
        (
            "clever",
            [
                "CLEVER_CLIENT_ID",
                "CLEVER_CLIENT_SECRET",
                "CLEVER_REDIRECT_URI",
                "CLEVER_ISSUER_URL",
            ],
        ),
    ];
    for (name, [id, secret, redirect, issuer]) in specs {
        let values = [
            env.optional(id),
            env.optional(secret),
            env.optional(redirect),
        ];
        if values.iter().all(Option::is_none) {
            continue;
        }
        let [Some(client_id), Some(client_secret), Some(redirect_uri)] = values else {
            let missing = [id, secret, redirect]
                .into_iter()
                .zip(&values)
                .find(|(_, v)| v.is_none())
                .map(|(n, _)| n)
                .unwrap_or(id);
            return Err(ConfigError::Missing(missing));
        };
        if !(redirect_uri.starts_with("http://") || redirect_uri.starts_with("https://")) {
            return Err(ConfigError::Malformed {
                variable: redirect,
                reason: "expected an absolute http(s) URL".into(),
            });
        }
        let (kind, default_issuer) = match name {
            "google" => (
                ProviderKind::Google,
                "https://accounts.google.com".to_owned(),
            ),
            "microsoft" => {
                let tenant = env
                    .optional("MICROSOFT_TENANT_ID")
                    .unwrap_or_else(|| "common".into());
                let allowed = match env.optional("MICROSOFT_ALLOWED_TENANTS").as_deref() {
                    Some("*") => None,
                    Some(list) => Some(
                        list.split(',')
                            .map(|t| t.trim().to_owned())
                            .filter(|t| !t.is_empty())
                            .collect(),
                    ),
                    // A single-tenant app accepts its tenant; a multi-tenant one nobody
                    // until the tenants are listed.
                    None if tenant != "common" && tenant != "organizations" => {
                        Some(vec![tenant.clone()])
                    }
                    None => Some(vec![]),
                };
                (
                    ProviderKind::Microsoft {
                        allowed_tenants: allowed,
                    },
                    format!("https://login.microsoftonline.com/{tenant}/v2.0"),
                )
            }
            _ => (ProviderKind::Clever, "https://clever.com".to_owned()),
        };
        providers.push(ProviderSettings {
            kind,
            client_id,
            client_secret,
            redirect_uri,
            issuer_url: env.optional(issuer).unwrap_or(default_issuer),
        });
    }
    Ok(providers)
}

/// `scheme://host[:port]` of an absolute http(s) URL.
fn origin_of(url: &str) -> Option<String> {
    let (scheme, rest) = url.split_once("://")?;
    if scheme != "http" && scheme != "https" {
        return None;
    }
    let host = rest.split('/').next().filter(|h| !h.is_empty())?;
    Some(format!("{scheme}://{host}"))
}

fn log_format(env: &Env) -> Result<LogFormat, ConfigError> {
    match env.optional("LOG_FORMAT").as_deref() {
        None | Some("text") => Ok(LogFormat::Text),
        Some("json") => Ok(LogFormat::Json),
        Some(other) => Err(ConfigError::Malformed {
            variable: "LOG_FORMAT",
            reason: format!("expected text or json, got {other:?}"),
        }),
    }
}

struct Env(HashMap<String, String>);

impl Env {
    fn optional(&self, name: &str) -> Option<String> {
        self.0
            .get(name)
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty())
    }

    fn required(&self, name: &'static str) -> Result<String, ConfigError> {
        self.optional(name).ok_or(ConfigError::Missing(name))
    }

    fn parse<T: FromStr>(&self, name: &'static str, default: T) -> Result<T, ConfigError>
    where
        T::Err: std::fmt::Display,
    {
        match self.optional(name) {
            None => Ok(default),
            Some(raw) => raw.parse().map_err(|e: T::Err| ConfigError::Malformed {
                variable: name,
                reason: e.to_string(),
            }),
        }
    }

    fn subject_token(&self, name: &'static str, default: &str) -> Result<String, ConfigError> {
        let value = self.optional(name).unwrap_or_else(|| default.to_owned());
        if value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            Ok(value)
        } else {
            Err(ConfigError::Malformed {
                variable: name,
                reason: "only letters, digits, - and _ are allowed".into(),
            })
        }
    }

    fn millis(&self, name: &'static str, default: u64) -> Result<Duration, ConfigError> {
        self.parse(name, default).map(Duration::from_millis)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    const BASE: [(&str, &str); 2] = [
        ("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/rapt"),
        ("NATS_URL", "nats://127.0.0.1:4222"),
    ];

    #[test]
    fn defaults_apply() {
        let config = Config::from_vars(vars(&BASE)).unwrap();
        assert_eq!(config.bind_addr, "127.0.0.1:8080".parse().unwrap());
        assert_eq!(config.max_body_bytes, 65536);
        assert_eq!(config.log_format, LogFormat::Text);
        assert_eq!(
            config.http,
            HttpLimits {
                header_read_timeout: Duration::from_secs(10),
                body_read_timeout: Duration::from_secs(30),
                idle_timeout: Duration::from_secs(60),
                max_connections: 4096,
            }
        );
        // The session cookie is `Secure` and host-only unless configured otherwise.
        assert!(config.auth.cookie_secure);
        assert_eq!(config.auth.cookie_domain, None);
        // Live updates stay available for catch-up for a day.
        assert_eq!(config.realtime_retention, Duration::from_secs(86_400));
        // The workflows' delays: five minutes, fifteen minutes, eight hours, a day.
        let workflows = config.workflows;
        assert_eq!(
            workflows.struggle_recheck_after,
            Duration::from_millis(300_000)
        );
        assert_eq!(workflows.safety_ack_timeout, Duration::from_millis(900_000));
        assert_eq!(
            workflows.safety_same_day_ack_timeout,
            Duration::from_millis(28_800_000)
        );
        assert_eq!(
            workflows.safety_follow_up_after,
            Duration::from_millis(86_400_000)
        );
        // A live dashboard's credential lives 10 minutes; without the NATS seeds none is
        // issued.
        assert_eq!(config.realtime_credentials.ttl, Duration::from_secs(600));
        assert!(config.realtime_credentials.keys.is_none());
        assert_eq!(
            config.realtime_credentials.websocket_url,
            "ws://127.0.0.1:4223"
        );
    }

    #[test]
    fn the_realtime_credential_lifetime_is_configurable() {
        let mut v = vars(&BASE);
        v.insert("REALTIME_CREDENTIAL_TTL_MS".into(), "90000".into());
        let config = Config::from_vars(v).unwrap();
        assert_eq!(config.realtime_credentials.ttl, Duration::from_secs(90));
    }

    #[test]
    fn missing_variables_are_named() {
        let err = Config::from_vars(vars(&BASE[1..])).unwrap_err();
        assert_eq!(err, ConfigError::Missing("DATABASE_URL"));
        assert!(err.to_string().contains("DATABASE_URL"));
        let err = Config::from_vars(vars(&BASE[..1])).unwrap_err();
        assert_eq!(err, ConfigError::Missing("NATS_URL"));
    }

    #[test]
    fn malformed_variables_are_named() {
        for (name, value) in [
            ("BIND_ADDR", "localhost"),
            ("LOG_FORMAT", "xml"),
            ("MAX_BODY_BYTES", "-1"),
            ("DATABASE_URL", "mysql://x"),
            ("NATS_URL", "127.0.0.1:4222"),
            ("REALTIME_RETENTION_MS", "a day"),
            ("REALTIME_CREDENTIAL_TTL_MS", "10 minutes"),
        ] {
            let mut v = vars(&BASE);
            v.insert(name.into(), value.into());
            let err = Config::from_vars(v).unwrap_err();
            assert!(
                matches!(&err, ConfigError::Malformed { variable, .. } if *variable == name),
                "{name}: {err:?}"
            );
            assert!(err.to_string().contains(name));
        }
    }
}
