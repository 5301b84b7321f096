//! Live dashboards' credentials (issue #19, ADR 0011): what a credential lets its holder
//! subscribe to over NATS's websocket listener, and how fast it stops working.

use std::time::{Duration, Instant};

use async_nats::connection::State;
use futures::StreamExt as _;
use reqwest::Method;
use serde_json::{json, Value};
use tests::{
    eventually, spawn_app, spawn_app_with, NatsServer, Person, SchoolFixture, TestApp, TestOptions,
    FIXTURE_PASSWORD,
};
use tokio::sync::mpsc;

/// A dashboard's connection: a NATS client over the websocket listener, and the server's
/// errors (permission violations) it was sent.
struct Dashboard {
    client: async_nats::Client,
    errors: mpsc::UnboundedReceiver<String>,
}

async fn connect(server: &NatsServer, jwt: &str) -> Result<Dashboard, async_nats::ConnectError> {
    let (tx, errors) = mpsc::unbounded_channel();
    // A bearer JWT: the server asks for no signature of its nonce.
    let client = async_nats::ConnectOptions::with_jwt(jwt.to_owned(), |_| async { Ok(Vec::new()) })
        .max_reconnects(Some(0))
        .event_callback(move |event| {
            let tx = tx.clone();
            async move {
                let _ = tx.send(event.to_string());
            }
        })
        .connect(server.websocket_url())
        .await?;
    Ok(Dashboard { client, errors })
}

/// A client with the service's own rights, to publish test messages.
async fn service_client(server: &NatsServer) -> async_nats::Client {
    server
        .secured()
        .keys
        .service_connect_options()
        .unwrap()
        .connect(server.url())
        .await
        .unwrap()
}

async fn credential(app: &TestApp, token: &str, classes: &[&str]) -> (u16, Value) {
    let response = app
        .call_as(
            token,
            Method::POST,
            "/realtime/credentials",
            Some(json!({ "class_ids": classes })),
        )
        .await;
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn jwt_for(app: &TestApp, person: &Person, classes: &[&str]) -> String {
    let (status, body) = credential(app, &person.token, classes).await;
    assert_eq!(status, 201, "{body}");
    body["jwt"]
        .as_str()
        .expect("a bearer caller gets the JWT")
        .to_owned()
}

fn prefix(app: &TestApp) -> &str {
    &app.config.nats_subject_prefix
}

/// How long a permitted message may take (a loaded machine), and how long a refused one is
/// waited for.
const ARRIVES: Duration = Duration::from_secs(5);
const NEVER: Duration = Duration::from_millis(750);

/// Whether `subject` gets a message published to it: subscribes as `dashboard`, then publishes
/// as the service every 100 ms until one arrives or `wait` is over (a refused subscription is
/// also told by its permissions error, see [`permission_error`]). The client's flush only
/// writes the subscription out; the server may read the service's first publication before
/// it, so one probe could be missed by a subscription that was allowed.
async fn receives_within(
    dashboard: &mut Dashboard,
    service: &async_nats::Client,
    subject: &str,
    wait: Duration,
) -> bool {
    let mut subscription = dashboard
        .client
        .subscribe(subject.to_owned())
        .await
        .unwrap();
    dashboard.client.flush().await.unwrap();
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        service
            .publish(subject.to_owned(), "probe".into())
            .await
            .unwrap();
        service.flush().await.unwrap();
        let next = (tokio::time::Instant::now() + Duration::from_millis(100)).min(deadline);
        match tokio::time::timeout_at(next, subscription.next()).await {
            Ok(message) => return message.is_some(),
            Err(_) if next >= deadline => return false,
            Err(_) => {}
        }
    }
}

/// Waits until the server sent a permissions error naming `subject`.
async fn permission_error(dashboard: &mut Dashboard, subject: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(3);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, dashboard.errors.recv()).await {
            Ok(Some(event))
                if event.contains("Permissions Violation") && event.contains(subject) =>
            {
                return event
            }
            Ok(Some(_)) => continue,
            _ => panic!("no permissions error for {subject}"),
        }
    }
}

#[tokio::test]
async fn a_teacher_watches_their_own_class_and_nothing_else() {
    let server = NatsServer::start_secured().await;
    let app = spawn_app_with(TestOptions::secured_nats(&server, &[])).await;
    let school = SchoolFixture::build(&app).await;
    let teacher = &school.teachers[0];
    let p = prefix(&app).to_owned();

    let (status, body) = credential(&app, &teacher.token, &[&school.class]).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["websocket_url"], server.websocket_url());
    let subjects: Vec<&str> = body["subjects"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap())
        .collect();
    assert_eq!(
        subjects,
        [
            format!("{p}.user.{}.notifications", teacher.id),
            format!("{p}.class.{}.dashboard", school.class),
            format!("{p}.class.{}.interventions", school.class),
        ],
        "a teacher reads interventions but does not handle safety concerns"
    );

    // Another class: refused as the class's dashboard is (404: it cannot even read it).
    let (status, body) = credential(&app, &teacher.token, &[&school.other_class]).await;
    assert_eq!(status, 404, "{body}");
    assert_eq!(body["type"], "https://raptscallions.app/problems/not-found");

    let service = service_client(&server).await;
    let mut dashboard = connect(
        &server,
        body_jwt(&app, teacher, &school.class).await.as_str(),
    )
    .await
    .expect("connects with its credential");
    let own = format!("{p}.class.{}.dashboard", school.class);
    assert!(receives_within(&mut dashboard, &service, &own, ARRIVES).await);
    let mine = format!("{p}.user.{}.notifications", teacher.id);
    assert!(receives_within(&mut dashboard, &service, &mine, ARRIVES).await);

    let foreign = format!("{p}.class.{}.dashboard", school.other_class);
    assert!(!receives_within(&mut dashboard, &service, &foreign, NEVER).await);
    permission_error(&mut dashboard, &foreign).await;
    let wildcard = format!("{p}.class.>");
    assert!(
        !receives_within(
            &mut dashboard,
            &service,
            &format!("{p}.class.x.dashboard"),
            NEVER
        )
        .await
    );
    let _ = dashboard.client.subscribe(wildcard.clone()).await;
    permission_error(&mut dashboard, &wildcard).await;
    // Publishing is refused too (the client protocol needs none).
    dashboard
        .client
        .publish(own.clone(), "forged".into())
        .await
        .unwrap();
    dashboard.client.flush().await.unwrap();
    permission_error(&mut dashboard, &own).await;
    // The connection survives its holder's mistakes.
    assert_eq!(dashboard.client.connection_state(), State::Connected);
}

async fn body_jwt(app: &TestApp, person: &Person, class: &str) -> String {
    jwt_for(app, person, &[class]).await
}

/// A student's credential grants their own notifications only: subscribing to a teacher's,
/// a classmate's or the class dashboard gets a permissions error and no message.
#[tokio::test]
async fn a_student_watches_only_their_own_notifications() {
    let server = NatsServer::start_secured().await;
    let app = spawn_app_with(TestOptions::secured_nats(&server, &[])).await;
    let school = SchoolFixture::build(&app).await;
    let p = prefix(&app).to_owned();
    let student = &school.student;

    let (status, body) = credential(&app, &student.token, &[&school.class]).await;
    assert_eq!(
        status, 403,
        "a student reads the class, not its dashboard: {body}"
    );
    let jwt = jwt_for(&app, student, &[]).await;
    let service = service_client(&server).await;
    let mut dashboard = connect(&server, &jwt).await.unwrap();
    let own = format!("{p}.user.{}.notifications", student.id);
    assert!(receives_within(&mut dashboard, &service, &own, ARRIVES).await);
    let teachers = format!("{p}.user.{}.notifications", school.teachers[0].id);
    assert!(!receives_within(&mut dashboard, &service, &teachers, NEVER).await);
    permission_error(&mut dashboard, &teachers).await;
    // Nor a classmate's: the same class, another user's subject.
    let classmate = school
        .add_student(&app, "cleo.classmate", "Cleo Classmate")
        .await;
    let classmates = format!("{p}.user.{}.notifications", classmate.id);
    assert!(!receives_within(&mut dashboard, &service, &classmates, NEVER).await);
    permission_error(&mut dashboard, &classmates).await;
    // The connection stays, and its own subject still gets its messages.
    assert_eq!(dashboard.client.connection_state(), State::Connected);
    assert!(receives_within(&mut dashboard, &service, &own, ARRIVES).await);
    let class = format!("{p}.class.{}.dashboard", school.class);
    assert!(!receives_within(&mut dashboard, &service, &class, NEVER).await);
    permission_error(&mut dashboard, &class).await;
}

#[tokio::test]
async fn counselors_and_admins_above_the_class_also_watch_its_safety_concerns() {
    let server = NatsServer::start_secured().await;
    let app = spawn_app_with(TestOptions::secured_nats(&server, &[])).await;
    let school = SchoolFixture::build(&app).await;
    let p = prefix(&app).to_owned();
    for person in [&school.counselor, &school.school_admin] {
        let (status, body) = credential(&app, &person.token, &[&school.class]).await;
        assert_eq!(status, 201, "{body}");
        assert!(body["subjects"]
            .as_array()
            .unwrap()
            .contains(&json!(format!(
                "{p}.class.{}.safety_concerns",
                school.class
            ))));
    }
    // The sibling school's admin, a counselor of another school in effect: not this class.
    let (status, _) = credential(&app, &school.sibling_admin.token, &[&school.class]).await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn bad_requests_for_credentials_are_refused() {
    let server = NatsServer::start_secured().await;
    let app = spawn_app_with(TestOptions::secured_nats(&server, &[])).await;
    let school = SchoolFixture::build(&app).await;
    let anonymous = app
        .http
        .post(app.url("/realtime/credentials"))
        .json(&json!({"class_ids": []}))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), 401);
    let (status, _) = credential(&app, &school.service, &[]).await;
    assert_eq!(status, 403, "a service account watches nothing");
    let many: Vec<String> = (0..21).map(|_| uuid::Uuid::new_v4().to_string()).collect();
    let many: Vec<&str> = many.iter().map(String::as_str).collect();
    let (status, body) = credential(&app, &school.teachers[0].token, &many).await;
    assert!(status == 400 || status == 422, "{status} {body}");
    let unknown = uuid::Uuid::new_v4().to_string();
    let (status, _) = credential(&app, &school.teachers[0].token, &[&unknown]).await;
    assert_eq!(status, 404);
    let (status, body) = app
        .call_as(
            &school.teachers[0].token,
            Method::POST,
            "/realtime/credentials",
            Some(json!({"class_ids": [], "subjects": [">"]})),
        )
        .await
        .json::<Value>()
        .await
        .map(|b| (0, b))
        .unwrap();
    let _ = status;
    assert!(
        body["type"].as_str().unwrap().ends_with("invalid-request"),
        "{body}"
    );
}

#[tokio::test]
async fn without_nats_keys_live_updates_are_unavailable() {
    let app = spawn_app().await;
    let (status, body) = credential(&app, &app.token, &[]).await;
    assert_eq!(status, 503);
    assert_eq!(
        body["type"],
        "https://raptscallions.app/problems/realtime-unavailable"
    );
}

#[tokio::test]
async fn a_browser_gets_the_credential_only_as_an_httponly_cookie() {
    let server = NatsServer::start_secured().await;
    let app = spawn_app_with(TestOptions::secured_nats(&server, &[])).await;
    let school = SchoolFixture::build(&app).await;
    let teacher = &school.teachers[0];
    let browser = reqwest::Client::builder()
        .cookie_store(true)
        .build()
        .unwrap();
    let login = browser
        .post(app.url("/auth/login"))
        .json(&json!({"email": teacher.email, "password": FIXTURE_PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(login.status(), 200);
    let response = browser
        .post(app.url("/realtime/credentials"))
        .header("Origin", app.config.auth.allowed_origins[0].as_str())
        .json(&json!({"class_ids": [school.class]}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    let cookie = response
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .find(|c| c.starts_with("rapt_nats="))
        .expect("the rapt_nats cookie");
    assert!(cookie.contains("HttpOnly"), "{cookie}");
    assert!(cookie.contains("SameSite=Strict"), "{cookie}");
    assert_eq!(response.headers()["cache-control"], "no-store");
    let body: Value = response.json().await.unwrap();
    assert!(
        body["jwt"].is_null(),
        "page scripts never see the JWT: {body}"
    );
}

/// How long after `trigger` the connection of `jwt` is closed by the server (panics after
/// 5 s), and that the credential no longer connects.
async fn closed_within_five_seconds<F, Fut>(
    server: &NatsServer,
    jwt: &str,
    what: &str,
    trigger: F,
) -> Duration
where
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let dashboard = connect(server, jwt).await.expect("connects before");
    let started = Instant::now();
    trigger().await;
    while dashboard.client.connection_state() == State::Connected {
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "{what}: still connected after 5 s"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let took = started.elapsed();
    assert!(
        connect(server, jwt).await.is_err(),
        "{what}: the revoked credential connects again"
    );
    eprintln!("{what}: disconnected {took:?} after the request");
    took
}

async fn login(app: &TestApp, person: &Person) -> Person {
    let response = app
        .http
        .post(app.url("/auth/login"))
        .json(&json!({"email": person.email, "password": FIXTURE_PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    Person {
        token: body["token"].as_str().unwrap().to_owned(),
        ..person.clone()
    }
}

#[tokio::test]
async fn logging_out_ending_a_session_disabling_or_losing_a_role_disconnects_within_seconds() {
    let server = NatsServer::start_secured().await;
    let app = spawn_app_with(TestOptions::secured_nats(&server, &[])).await;
    let school = SchoolFixture::build(&app).await;
    let teacher = &school.teachers[0];
    let class = school.class.clone();

    // Logout.
    let signed_in = login(&app, teacher).await;
    let jwt = jwt_for(&app, &signed_in, &[&class]).await;
    closed_within_five_seconds(&server, &jwt, "logout", || async {
        assert_eq!(
            app.status_as(&signed_in.token, Method::POST, "/auth/logout", None)
                .await,
            204
        );
    })
    .await;

    // Logout everywhere: every session's credentials.
    let first = login(&app, teacher).await;
    let second = login(&app, teacher).await;
    let jwt = jwt_for(&app, &first, &[&class]).await;
    closed_within_five_seconds(&server, &jwt, "logout-all", || async {
        assert_eq!(
            app.status_as(&second.token, Method::POST, "/auth/logout-all", None)
                .await,
            204
        );
    })
    .await;

    // Ending one session from another.
    let ended = login(&app, teacher).await;
    let other = login(&app, teacher).await;
    let sessions: Value = app
        .call_as(&ended.token, Method::GET, "/auth/me", None)
        .await
        .json()
        .await
        .unwrap();
    let session_id = sessions["session"]["id"].as_str().unwrap().to_owned();
    let jwt = jwt_for(&app, &ended, &[&class]).await;
    closed_within_five_seconds(&server, &jwt, "ending a session", || async {
        let status = app
            .status_as(
                &other.token,
                Method::DELETE,
                &format!("/auth/sessions/{session_id}"),
                None,
            )
            .await;
        assert_eq!(status, 204);
    })
    .await;

    // Losing the class role.
    let jwt = jwt_for(&app, &login(&app, teacher).await, &[&class]).await;
    let teacher_id = teacher.id.clone();
    closed_within_five_seconds(&server, &jwt, "losing the class role", || async {
        let status = app
            .status_as(
                &app.token,
                Method::DELETE,
                &format!("/classes/{class}/members/{teacher_id}"),
                None,
            )
            .await;
        assert_eq!(status, 204);
    })
    .await;
    // ... and the next credential is decided afresh: the class is no longer watchable.
    let again = login(&app, teacher).await;
    let (status, _) = credential(&app, &again.token, &[&class]).await;
    assert_eq!(status, 404);

    // Disabling the account.
    let counselor = login(&app, &school.counselor).await;
    let jwt = jwt_for(&app, &counselor, &[&class]).await;
    let counselor_id = school.counselor.id.clone();
    closed_within_five_seconds(&server, &jwt, "disabling the account", || async {
        let status = app
            .status_as(
                &app.token,
                Method::POST,
                &format!("/users/{counselor_id}/disable"),
                None,
            )
            .await;
        assert!(status == 200 || status == 204, "{status}");
    })
    .await;

    // Other people's credentials are untouched.
    let other_teacher = &school.teachers[1];
    let jwt = jwt_for(&app, other_teacher, &[&class]).await;
    let dashboard = connect(&server, &jwt).await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(dashboard.client.connection_state(), State::Connected);
}

/// The teacher's credentials: (all, not revoked).
async fn credential_rows(app: &TestApp, user: &str) -> (i64, i64) {
    sqlx::query_as(
        "SELECT count(*), count(*) FILTER (WHERE revoked_at IS NULL) \
         FROM realtime_credentials WHERE user_id = $1::uuid",
    )
    .bind(user)
    .fetch_one(&app.pool)
    .await
    .unwrap()
}

/// Asks for a credential for `person` while `change`, which revokes their credentials, is
/// made with read model `held` held back (and only it): so the request decides on facts
/// without the change while the revocation sink has already handled it (it has cut
/// `dashboard`, their one live credential), and stores its credential after the sink ran.
/// Waits until the request has revoked that credential itself, while the read model is still
/// held, then lets the read model go. The change's status, and the request's answer.
async fn credential_while_overtaken(
    app: &TestApp,
    held: &str,
    dashboard: Dashboard,
    person: &Person,
    classes: &[&str],
    change: impl std::future::Future<Output = u16>,
) -> (u16, (u16, Value)) {
    assert_eq!(credential_rows(app, &person.id).await, (1, 1));
    let hold = app.hold_projection_alone(held).await;
    let in_flight = async {
        let started = Instant::now();
        while dashboard.client.connection_state() == State::Connected {
            assert!(
                started.elapsed() < Duration::from_secs(5),
                "the sink did not cut the dashboard"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        // NATS disconnects as the sink sends the account JWT, before its transaction commits.
        eventually("the sink's revocation", Duration::from_secs(5), || async {
            (credential_rows(app, &person.id).await == (1, 0)).then_some(())
        })
        .await;
        // Under load the request may come after this process already knows of the change
        // (its caches are told at once) and answer without storing anything: then there is
        // nothing to revoke, and the answer is the same.
        let answered = std::sync::atomic::AtomicBool::new(false);
        let request = async {
            let answer = credential(app, &person.token, classes).await;
            answered.store(true, std::sync::atomic::Ordering::SeqCst);
            answer
        };
        let release = async {
            eventually(
                "the credential stored after the sink ran, revoked while the read model is held",
                Duration::from_secs(15),
                || async {
                    (credential_rows(app, &person.id).await == (2, 0)
                        || answered.load(std::sync::atomic::Ordering::SeqCst))
                    .then_some(())
                },
            )
            .await;
            drop(hold);
        };
        tokio::join!(request, release).0
    };
    let answers = tokio::join!(change, in_flight);
    // Nothing of theirs is left that NATS would let in.
    let (stored, live) = credential_rows(app, &person.id).await;
    assert_eq!(live, 0, "{stored} stored");
    assert!(stored == 1 || stored == 2, "{stored} stored");
    answers
}

/// The role is removed while a credential request is in flight, the directory held back: the
/// request finds the removal in the log above its facts, revokes what it stored, and once the
/// directory has the removal decides again: 404, as `GET /classes/{id}/dashboard` would.
#[tokio::test]
async fn a_credential_requested_while_the_role_is_removed_does_not_outlive_the_removal() {
    let server = NatsServer::start_secured().await;
    let app = spawn_app_with(TestOptions::secured_nats(&server, &[])).await;
    let school = SchoolFixture::build(&app).await;
    let teacher = &school.teachers[0];
    let class = school.class.as_str();
    let dashboard = connect(&server, &jwt_for(&app, teacher, &[class]).await)
        .await
        .unwrap();
    let membership = format!("/classes/{class}/members/{}", teacher.id);
    // Answers once the directory has the removal (after the hold), or 202 if that takes long.
    let removal = app.status_as(&app.token, Method::DELETE, &membership, None);
    let (removed, (status, body)) =
        credential_while_overtaken(&app, "groups", dashboard, teacher, &[class], removal).await;
    assert!(removed == 204 || removed == 202, "{removed}");
    assert_eq!(status, 404, "decided again on the removal: {body}");
}

/// The same with the session ending (a logout), the identity read model held back: the
/// request still authenticates with the session's token and the read model still has the
/// session, but the credential it stores is revoked, and the answer is 401.
#[tokio::test]
async fn a_credential_requested_while_its_session_ends_does_not_outlive_the_session() {
    let server = NatsServer::start_secured().await;
    let app = spawn_app_with(TestOptions::secured_nats(&server, &[])).await;
    let school = SchoolFixture::build(&app).await;
    let teacher = login(&app, &school.teachers[0]).await;
    let class = school.class.as_str();
    let dashboard = connect(&server, &jwt_for(&app, &teacher, &[class]).await)
        .await
        .unwrap();
    let logout = app.status_as(&teacher.token, Method::POST, "/auth/logout", None);
    let (logged_out, (status, body)) =
        credential_while_overtaken(&app, "identity", dashboard, &teacher, &[class], logout).await;
    assert!(logged_out == 204 || logged_out == 202, "{logged_out}");
    assert_eq!(status, 401, "decided again on the ended session: {body}");
}

/// The user public key a credential JWT names (`sub`): its row's key.
fn user_key(jwt: &str) -> String {
    use base64::Engine as _;
    let claims = jwt.split('.').nth(1).expect("a JWT");
    let claims = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(claims.trim_end_matches('='))
        .unwrap();
    let claims: Value = serde_json::from_slice(&claims).unwrap();
    claims["sub"].as_str().unwrap().to_owned()
}

/// Rows of credentials are deleted a minute after they expire, whether revoked or not; a
/// revoked one that has not expired stays (the account JWT must name it while NATS may still
/// take it) and is still refused after the account JWT is sent again.
#[tokio::test]
async fn expired_credentials_are_deleted_and_revoked_ones_kept_until_they_expire() {
    let server = NatsServer::start_secured().await;
    let app = spawn_app_with(TestOptions::secured_nats(&server, &[])).await;
    let school = SchoolFixture::build(&app).await;
    let class = school.class.as_str();
    let signed_in = login(&app, &school.teachers[0]).await;
    let revoked = jwt_for(&app, &signed_in, &[class]).await;
    let live = jwt_for(&app, &school.teachers[1], &[class]).await;
    let long_expired = jwt_for(&app, &school.teachers[1], &[class]).await;
    let just_expired = jwt_for(&app, &school.teachers[1], &[class]).await;
    // Of the session logged out below, expired before (the logout does not revoke it).
    let session_long_expired = jwt_for(&app, &signed_in, &[]).await;
    // Their expiry moved into the past, as if issued long ago.
    for (jwt, ago) in [
        (&long_expired, "61 seconds"),
        (&just_expired, "50 seconds"),
        (&session_long_expired, "2 minutes"),
    ] {
        sqlx::query(
            "UPDATE realtime_credentials SET expires_at = now() - $2::interval \
             WHERE user_key = $1",
        )
        .bind(user_key(jwt))
        .bind(ago)
        .execute(&app.pool)
        .await
        .unwrap();
    }
    // A logout revokes the session's credentials.
    assert_eq!(
        app.status_as(&signed_in.token, Method::POST, "/auth/logout", None)
            .await,
        204
    );
    eventually(
        "the logout's revocation",
        Duration::from_secs(5),
        || async {
            sqlx::query_scalar::<_, bool>(
                "SELECT revoked_at IS NOT NULL FROM realtime_credentials WHERE user_key = $1",
            )
            .bind(user_key(&revoked))
            .fetch_one(&app.pool)
            .await
            .unwrap()
            .then_some(())
        },
    )
    .await;

    let grants = &app
        .application()
        .services()
        .realtime
        .as_ref()
        .expect("NATS keys")
        .grants;
    assert_eq!(grants.prune_expired().await.unwrap(), 2);
    let mut kept: Vec<String> = sqlx::query_scalar("SELECT user_key FROM realtime_credentials")
        .fetch_all(&app.pool)
        .await
        .unwrap();
    kept.sort();
    let mut expected: Vec<String> = [&revoked, &live, &just_expired]
        .into_iter()
        .map(|jwt| user_key(jwt))
        .collect();
    expected.sort();
    assert_eq!(kept, expected);
    assert_eq!(grants.prune_expired().await.unwrap(), 0);

    // The account JWT sent after the deletion still names the revoked credential.
    grants.send_account().await.unwrap();
    assert!(
        connect(&server, &revoked).await.is_err(),
        "a revoked credential connects again"
    );
    connect(&server, &live)
        .await
        .expect("a live credential connects");
}

#[tokio::test]
async fn an_expired_credential_is_disconnected_by_the_server() {
    let server = NatsServer::start_secured().await;
    let app = spawn_app_with(TestOptions::secured_nats(
        &server,
        &[("REALTIME_CREDENTIAL_TTL_MS", "2000")],
    ))
    .await;
    let school = SchoolFixture::build(&app).await;
    let (status, body) = credential(&app, &school.teachers[0].token, &[]).await;
    assert_eq!(status, 201);
    let expires_at: chrono::DateTime<chrono::Utc> =
        body["expires_at"].as_str().unwrap().parse().unwrap();
    let left = expires_at - chrono::Utc::now();
    assert!(left <= chrono::Duration::milliseconds(2100), "{left}");
    let dashboard = connect(&server, body["jwt"].as_str().unwrap())
        .await
        .unwrap();
    let started = Instant::now();
    while dashboard.client.connection_state() == State::Connected {
        assert!(
            started.elapsed() < Duration::from_secs(6),
            "still connected after expiry"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // The server counts a JWT expired once its `exp` second has passed: a reconnection
    // within that second is let in, and cut again at once.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert!(connect(&server, body["jwt"].as_str().unwrap())
        .await
        .is_err());
}

/// The positions of the recent events that the dashboard updates arriving on `subscription`
/// within `wait` add (an update of a batch adds several, the last at its own position).
async fn positions_within(subscription: &mut async_nats::Subscriber, wait: Duration) -> Vec<i64> {
    let mut seen = Vec::new();
    while let Ok(Some(message)) = tokio::time::timeout(wait, subscription.next()).await {
        let body: Value = serde_json::from_slice(&message.payload).unwrap();
        seen.extend(event_positions(&body));
    }
    seen
}

fn event_positions(update: &Value) -> Vec<i64> {
    let events = update["events"].as_array().unwrap();
    assert_eq!(events.last().unwrap()["position"], update["position"]);
    events
        .iter()
        .map(|e| e["position"].as_i64().unwrap())
        .collect()
}

async fn catch_up(app: &TestApp, token: &str, topic: &str, after: i64) -> Vec<i64> {
    let mut positions = Vec::new();
    let mut after = after;
    loop {
        let page: Value = app
            .call_as(
                token,
                Method::GET,
                &format!("/realtime/updates?topic={topic}&after={after}"),
                None,
            )
            .await
            .json()
            .await
            .unwrap();
        for item in page["items"].as_array().unwrap() {
            positions.extend(event_positions(item));
        }
        after = page["next_after"].as_i64().unwrap();
        if page["more"] != true {
            return positions;
        }
    }
}

/// A dashboard over the websocket listener: a snapshot and the stream meet; offline for a
/// while, it catches up from its last position and goes on live, with every update of the
/// topic exactly once and in order.
#[tokio::test]
async fn a_websocket_dashboard_catches_up_after_a_disconnect_with_nothing_missed_or_doubled() {
    let server = NatsServer::start_secured().await;
    let app = spawn_app_with(TestOptions::secured_nats(&server, &[])).await;
    let school = SchoolFixture::build(&app).await;
    let teacher = &school.teachers[0];
    let topic = format!("class.{}.dashboard", school.class);
    let subject = format!("{}.{topic}", prefix(&app));
    let detection = |n: u32| {
        json!({"type": "misbehavior", "category": "off_topic", "severity": "low",
               "evidence": format!("note {n}")})
    };

    // Subscribe, then read the snapshot: apply what is above its position.
    let dashboard = connect(&server, &jwt_for(&app, teacher, &[&school.class]).await)
        .await
        .unwrap();
    let mut subscription = dashboard.client.subscribe(subject.clone()).await.unwrap();
    dashboard.client.flush().await.unwrap();
    let snapshot: Value = app
        .call_as(
            &teacher.token,
            Method::GET,
            &format!("/classes/{}/dashboard", school.class),
            None,
        )
        .await
        .json()
        .await
        .unwrap();
    let start = snapshot["position"].as_i64().unwrap();
    let mut applied = vec![];
    for n in 0..2 {
        tests::detect(&app, &school.service, &school.session, detection(n)).await;
    }
    // Written by the dashboards projection and sent by the publisher (a loaded machine may
    // take a while), then in flight.
    app.wait_for_subscribers().await;
    app.wait_for_realtime().await;
    applied.extend(
        positions_within(&mut subscription, Duration::from_millis(1500))
            .await
            .into_iter()
            .filter(|p| *p > start),
    );
    // (The snapshot may be older than the fixture's last change: that update comes too.)
    assert!(applied.len() >= 2, "{applied:?}");

    // Offline: three detections happen meanwhile.
    drop(subscription);
    dashboard.client.drain().await.unwrap();
    for n in 2..5 {
        tests::detect(&app, &school.service, &school.session, detection(n)).await;
    }
    app.wait_for_realtime().await;

    // Back: subscribe first, then catch up from the last applied position, then live.
    let dashboard = connect(&server, &jwt_for(&app, teacher, &[&school.class]).await)
        .await
        .unwrap();
    let mut subscription = dashboard.client.subscribe(subject).await.unwrap();
    dashboard.client.flush().await.unwrap();
    let last = *applied.last().unwrap();
    applied.extend(catch_up(&app, &teacher.token, &topic, last).await);
    tests::detect(&app, &school.service, &school.session, detection(5)).await;
    app.wait_for_subscribers().await;
    app.wait_for_realtime().await;
    for position in positions_within(&mut subscription, Duration::from_millis(1500)).await {
        if position > *applied.last().unwrap() {
            applied.push(position);
        }
    }

    // Exactly the topic's events since the snapshot, once each, in order.
    let all = catch_up(&app, &teacher.token, &topic, start).await;
    assert_eq!(applied, all);
    assert!(all.len() >= 6, "{all:?}");
}
