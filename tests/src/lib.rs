//! The test harness: a fresh database per test (dropped afterwards), the real server on port
//! 0, a real NATS (the machine's, or a private `nats-server` the test controls), and helpers
//! that wait for the projections instead of sleeping.

use std::collections::HashMap;
use std::net::TcpListener as StdTcpListener;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use std::sync::Arc;

use api::app::Overrides;
use api::Application;
use application::ports::ManualClock;
use infrastructure::Config;
use serde_json::Value;
use sqlx::{Connection, PgConnection, PgPool};
use tokio::process::{Child, Command};
use uuid::Uuid;

/// The admin connection that creates and drops test databases.
pub fn admin_url() -> String {
    std::env::var("TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned())
}

/// The shared NATS server of the machine.
pub fn nats_url() -> String {
    std::env::var("NATS_URL").unwrap_or_else(|_| "nats://127.0.0.1:4222".to_owned())
}

fn with_database(url: &str, name: &str) -> String {
    let (base, _) = url.rsplit_once('/').expect("database URL has a path");
    format!("{base}/{name}")
}

/// A database that exists for one test and is dropped (forcibly) when this is dropped.
pub struct TestDb {
    pub name: String,
    pub url: String,
}

impl TestDb {
    pub async fn create() -> Self {
        let name = format!("rapt_test_{}", Uuid::new_v4().simple());
        let mut admin = PgConnection::connect(&admin_url())
            .await
            .expect("connect to TEST_DATABASE_URL");
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&mut admin)
            .await
            .expect("create test database");
        let _ = admin.close().await;
        let url = with_database(&admin_url(), &name);
        Self { name, url }
    }

    /// A pool on the admin database (for ALTER DATABASE and the like).
    pub async fn admin_pool() -> PgPool {
        sqlx::postgres::PgPoolOptions::new()
            .max_connections(2)
            .connect(&admin_url())
            .await
            .expect("connect to TEST_DATABASE_URL")
    }

    pub async fn pool(&self) -> PgPool {
        sqlx::postgres::PgPoolOptions::new()
            .max_connections(5)
            .connect(&self.url)
            .await
            .expect("connect to the test database")
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let name = self.name.clone();
        // Drop runs inside (or outside) a runtime: do the async work on a thread of its own.
        let _ = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            runtime.block_on(async move {
                if let Ok(mut admin) = PgConnection::connect(&admin_url()).await {
                    let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                        .execute(&mut admin)
                        .await;
                }
                // The relay stream this test's app created on the shared NATS server.
                if let Ok(client) = async_nats::connect(nats_url()).await {
                    let jetstream = async_nats::jetstream::new(client);
                    let _ = jetstream.delete_stream(stream_name(&name)).await;
                }
            });
        })
        .join();
    }
}

/// Waits (up to 5 s, then panics) until something accepts connections on `port`.
async fn wait_for_port(port: u16, what: &str) {
    for _ in 0..200 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("{what} did not start on port {port}");
}

/// A free TCP port on the loopback interface.
pub fn free_port() -> u16 {
    StdTcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port()
}

/// A private `nats-server` with JetStream that the test can stop and restart (same port,
/// same storage directory).
pub struct NatsServer {
    pub port: u16,
    dir: PathBuf,
    child: Option<Child>,
}

impl NatsServer {
    pub async fn start() -> Self {
        let dir = std::env::temp_dir().join(format!("rapt-nats-{}", Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).expect("nats dir");
        let mut server = Self {
            port: free_port(),
            dir,
            child: None,
        };
        server.restart().await;
        server
    }

    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    /// Starts the server (again), waiting until it accepts connections.
    pub async fn restart(&mut self) {
        assert!(self.child.is_none(), "already running");
        let child = Command::new("nats-server")
            .args([
                "-a",
                "127.0.0.1",
                "-p",
                &self.port.to_string(),
                "-js",
                "-sd",
            ])
            .arg(&self.dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("nats-server must be installed (scripts/services.sh installs it)");
        self.child = Some(child);
        wait_for_port(self.port, "nats-server").await;
    }

    /// Kills the server.
    pub async fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill().await;
            let _ = child.wait().await;
        }
    }
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        if let Some(child) = self.child.as_mut() {
            let _ = child.start_kill();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

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

/// The email and password of the system admin every test app starts with.
pub const ADMIN_EMAIL: &str = "admin@test.example";
pub const ADMIN_PASSWORD: &str = "admin password 1";

fn tag(db_name: &str) -> String {
    db_name.trim_start_matches("rapt_test_")[..12].to_owned()
}

fn stream_name(db_name: &str) -> String {
    format!("T{}_EVENTS", tag(db_name))
}

/// The environment of a test app: fresh database, port 0, its own NATS subjects and stream.
pub fn test_env(db: &TestDb, options: &TestOptions) -> HashMap<String, String> {
    let tag = tag(&db.name);
    let mut vars: HashMap<String, String> = [
        ("DATABASE_URL", db.url.clone()),
        (
            "NATS_URL",
            options.nats_url.clone().unwrap_or_else(nats_url),
        ),
        ("BIND_ADDR", "127.0.0.1:0".to_owned()),
        ("NATS_SUBJECT_PREFIX", format!("t{tag}")),
        ("NATS_EVENTS_STREAM", stream_name(&db.name)),
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
    let config = Config::from_vars(test_env(&db, &options)).expect("test config");
    let mut overrides = Overrides::default();
    if let Some(clock) = &options.clock {
        overrides.clock = clock.clone();
    }
    let app = Application::build_with(config.clone(), overrides)
        .await
        .expect("the application starts");
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

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    /// A request as the test's system admin.
    pub fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        self.http
            .request(method, self.url(path))
            .bearer_auth(&self.token)
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.request(reqwest::Method::GET, path)
            .send()
            .await
            .expect("GET")
    }

    pub async fn post(&self, path: &str) -> reqwest::Response {
        self.request(reqwest::Method::POST, path)
            .send()
            .await
            .expect("POST")
    }

    pub async fn post_json(&self, path: &str, body: &Value) -> reqwest::Response {
        self.request(reqwest::Method::POST, path)
            .json(body)
            .send()
            .await
            .expect("POST")
    }

    pub async fn patch_json(&self, path: &str, body: &Value) -> reqwest::Response {
        self.request(reqwest::Method::PATCH, path)
            .json(body)
            .send()
            .await
            .expect("PATCH")
    }

    /// A request as the user holding `token`, with an optional JSON body.
    pub async fn call_as(
        &self,
        token: &str,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> reqwest::Response {
        let mut request = self.http.request(method, self.url(path)).bearer_auth(token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        request.send().await.expect("request")
    }

    /// The status of [`TestApp::call_as`].
    pub async fn status_as(
        &self,
        token: &str,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> u16 {
        self.call_as(token, method, path, body)
            .await
            .status()
            .as_u16()
    }

    /// The number of events of one aggregate type.
    pub async fn count_events(&self, aggregate_type: &str) -> i64 {
        sqlx::query_scalar("SELECT count(*) FROM events WHERE aggregate_type = $1")
            .bind(aggregate_type)
            .fetch_one(&self.pool)
            .await
            .expect("count events")
    }

    /// Creates a group and returns its JSON.
    pub async fn create_group(&self, name: &str, parent: Option<&str>) -> Value {
        let response = self
            .post_json(
                "/groups",
                &serde_json::json!({"name": name, "parent_id": parent}),
            )
            .await;
        assert_eq!(response.status(), 201, "create group {name}");
        response.json().await.expect("group json")
    }

    /// The number of events in the log.
    pub async fn log_length(&self) -> i64 {
        sqlx::query_scalar("SELECT count(*) FROM events")
            .fetch_one(&self.pool)
            .await
            .expect("count events")
    }

    /// The newest position in the log (0 when empty).
    pub async fn log_head(&self) -> i64 {
        projections::log::head(&self.pool).await.expect("head")
    }

    /// Holds projection `name` back until the returned transaction ends (commit or drop):
    /// its next batch waits for the checkpoint row this locks. For tests of what is answered
    /// before a read model has a write.
    pub async fn hold_projection(&self, name: &str) -> sqlx::Transaction<'static, sqlx::Postgres> {
        let mut hold = self.pool.begin().await.expect("begin");
        sqlx::query("SELECT 1 FROM subscriber_checkpoints WHERE name = $1 FOR UPDATE")
            .bind(name)
            .execute(&mut *hold)
            .await
            .expect("lock the checkpoint row");
        hold
    }

    /// Waits until every subscriber's checkpoint has reached the current end of the log.
    pub async fn wait_for_subscribers(&self) {
        let head = self.log_head().await;
        wait_for_checkpoints(
            &self.pool,
            head,
            &[
                "groups",
                "identity",
                "learning",
                "assessments",
                "notifications",
                "dashboards",
                "nats-relay",
            ],
        )
        .await;
    }

    /// Stops the server (graceful) without dropping the database.
    pub async fn stop(&mut self) {
        if let Some(app) = self.app.take() {
            app.stop().await;
        }
    }

    pub fn application(&self) -> &Application {
        self.app.as_ref().expect("running")
    }
}

/// Waits (up to 30 s, then panics) until each named checkpoint is at or past `position`.
pub async fn wait_for_checkpoints(pool: &PgPool, position: i64, names: &[&str]) {
    for _ in 0..3000 {
        let rows: Vec<(String, i64)> =
            sqlx::query_as("SELECT name, position FROM subscriber_checkpoints")
                .fetch_all(pool)
                .await
                .expect("checkpoints");
        let done = names
            .iter()
            .all(|name| rows.iter().any(|(n, p)| n == name && *p >= position));
        if done {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("subscribers {names:?} did not reach position {position}");
}

/// The `raptscallions` binary built next to the tests (`cargo build --bin raptscallions`;
/// the README's test command does it first).
pub fn server_binary() -> PathBuf {
    let binary = server_binary_path();
    assert!(
        binary.exists(),
        "{} is missing: run `cargo build --bin raptscallions` first",
        binary.display()
    );
    binary
}

/// Where the `raptscallions` binary of this build profile is (or would be): test binaries
/// live in `target/<profile>/deps`, other binaries (the benchmarks) in `target/<profile>`.
pub fn server_binary_path() -> PathBuf {
    let exe = std::env::current_exe().expect("current exe");
    let mut dir = exe.parent().expect("target dir");
    if dir.ends_with("deps") {
        dir = dir.parent().expect("target dir");
    }
    dir.join("raptscallions")
}

/// A `raptscallions serve` process.
pub struct ServerProcess {
    pub port: u16,
    child: Child,
}

impl ServerProcess {
    /// Starts `raptscallions serve` with `env` on a free port and waits until it answers.
    pub async fn start(env: &HashMap<String, String>) -> Self {
        Self::start_logging(env, None).await
    }

    /// Like [`ServerProcess::start`], writing the process's stdout and stderr to `log` (with
    /// the `RUST_LOG` of `env`, default `warn`).
    pub async fn start_logging(
        env: &HashMap<String, String>,
        log: Option<&std::path::Path>,
    ) -> Self {
        Self::start_on(env, log, None).await
    }

    /// Like [`ServerProcess::start_logging`], on the CPUs `cpus` (a `taskset` list such as
    /// `0` or `0-3`) when given: the process sees only those (its async workers and hashing
    /// permits follow), as on a machine of that size.
    pub async fn start_on(
        env: &HashMap<String, String>,
        log: Option<&std::path::Path>,
        cpus: Option<&str>,
    ) -> Self {
        let port = free_port();
        let (stdout, stderr) = match log {
            Some(path) => {
                let file = std::fs::File::create(path).expect("log file");
                (
                    Stdio::from(file.try_clone().expect("dup")),
                    Stdio::from(file),
                )
            }
            None => (Stdio::null(), Stdio::null()),
        };
        let mut command = match cpus {
            Some(cpus) => {
                let mut taskset = Command::new("taskset");
                taskset.args(["-c", cpus]).arg(server_binary());
                taskset
            }
            None => Command::new(server_binary()),
        };
        let child = command
            .arg("serve")
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("RUST_LOG", "warn")
            .envs(env)
            .env("BIND_ADDR", format!("127.0.0.1:{port}"))
            .stdout(stdout)
            .stderr(stderr)
            .kill_on_drop(true)
            .spawn()
            .expect("start raptscallions serve");
        let process = Self { port, child };
        let client = reqwest::Client::new();
        for _ in 0..600 {
            if client
                .get(process.url("/health"))
                .send()
                .await
                .is_ok_and(|r| r.status() == 200)
            {
                return process;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("raptscallions serve did not come up on port {port}");
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// The process id, while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.id()
    }

    /// SIGKILL: no graceful shutdown, as in a crash.
    pub async fn kill(mut self) {
        let _ = self.child.kill().await;
        let _ = self.child.wait().await;
    }
}

/// Runs `raptscallions <args>` to completion with `env`; returns (success, stdout+stderr).
pub async fn run_cli(env: &HashMap<String, String>, args: &[&str]) -> (bool, String) {
    let output = Command::new(server_binary())
        .args(args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .envs(env)
        .output()
        .await
        .expect("run raptscallions");
    let mut text = String::from_utf8_lossy(&output.stdout).into_owned();
    text.push_str(&String::from_utf8_lossy(&output.stderr));
    (output.status.success(), text)
}

/// A real SMTP server (Python's aiosmtpd, `support/smtp_sink.py`) that stores every message.
pub struct SmtpSink {
    pub port: u16,
    dir: PathBuf,
    child: Option<Child>,
}

/// A message the sink received.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct ReceivedEmail {
    pub from: String,
    pub to: Vec<String>,
    pub subject: String,
    pub body: String,
}

impl SmtpSink {
    pub async fn start() -> Self {
        let dir = std::env::temp_dir().join(format!("rapt-smtp-{}", Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).expect("smtp dir");
        let port = free_port();
        let mut sink = Self {
            port,
            dir,
            child: None,
        };
        sink.restart().await;
        sink
    }

    pub fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }

    /// Starts (again) on the same port.
    pub async fn restart(&mut self) {
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/support/smtp_sink.py");
        let child = Command::new("python3")
            .arg(script)
            .arg(self.port.to_string())
            .arg(&self.dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("python3 with aiosmtpd (scripts/test.sh installs it)");
        self.child = Some(child);
        wait_for_port(self.port, "the SMTP sink (is aiosmtpd installed?)").await;
    }

    pub async fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill().await;
            let _ = child.wait().await;
        }
    }

    /// Every message received so far, oldest first.
    pub fn messages(&self) -> Vec<ReceivedEmail> {
        let mut names: Vec<PathBuf> = std::fs::read_dir(&self.dir)
            .map(|d| d.filter_map(|e| e.ok().map(|e| e.path())).collect())
            .unwrap_or_default();
        names.retain(|p| p.extension().is_some_and(|e| e == "json"));
        names.sort();
        names
            .iter()
            .filter_map(|p| std::fs::read(p).ok())
            .filter_map(|b| serde_json::from_slice(&b).ok())
            .collect()
    }

    /// Waits (up to 15 s) for the `n`-th message (1-based) to `to`.
    pub async fn wait_for(&self, to: &str, n: usize) -> ReceivedEmail {
        for _ in 0..1500 {
            let found: Vec<ReceivedEmail> = self
                .messages()
                .into_iter()
                .filter(|m| m.to.iter().any(|t| t == to))
                .collect();
            if found.len() >= n {
                return found[n - 1].clone();
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("no message #{n} to {to} arrived");
    }
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        if let Some(child) = self.child.as_mut() {
            let _ = child.start_kill();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Registers a user (named "Test User") through the API; returns (token, user json).
pub async fn register(app: &TestApp, email: &str, password: &str) -> (String, Value) {
    register_named(app, email, "Test User", password).await
}

/// Creates a system admin with the real `create-admin` command (password on stdin).
pub async fn create_admin_cli(env: &HashMap<String, String>, email: &str, password: &str) {
    use tokio::io::AsyncWriteExt as _;
    let mut child = Command::new(server_binary())
        .args(["create-admin", "--email", email, "--name", "Admin"])
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .envs(env)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("run create-admin");
    let mut stdin = child.stdin.take().expect("stdin");
    stdin
        .write_all(format!("{password}\n").as_bytes())
        .await
        .expect("write password");
    drop(stdin);
    assert!(child.wait().await.expect("create-admin").success());
}

/// The test OpenID provider (`support/oidc/provider.mjs`, node-oidc-provider) with issuers
/// for Google, an Entra tenant (plus the multi-tenant `common` document) and Clever.
pub struct OidcTestProvider {
    pub port: u16,
    child: Child,
}

impl OidcTestProvider {
    /// Starts it for an app that will listen on `app_port`.
    pub async fn start(app_port: u16) -> Self {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/support/oidc");
        assert!(
            std::path::Path::new(dir)
                .join("node_modules/oidc-provider")
                .exists(),
            "run `npm ci --prefix tests/support/oidc` (scripts/test.sh does)"
        );
        let port = free_port();
        let child = Command::new("node")
            .arg(format!("{dir}/provider.mjs"))
            .arg(port.to_string())
            .arg(format!("http://127.0.0.1:{app_port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("node must be installed");
        for _ in 0..400 {
            if reqwest::get(format!(
                "http://127.0.0.1:{port}/google/.well-known/openid-configuration"
            ))
            .await
            .is_ok_and(|r| r.status() == 200)
            {
                return Self { port, child };
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!("the test OpenID provider did not start");
    }

    pub fn base(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The environment that configures all three providers against this one.
    pub fn env(&self, app_port: u16, allowed_tenants: &str) -> Vec<(String, String)> {
        let base = self.base();
        let app = format!("http://127.0.0.1:{app_port}");
        let mut env = vec![("BIND_ADDR".to_owned(), format!("127.0.0.1:{app_port}"))];
        for (prefix, name, issuer) in [
            ("GOOGLE", "google", format!("{base}/google")),
            (
                "MICROSOFT",
                "microsoft",
                format!("{base}/entra/common/v2.0"),
            ),
            ("CLEVER", "clever", format!("{base}/clever")),
        ] {
            env.push((format!("{prefix}_CLIENT_ID"), format!("{name}-client")));
            env.push((format!("{prefix}_CLIENT_SECRET"), format!("{name}-secret")));
            env.push((
                format!("{prefix}_REDIRECT_URI"),
                format!("{app}/auth/{name}/callback"),
            ));
            env.push((format!("{prefix}_ISSUER_URL"), issuer));
        }
        env.push((
            "MICROSOFT_ALLOWED_TENANTS".to_owned(),
            allowed_tenants.to_owned(),
        ));
        env
    }

    /// Makes the next ID token broken: `expired`, `wrong_aud`, `nonce` or `tamper`.
    pub async fn fault(&self, mode: &str) {
        let response = reqwest::Client::new()
            .post(format!("{}/__fault?mode={mode}", self.base()))
            .send()
            .await
            .expect("fault");
        assert_eq!(response.status(), 204);
    }

    /// The login name that makes the provider assert these claims.
    pub fn login_for(claims: &Value) -> String {
        use base64::Engine as _;
        base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(serde_json::json!({ "claims": claims }).to_string())
    }
}

impl Drop for OidcTestProvider {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
    }
}

// ---------------------------------------------------------------------------------------------
// Fixtures for the notification, dashboard and assessment tests.
// ---------------------------------------------------------------------------------------------

impl TestApp {
    /// Starts the server again on the same database after [`TestApp::stop`], with `options`
    /// (a new port; the admin token stays valid, its session is in the database).
    pub async fn restart_with(&mut self, options: TestOptions) {
        assert!(self.app.is_none(), "stop the app before restarting it");
        let config = Config::from_vars(test_env(&self.db, &options)).expect("test config");
        let mut overrides = Overrides::default();
        if let Some(clock) = &options.clock {
            overrides.clock = clock.clone();
        }
        let app = Application::build_with(config.clone(), overrides)
            .await
            .expect("the application restarts");
        self.address = format!("http://127.0.0.1:{}", app.port());
        self.config = config;
        self.clock = options.clock.clone();
        self.app = Some(app);
    }

    /// Waits until every subscriber (whatever its name) has caught up with the log and the
    /// log has stopped growing (reactions append events of their own).
    pub async fn wait_for_all_subscribers(&self) {
        loop {
            let head = self.log_head().await;
            let names: Vec<String> = sqlx::query_scalar("SELECT name FROM subscriber_checkpoints")
                .fetch_all(&self.pool)
                .await
                .expect("checkpoint names");
            let names: Vec<&str> = names.iter().map(String::as_str).collect();
            wait_for_checkpoints(&self.pool, head, &names).await;
            if self.log_head().await == head {
                return;
            }
        }
    }

    /// The number of events of one event type.
    pub async fn count_event_type(&self, event_type: &str) -> i64 {
        sqlx::query_scalar("SELECT count(*) FROM events WHERE event_type = $1")
            .bind(event_type)
            .fetch_one(&self.pool)
            .await
            .expect("count events")
    }
}

/// Polls `probe` every 50 ms until it returns `Some`, for up to `timeout`; then panics with
/// `what`.
pub async fn eventually<T, F, Fut>(what: &str, timeout: Duration, mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if let Some(value) = probe().await {
            return value;
        }
        if tokio::time::Instant::now() >= deadline {
            panic!("timed out after {timeout:?} waiting for {what}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Registers a user with a display name through the API; returns (token, user json).
pub async fn register_named(
    app: &TestApp,
    email: &str,
    name: &str,
    password: &str,
) -> (String, Value) {
    let response = app
        .http
        .post(app.url("/auth/register"))
        .json(&serde_json::json!({"email": email, "name": name, "password": password}))
        .send()
        .await
        .expect("register");
    assert_eq!(response.status(), 201, "register {email}");
    let body: Value = response.json().await.expect("json");
    (
        body["token"].as_str().expect("token").to_owned(),
        body["user"].clone(),
    )
}

/// Someone in a [`SchoolFixture`].
#[derive(Debug, Clone)]
pub struct Person {
    pub id: String,
    pub token: String,
    pub email: String,
    pub name: String,
}

/// A district with a school and a sibling school; in the school the class "Algebra 1" (two
/// teachers, one student with a started learning session) and the class "Biology" (another
/// teacher); a counselor on the district, an admin and a plain member on the school, an admin
/// on the sibling; a tool of the district; service accounts on the school and on the sibling.
pub struct SchoolFixture {
    pub district: String,
    pub school: String,
    pub sibling: String,
    pub class: String,
    pub class_name: String,
    pub other_class: String,
    pub teachers: Vec<Person>,
    pub student: Person,
    pub other_teacher: Person,
    pub counselor: Person,
    pub school_admin: Person,
    pub member: Person,
    pub sibling_admin: Person,
    pub tool: String,
    /// The secret of the service account on the school.
    pub service: String,
    /// The secret of the service account on the sibling school.
    pub foreign_service: String,
    /// The student's active learning session in the class.
    pub session: String,
}

const FIXTURE_PASSWORD: &str = "fixture password 1";

fn json_id(value: &Value) -> String {
    value["id"].as_str().expect("id").to_owned()
}

impl SchoolFixture {
    pub async fn build(app: &TestApp) -> Self {
        let district = json_id(&app.create_group("Northwind District", None).await);
        let school = json_id(&app.create_group("Hill School", Some(&district)).await);
        let sibling = json_id(&app.create_group("Vale School", Some(&district)).await);
        let class_name = "Algebra 1".to_owned();
        let class = Self::create_class(app, &school, &class_name).await;
        let other_class = Self::create_class(app, &school, "Biology").await;
        let tool = app
            .post_json(
                &format!("/groups/{district}/tools"),
                &serde_json::json!({"name": "Socratic tutor"}),
            )
            .await;
        assert_eq!(tool.status(), 201, "create tool");
        let tool = json_id(&tool.json().await.expect("tool json"));

        let teacher_a = Self::person(app, "tess.teacher", "Tess Teacher").await;
        let teacher_b = Self::person(app, "theo.teacher", "Theo Teacher").await;
        let student = Self::person(app, "sam.student", "Sam Student").await;
        let other_teacher = Self::person(app, "olga.other", "Olga Other").await;
        let counselor = Self::person(app, "cora.counselor", "Cora Counselor").await;
        let school_admin = Self::person(app, "ada.admin", "Ada Admin").await;
        let member = Self::person(app, "mel.member", "Mel Member").await;
        let sibling_admin = Self::person(app, "sid.sibling", "Sid Sibling").await;
        for (person, role) in [
            (&teacher_a, "teacher"),
            (&teacher_b, "teacher"),
            (&student, "student"),
        ] {
            Self::put_role(
                app,
                &format!("/classes/{class}/members/{}", person.id),
                role,
            )
            .await;
        }
        Self::put_role(
            app,
            &format!("/classes/{other_class}/members/{}", other_teacher.id),
            "teacher",
        )
        .await;
        for (group, person, role) in [
            (&district, &counselor, "counselor"),
            (&school, &school_admin, "admin"),
            (&school, &member, "member"),
            (&sibling, &sibling_admin, "admin"),
        ] {
            Self::put_role(app, &format!("/groups/{group}/members/{}", person.id), role).await;
        }

        let service = Self::service_account(app, "Tutoring service", &school).await;
        let foreign_service = Self::service_account(app, "Vale tutoring", &sibling).await;
        let mut fixture = Self {
            district,
            school,
            sibling,
            class,
            class_name,
            other_class,
            teachers: vec![teacher_a, teacher_b],
            student,
            other_teacher,
            counselor,
            school_admin,
            member,
            sibling_admin,
            tool,
            service,
            foreign_service,
            session: String::new(),
        };
        let session = fixture.start_session(app, &fixture.student).await;
        fixture.session = session;
        fixture
    }

    async fn create_class(app: &TestApp, group: &str, name: &str) -> String {
        let response = app
            .post_json(
                &format!("/groups/{group}/classes"),
                &serde_json::json!({"name": name}),
            )
            .await;
        assert_eq!(response.status(), 201, "create class {name}");
        json_id(&response.json().await.expect("class json"))
    }

    async fn person(app: &TestApp, local: &str, name: &str) -> Person {
        let email = format!("{local}@school.example");
        let (token, user) = register_named(app, &email, name, FIXTURE_PASSWORD).await;
        Person {
            id: json_id(&user),
            token,
            email,
            name: name.to_owned(),
        }
    }

    async fn put_role(app: &TestApp, path: &str, role: &str) {
        let response = app
            .request(reqwest::Method::PUT, path)
            .json(&serde_json::json!({"role": role}))
            .send()
            .await
            .expect("PUT member");
        assert_eq!(response.status(), 200, "PUT {path} as {role}");
    }

    async fn service_account(app: &TestApp, name: &str, group: &str) -> String {
        let response = app
            .post_json(
                "/service-accounts",
                &serde_json::json!({"name": name, "group_ids": [group]}),
            )
            .await;
        assert_eq!(response.status(), 201, "create service account {name}");
        let body: Value = response.json().await.expect("service account json");
        body["secret"].as_str().expect("secret").to_owned()
    }

    /// Registers one more student of the class.
    pub async fn add_student(&self, app: &TestApp, local: &str, name: &str) -> Person {
        let student = Self::person(app, local, name).await;
        Self::put_role(
            app,
            &format!("/classes/{}/members/{}", self.class, student.id),
            "student",
        )
        .await;
        student
    }

    /// `student` starts a learning session in the class with the fixture's tool.
    pub async fn start_session(&self, app: &TestApp, student: &Person) -> String {
        let response = app
            .call_as(
                &student.token,
                reqwest::Method::POST,
                "/learning-sessions",
                Some(serde_json::json!({"class_id": self.class, "tool_id": self.tool})),
            )
            .await;
        assert_eq!(response.status(), 201, "start a learning session");
        json_id(&response.json().await.expect("session json"))
    }

    /// Every person of the fixture, with a label for assertion messages.
    pub fn everyone(&self) -> Vec<(&'static str, &Person)> {
        vec![
            ("teacher A", &self.teachers[0]),
            ("teacher B", &self.teachers[1]),
            ("student", &self.student),
            ("teacher of another class", &self.other_teacher),
            ("district counselor", &self.counselor),
            ("school admin", &self.school_admin),
            ("school member", &self.member),
            ("sibling-school admin", &self.sibling_admin),
        ]
    }
}

/// A request as `token`; returns the status and the JSON body (`Null` when there is none).
pub async fn send(
    app: &TestApp,
    token: &str,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let response = app.call_as(token, method, path, body).await;
    let status = response.status().as_u16();
    let text = response.text().await.expect("body");
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

/// Sends `method path` (with `body`) as each `(who, token, expected status)`; panics listing
/// every caller that got another status.
pub async fn assert_statuses(
    app: &TestApp,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
    rows: &[(&str, &String, u16)],
) {
    let mut wrong = vec![];
    for (who, token, expected) in rows {
        let status = app
            .status_as(token, method.clone(), path, body.clone())
            .await;
        if status != *expected {
            wrong.push(format!("{who}: expected {expected}, got {status}"));
        }
    }
    assert!(wrong.is_empty(), "{method} {path}: {wrong:#?}");
}
