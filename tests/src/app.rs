//! The app under test: the real server, in this process, on a fresh database, with the
//! environment a test gives it; started, stopped and started again.

use std::collections::HashMap;
use std::sync::Arc;

use api::app::Overrides;
use api::Application;
use application::ports::ManualClock;
use infrastructure::Config;
use serde_json::Value;
use sqlx::PgPool;

use crate::database::TestDb;
use crate::processes::nats_url;

/// Settings a test may change before the app starts.
#[derive(Clone, Default)]
pub struct TestOptions {
    /// Use this NATS server instead of the machine's.
    pub nats_url: Option<String>,
    /// Extra or overriding environment variables.
    pub env: Vec<(String, String)>,
    /// A clock the test moves (default: the system clock).
    pub clock: Option<Arc<ManualClock>>,
}

impl TestOptions {
    /// Emails go to `sink`; `extra` environment variables beside.
    pub fn mailing_to(sink: &crate::processes::SmtpSink, extra: &[(&str, &str)]) -> Self {
        let mut env = vec![("SMTP_URL".to_owned(), sink.url())];
        env.extend(
            extra
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
        );
        Self {
            env,
            ..Self::default()
        }
    }

    /// NATS is `server` (started with [`crate::NatsServer::start_secured`]), with the keys
    /// that let the app connect and issue realtime credentials.
    pub fn secured_nats(server: &crate::NatsServer, extra: &[(&str, &str)]) -> Self {
        let mut env: Vec<(String, String)> = server
            .secured()
            .keys
            .environment()
            .expect("seeds")
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v))
            .collect();
        env.push(("NATS_WEBSOCKET_URL".into(), server.websocket_url()));
        env.extend(
            extra
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
        );
        Self {
            nats_url: Some(server.url()),
            env,
            ..Self::default()
        }
    }
}

/// The email and password of the system admin every test app starts with.
pub const ADMIN_EMAIL: &str = "admin@test.example";
pub const ADMIN_PASSWORD: &str = "admin password 1";

/// The key that signs the test apps' audit checkpoints (a fixed seed: tests only).
pub fn test_audit_key() -> projections::audit::AuditKey {
    projections::audit::AuditKey::from_seed([7; 32])
}

/// The environment of a test app: fresh database, port 0, its own NATS subjects and stream.
pub fn test_env(db: &TestDb, options: &TestOptions) -> HashMap<String, String> {
    let tag = db.tag();
    let mut vars: HashMap<String, String> = [
        ("DATABASE_URL", db.url.clone()),
        (
            "NATS_URL",
            options.nats_url.clone().unwrap_or_else(nats_url),
        ),
        ("BIND_ADDR", "127.0.0.1:0".to_owned()),
        ("NATS_SUBJECT_PREFIX", format!("t{tag}")),
        ("NATS_EVENTS_STREAM", db.stream_name()),
        ("NATS_AUDIT_STREAM", db.audit_stream_name()),
        ("AUDIT_SIGNING_KEY", test_audit_key().to_pem()),
        ("DATABASE_MAX_CONNECTIONS", "10".to_owned()),
        ("SUBSCRIBER_TAKEOVER_INTERVAL_MS", "200".to_owned()),
        ("COOKIE_SECURE", "false".to_owned()),
        ("FRONTEND_URL", "http://app.test.example".to_owned()),
        ("AUTH_RATE_LIMIT_PER_MINUTE", "1000".to_owned()),
        ("MAIL_RETRY_DELAY_MS", "20".to_owned()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    for (k, v) in &options.env {
        vars.insert(k.clone(), v.clone());
    }
    vars
}

/// The real server, in this process, on a fresh database.
pub struct TestApp {
    pub address: String,
    /// The bearer token of the system admin created at start-up; the request helpers send it.
    pub token: String,
    pub clock: Option<Arc<ManualClock>>,
    pub pool: PgPool,
    pub http: reqwest::Client,
    pub config: Config,
    app: Option<Application>,
    pub db: TestDb,
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(TestOptions::default()).await
}

pub async fn spawn_app_with(options: TestOptions) -> TestApp {
    let db = TestDb::create().await;
    let (config, app) = start(&db, &options, "the application starts").await;
    let address = format!("http://127.0.0.1:{}", app.port());
    let identity = &app.services().identity;
    let context = application::CommandContext {
        actor: "test".into(),
        correlation_id: "test-setup".into(),
        causation_id: None,
    };
    identity
        .create_account(
            &context,
            domain::user::Email::parse(ADMIN_EMAIL).unwrap(),
            domain::user::DisplayName::parse("Test Admin").unwrap(),
            &domain::user::Password::parse(ADMIN_PASSWORD).unwrap(),
            true,
        )
        .await
        .expect("create the test admin");
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("http client");
    let login: Value = http
        .post(format!("{address}/auth/login"))
        .json(&serde_json::json!({"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD}))
        .send()
        .await
        .expect("login")
        .json()
        .await
        .expect("login json");
    let token = login["token"].as_str().expect("admin token").to_owned();
    TestApp {
        address,
        token,
        clock: options.clock.clone(),
        pool: db.pool().await,
        http,
        config,
        app: Some(app),
        db,
    }
}

/// Builds and starts the application on `db` with `options`; panics with `what` when it
/// does not start.
async fn start(db: &TestDb, options: &TestOptions, what: &str) -> (Config, Application) {
    // The app's logs, for a test run with RUST_LOG set (`RUST_LOG=warn cargo test …`).
    if std::env::var_os("RUST_LOG").is_some() {
        infrastructure::telemetry::init(infrastructure::config::LogFormat::Text);
    }
    let config = Config::from_vars(test_env(db, options)).expect("test config");
    let mut overrides = Overrides::default();
    if let Some(clock) = &options.clock {
        overrides.clock = clock.clone();
    }
    let app = Application::build_with(config.clone(), overrides)
        .await
        .expect(what);
    (config, app)
}

impl TestApp {
    /// Stops the server (graceful) without dropping the database.
    pub async fn stop(&mut self) {
        if let Some(app) = self.app.take() {
            app.stop().await;
        }
    }

    /// Starts the server again on the same database after [`TestApp::stop`], with `options`
    /// (a new port; the admin token stays valid, its session is in the database).
    pub async fn restart_with(&mut self, options: TestOptions) {
        assert!(self.app.is_none(), "stop the app before restarting it");
        let (config, app) = start(&self.db, &options, "the application restarts").await;
        self.address = format!("http://127.0.0.1:{}", app.port());
        self.config = config;
        self.clock = options.clock.clone();
        self.app = Some(app);
    }

    pub fn application(&self) -> &Application {
        self.app.as_ref().expect("running")
    }
}
