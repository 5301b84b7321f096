//! The request-path caches of ADR 0006 (sessions; directory and authorization), seen from
//! outside: two real `raptscallions serve` processes, A and B, on one database.
//!
//! Each process keeps its own in-process caches. The ADR promises two things, and these
//! tests hold it to both:
//!
//! - **In the process that made a change, synchronously.** After a logout, or after a class
//!   membership is removed, the very next request to that same process is decided on the new
//!   state: no polling, no grace period.
//! - **In every other process, through PostgreSQL `NOTIFY`.** The `identity` and `groups`
//!   projections notify inside the transaction that applies the change, and every process
//!   listens and evicts. So a token ended through A, or a membership removed through A, must
//!   stop working on B shortly after; these tests allow 2 s, far more than the notification
//!   needs, and only check that the deadline is met.
//!
//! Before each change, the request that is about to be refused is made twice on the process
//! that will later refuse it, so that the answer is in that process's cache and the test
//! really checks eviction rather than a cold read. Each subscriber (and so each projection
//! that sends notifications) runs in only one of the two processes, whichever won it; the
//! same-process checks run against each of A and B in turn, so that in one of the two rounds
//! the projection applying the change runs in the other process.
//!
//! The same two processes also check a promise that needs no cache: the per-account login
//! throttle is derived from the account's events, so every process enforces the same one.

use std::collections::HashMap;
use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use tests::{create_admin_cli, test_env, ServerProcess, TestDb, TestOptions};

/// How long another process may take to act on a change made elsewhere.
const CROSS_PROCESS_DEADLINE: Duration = Duration::from_secs(2);

const ADMIN_EMAIL: &str = "cache.admin@test.example";
const ADMIN_PASSWORD: &str = "cache admin pw 1";

/// Two server processes on one fresh database, and a system admin's bearer token.
///
/// Field order matters for `Drop`: the processes (killed on drop) go before the database.
struct Cluster {
    a: ServerProcess,
    b: ServerProcess,
    http: reqwest::Client,
    admin: String,
    _db: TestDb,
}

impl Cluster {
    async fn start() -> Self {
        let db = TestDb::create().await;
        let env: HashMap<String, String> = test_env(&db, &TestOptions::default());
        let a = ServerProcess::start(&env).await;
        let b = ServerProcess::start(&env).await;
        // No cookie store: every request is authenticated by its bearer token alone.
        let http = reqwest::Client::new();
        create_admin_cli(&env, ADMIN_EMAIL, ADMIN_PASSWORD).await;
        let mut cluster = Self {
            a,
            b,
            http,
            admin: String::new(),
            _db: db,
        };
        cluster.admin = cluster.login(Side::A, ADMIN_EMAIL, ADMIN_PASSWORD).await;
        cluster
    }

    fn server(&self, side: Side) -> &ServerProcess {
        match side {
            Side::A => &self.a,
            Side::B => &self.b,
        }
    }

    async fn call(
        &self,
        side: Side,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> reqwest::Response {
        let mut request = self.http.request(method, self.server(side).url(path));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        request
            .send()
            .await
            .unwrap_or_else(|e| panic!("{side:?} {path}: {e}"))
    }

    /// The status of a bodiless request with `token`.
    async fn status(&self, side: Side, method: Method, path: &str, token: &str) -> StatusCode {
        self.call(side, method, path, Some(token), None)
            .await
            .status()
    }

    /// A request as the admin whose status must be `expected`.
    async fn admin_call(
        &self,
        side: Side,
        method: Method,
        path: &str,
        body: Option<Value>,
        expected: u16,
    ) -> Value {
        let response = self
            .call(side, method.clone(), path, Some(&self.admin), body)
            .await;
        let status = response.status();
        let text = response.text().await.expect("response body");
        assert_eq!(
            status, expected,
            "admin {method} {path} on {side:?}: {text}"
        );
        serde_json::from_str(&text).unwrap_or(Value::Null)
    }

    /// Creates a top-level group as the admin through `side`; returns its id.
    async fn create_group(&self, side: Side, name: &str) -> String {
        let group = self
            .admin_call(
                side,
                Method::POST,
                "/groups",
                Some(json!({"name": name})),
                201,
            )
            .await;
        group["id"].as_str().expect("group id").to_owned()
    }

    /// Signs in through `side`; returns the new session's bearer token.
    async fn login(&self, side: Side, email: &str, password: &str) -> String {
        let response = self
            .call(
                side,
                Method::POST,
                "/auth/login",
                None,
                Some(json!({"email": email, "password": password})),
            )
            .await;
        assert_eq!(response.status(), 200, "login {email} on {side:?}");
        let body: Value = response.json().await.expect("login json");
        body["token"].as_str().expect("token").to_owned()
    }

    /// Registers a user through `side`; returns their id.
    async fn register(&self, side: Side, email: &str, name: &str, password: &str) -> String {
        let response = self
            .call(
                side,
                Method::POST,
                "/auth/register",
                None,
                Some(json!({"email": email, "name": name, "password": password})),
            )
            .await;
        assert_eq!(response.status(), 201, "register {email} on {side:?}");
        let body: Value = response.json().await.expect("register json");
        body["user"]["id"].as_str().expect("user id").to_owned()
    }

    /// Makes the request twice on `side`, expecting `expected` both times (the second one is
    /// answered from that process's caches).
    async fn read_twice(&self, side: Side, path: &str, token: &str, expected: u16) {
        for attempt in ["first", "second (cached)"] {
            assert_eq!(
                self.status(side, Method::GET, path, token).await,
                expected,
                "{attempt} GET {path} on {side:?}"
            );
        }
    }

    /// Repeats `GET path` on `side` until it answers `expected`; panics if no request started
    /// before [`CROSS_PROCESS_DEADLINE`] did.
    async fn until_status(&self, side: Side, path: &str, token: &str, expected: u16) {
        let deadline = tokio::time::Instant::now() + CROSS_PROCESS_DEADLINE;
        loop {
            let status = self.status(side, Method::GET, path, token).await;
            if status == expected {
                return;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "GET {path} on {side:?} still answered {status} (expected {expected}) \
                 {CROSS_PROCESS_DEADLINE:?} after the change"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

#[derive(Debug, Clone, Copy)]
enum Side {
    A,
    B,
}

#[tokio::test]
async fn sessions_ended_through_one_process_are_refused_by_the_other() {
    let cluster = Cluster::start().await;
    let (email, password) = ("roaming@example.org", "roaming password 1");
    let user = cluster
        .register(Side::A, email, "Roaming User", password)
        .await;

    // Logout through A; B, which has the session cached, refuses it within the deadline.
    let token = cluster.login(Side::A, email, password).await;
    cluster.read_twice(Side::B, "/auth/me", &token, 200).await;
    assert_eq!(
        cluster
            .status(Side::A, Method::POST, "/auth/logout", &token)
            .await,
        204,
        "logout through A"
    );
    cluster.until_status(Side::B, "/auth/me", &token, 401).await;

    // A second session, ended by an admin disabling the account through A.
    let token = cluster.login(Side::A, email, password).await;
    cluster.read_twice(Side::B, "/auth/me", &token, 200).await;
    let path = format!("/users/{user}/disable");
    cluster
        .admin_call(Side::A, Method::POST, &path, None, 200)
        .await;
    cluster.until_status(Side::B, "/auth/me", &token, 401).await;
}

#[tokio::test]
async fn failed_logins_through_either_process_throttle_the_account_on_both() {
    let cluster = Cluster::start().await;
    let (email, password) = ("guessed@example.org", "guessed password 1");
    cluster.register(Side::A, email, "Guessed", password).await;
    let attempt = |side: Side, password: &'static str| {
        cluster.call(
            side,
            Method::POST,
            "/auth/login",
            None,
            Some(json!({"email": email, "password": password})),
        )
    };
    // Five failures spread over both processes: none is throttled yet.
    for side in [Side::A, Side::B, Side::A, Side::B, Side::A] {
        let response = attempt(side, "wrong password").await;
        assert_eq!(response.status(), 401, "failure through {side:?}");
    }
    // From here each failure doubles the wait (1 s, 2 s, 4 s). Keep failing, alternately on
    // B and A, honouring each process's `Retry-After`, until seven are recorded: the wait is
    // then 4 s, long enough to check both processes without racing the clock.
    let mut failures = 5;
    let mut sides = [Side::B, Side::A].into_iter().cycle();
    while failures < 7 {
        let side = sides.next().unwrap();
        let response = attempt(side, "wrong password").await;
        match response.status().as_u16() {
            401 => failures += 1,
            429 => {
                let wait = crate::auth::retry_after(&response);
                assert!((1..=4).contains(&wait), "Retry-After {wait} from {side:?}");
                tokio::time::sleep(Duration::from_secs(wait)).await;
            }
            status => panic!("{status} from {side:?} after {failures} failures"),
        }
    }
    // The right password waits too, whichever process it reaches.
    for side in [Side::A, Side::B] {
        let response = attempt(side, password).await;
        assert_eq!(response.status(), 429, "right password through {side:?}");
        let wait = crate::auth::retry_after(&response);
        assert!((1..=4).contains(&wait), "Retry-After {wait} from {side:?}");
    }
}

#[tokio::test]
async fn a_logout_is_refused_at_once_by_the_process_that_made_it() {
    let cluster = Cluster::start().await;
    let (email, password) = ("local@example.org", "local password 1");
    cluster
        .register(Side::A, email, "Local User", password)
        .await;

    for side in [Side::A, Side::B] {
        let token = cluster.login(side, email, password).await;
        cluster.read_twice(side, "/auth/me", &token, 200).await;
        assert_eq!(
            cluster
                .status(side, Method::POST, "/auth/logout", &token)
                .await,
            204,
            "logout through {side:?}"
        );
        assert_eq!(
            cluster.status(side, Method::GET, "/auth/me", &token).await,
            401,
            "the very next request to {side:?} after the logout it answered"
        );
    }
}

#[tokio::test]
async fn a_removed_class_membership_is_enforced_by_both_processes() {
    let cluster = Cluster::start().await;
    let group = cluster.create_group(Side::A, "Cache School").await;
    let class = cluster
        .admin_call(
            Side::A,
            Method::POST,
            &format!("/groups/{group}/classes"),
            Some(json!({"name": "Cache Class"})),
            201,
        )
        .await;
    let class = class["id"].as_str().expect("class id");
    let (email, password) = ("pupil@example.org", "pupil password 1");
    let student = cluster.register(Side::A, email, "Pupil", password).await;
    let token = cluster.login(Side::A, email, password).await;
    let class_path = format!("/classes/{class}");
    let member_path = format!("/classes/{class}/members/{student}");
    let enrol = |side| {
        cluster.admin_call(
            side,
            Method::PUT,
            &member_path,
            Some(json!({"role": "student"})),
            200,
        )
    };
    let remove = |side| cluster.admin_call(side, Method::DELETE, &member_path, None, 204);

    // Removed through A, while B has the student's access cached: B refuses within the
    // deadline.
    enrol(Side::A).await;
    cluster.read_twice(Side::B, &class_path, &token, 200).await;
    remove(Side::A).await;
    cluster
        .until_status(Side::B, &class_path, &token, 404)
        .await;

    // Removed through the process that answers next: refused at once.
    for side in [Side::A, Side::B] {
        enrol(side).await;
        cluster.read_twice(side, &class_path, &token, 200).await;
        remove(side).await;
        assert_eq!(
            cluster.status(side, Method::GET, &class_path, &token).await,
            404,
            "the very next request to {side:?} after the removal it made"
        );
    }
}

/// Service-account secrets are cached like sessions: a secret rotated, then revoked, through
/// A is refused by A at once and by B (which has it cached) within the deadline.
#[tokio::test]
async fn service_account_secrets_ended_through_one_process_are_refused_by_the_other() {
    let cluster = Cluster::start().await;
    let group = cluster.create_group(Side::A, "Tutored").await;
    let account = cluster
        .admin_call(
            Side::A,
            Method::POST,
            "/service-accounts",
            Some(json!({"name": "Tutor", "group_ids": [group]})),
            201,
        )
        .await;
    let id = account["id"].as_str().unwrap();
    let secret = account["secret"].as_str().unwrap().to_owned();
    // Authenticated but not allowed to list groups: 403 while the secret works, 401 after.
    for side in [Side::A, Side::B] {
        cluster.read_twice(side, "/groups", &secret, 403).await;
    }
    let rotated = cluster
        .admin_call(
            Side::A,
            Method::POST,
            &format!("/service-accounts/{id}/rotate"),
            None,
            200,
        )
        .await;
    assert_eq!(
        cluster
            .status(Side::A, Method::GET, "/groups", &secret)
            .await,
        401
    );
    cluster.until_status(Side::B, "/groups", &secret, 401).await;

    let new_secret = rotated["secret"].as_str().unwrap().to_owned();
    cluster
        .read_twice(Side::B, "/groups", &new_secret, 403)
        .await;
    cluster
        .admin_call(
            Side::A,
            Method::POST,
            &format!("/service-accounts/{id}/revoke"),
            None,
            204,
        )
        .await;
    cluster
        .until_status(Side::B, "/groups", &new_secret, 401)
        .await;
}
