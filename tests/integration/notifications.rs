//! Reactions to detections and assessments: notifications in the app, emails through a real
//! SMTP server (with retries, dead letters, a crash in the middle of a batch and a full
//! replay, none of which may lose or repeat a message), the notification inbox and email
//! preferences, and the class dashboard read model.
//!
//! Reactions run asynchronously: the tests poll with a deadline instead of sleeping, and to
//! show that something did NOT happen they wait until every subscriber has caught up with
//! the log, then a little longer.

use std::collections::HashSet;
use std::time::Duration;

use reqwest::Method;
use serde_json::{json, Value};
use tests::{
    assert_statuses, detect, eventually, register_named, send, spawn_app_with, Person,
    ReceivedEmail, SchoolFixture, SmtpSink, TestApp, TestOptions,
};

/// How long a reaction may take to show.
const DEADLINE: Duration = Duration::from_secs(10);
const FRONTEND_URL: &str = "http://app.test.example";

/// The students' display name in every fixture.
const STUDENT_NAME: &str = "Sam Student";

/// An app that mails to `sink`, with the fixture built.
async fn app_with_fixture(sink: &SmtpSink, extra: &[(&str, &str)]) -> (TestApp, SchoolFixture) {
    let app = spawn_app_with(TestOptions::mailing_to(sink, extra)).await;
    let fixture = SchoolFixture::build(&app).await;
    assert_eq!(fixture.student.name, STUDENT_NAME);
    (app, fixture)
}

fn misbehavior(severity: &str) -> Value {
    json!({
        "type": "misbehavior",
        "category": "cheating",
        "severity": severity,
        "evidence": "asked the tutor for the answer key"
    })
}

fn struggle(topic: &str) -> Value {
    json!({
        "type": "struggle",
        "topic": topic,
        "indicators": ["repeated errors", "long pauses"],
        "duration_seconds": 420
    })
}

fn safety_concern() -> Value {
    json!({
        "type": "safety_concern",
        "concern_type": "distress",
        "urgency": "immediate",
        "evidence": "said they feel unsafe at home"
    })
}

fn assessment(confidence: f64) -> Value {
    json!({
        "scores": [{"criterion": "clarity", "score": 2, "max": 4}],
        "confidence": confidence,
        "trace": {
            "model": "gpt-x",
            "prompt_hash": "abc123",
            "input_snapshot": {"answer": "1/2 + 1/3 = 2/5"},
            "raw_response": "clarity: 2",
            "parsed_result": {"clarity": 2}
        }
    })
}

/// Records an assessment of `session` and returns its id.
async fn record_assessment(app: &TestApp, token: &str, session: &str, confidence: f64) -> String {
    let (status, body) = send(
        app,
        token,
        Method::POST,
        &format!("/learning-sessions/{session}/assessments"),
        Some(assessment(confidence)),
    )
    .await;
    assert_eq!(status, 201, "record an assessment: {body}");
    body["id"].as_str().expect("assessment id").to_owned()
}

/// The caller's newest notifications (one page of 50).
async fn notifications(app: &TestApp, token: &str) -> Vec<Value> {
    let (status, body) = send(app, token, Method::GET, "/notifications?limit=50", None).await;
    assert_eq!(status, 200, "GET /notifications: {body}");
    body["items"].as_array().expect("items").clone()
}

async fn of_kind(app: &TestApp, token: &str, kind: &str) -> Vec<Value> {
    notifications(app, token)
        .await
        .into_iter()
        .filter(|n| n["kind"] == kind)
        .collect()
}

/// Waits until `person` has at least `n` notifications of `kind`; returns them.
async fn wait_for_kind(app: &TestApp, person: &Person, kind: &str, n: usize) -> Vec<Value> {
    eventually(
        &format!("{n} {kind} notification(s) for {}", person.name),
        DEADLINE,
        || async {
            let found = of_kind(app, &person.token, kind).await;
            (found.len() >= n).then_some(found)
        },
    )
    .await
}

async fn unread_count(app: &TestApp, token: &str) -> i64 {
    let (status, body) = send(app, token, Method::GET, "/notifications/unread-count", None).await;
    assert_eq!(status, 200, "unread count: {body}");
    body["count"].as_i64().expect("count")
}

fn emails_to(sink: &SmtpSink, address: &str) -> Vec<ReceivedEmail> {
    sink.messages()
        .into_iter()
        .filter(|m| m.to.iter().any(|t| t == address))
        .collect()
}

/// Waits until at least `n` messages to `address` arrived; returns them, oldest first.
async fn wait_for_emails(
    sink: &SmtpSink,
    address: &str,
    n: usize,
    timeout: Duration,
) -> Vec<ReceivedEmail> {
    eventually(&format!("{n} email(s) to {address}"), timeout, || async {
        let found = emails_to(sink, address);
        (found.len() >= n).then_some(found)
    })
    .await
}

/// Waits until every subscriber has caught up with the log, then a second more for the
/// SMTP conversations in flight.
async fn settle(app: &TestApp) {
    app.wait_for_all_subscribers().await;
    tokio::time::sleep(Duration::from_secs(1)).await;
}

async fn count_aggregate_events(app: &TestApp, aggregate_type: &str, event_type: &str) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM events WHERE aggregate_type = $1 AND event_type = $2")
        .bind(aggregate_type)
        .bind(event_type)
        .fetch_one(&app.pool)
        .await
        .expect("count events")
}

/// The checks every notification about a detection in the fixture's session passes.
fn assert_about_the_session(notification: &Value, f: &SchoolFixture, kind: &str) {
    assert_eq!(notification["kind"], kind, "{notification}");
    assert!(
        notification["id"].as_str().is_some_and(|s| !s.is_empty()),
        "{notification}"
    );
    for field in ["title", "body"] {
        assert!(
            notification[field]
                .as_str()
                .is_some_and(|s| !s.trim().is_empty()),
            "{field} of {notification}"
        );
    }
    assert_eq!(notification["class_id"], f.class.as_str());
    assert_eq!(notification["learning_session_id"], f.session.as_str());
    assert_eq!(notification["student_id"], f.student.id.as_str());
    assert!(notification["created_at"].is_string(), "{notification}");
    assert!(notification["read_at"].is_null(), "{notification}");
}

/// The checks every misbehavior email of the fixture's session passes.
fn assert_misbehavior_email(email: &ReceivedEmail, to: &Person, f: &SchoolFixture, severity: &str) {
    assert_eq!(email.to, vec![to.email.clone()], "{email:?}");
    assert!(email.subject.contains("Misbehavior"), "{email:?}");
    assert!(
        email.subject.to_lowercase().contains(severity),
        "severity {severity} in {email:?}"
    );
    assert!(email.subject.contains(&f.class_name), "{email:?}");
    assert!(email.body.contains("cheating"), "category in {email:?}");
    assert!(email.body.contains(STUDENT_NAME), "student in {email:?}");
    let link = format!("{FRONTEND_URL}/learning-sessions/{}", f.session);
    assert!(email.body.contains(&link), "{link} in {email:?}");
}

#[tokio::test]
async fn misbehavior_of_medium_or_worse_and_struggles_reach_each_teacher() {
    let sink = SmtpSink::start().await;
    let (app, f) = app_with_fixture(&sink, &[]).await;

    // Low first: it only counts on the dashboard. The medium one after it proves the
    // reactions got past the low one.
    detect(&app, &f.service, &f.session, misbehavior("low")).await;
    detect(&app, &f.service, &f.session, misbehavior("medium")).await;
    for teacher in &f.teachers {
        let found = wait_for_kind(&app, teacher, "misbehavior", 1).await;
        assert_about_the_session(&found[0], &f, "misbehavior");
        assert!(found[0]["assessment_id"].is_null());
        let emails = wait_for_emails(&sink, &teacher.email, 1, DEADLINE).await;
        assert_misbehavior_email(&emails[0], teacher, &f, "medium");
    }
    settle(&app).await;
    for teacher in &f.teachers {
        assert_eq!(
            of_kind(&app, &teacher.token, "misbehavior").await.len(),
            1,
            "no notification for the low one ({})",
            teacher.name
        );
    }
    assert_eq!(
        sink.messages().len(),
        2,
        "one email per teacher, none for low"
    );

    // High and critical too.
    for (n, severity) in [(2, "high"), (3, "critical")] {
        detect(&app, &f.service, &f.session, misbehavior(severity)).await;
        for teacher in &f.teachers {
            wait_for_kind(&app, teacher, "misbehavior", n).await;
            let emails = wait_for_emails(&sink, &teacher.email, n, DEADLINE).await;
            assert_misbehavior_email(&emails[n - 1], teacher, &f, severity);
        }
    }

    // A struggle: in the app only, by default.
    detect(&app, &f.service, &f.session, struggle("fractions")).await;
    for teacher in &f.teachers {
        let found = wait_for_kind(&app, teacher, "struggle", 1).await;
        assert_about_the_session(&found[0], &f, "struggle");
    }
    settle(&app).await;
    assert_eq!(sink.messages().len(), 6, "no email about the struggle");
    for teacher in &f.teachers {
        assert_eq!(of_kind(&app, &teacher.token, "struggle").await.len(), 1);
        assert_eq!(notifications(&app, &teacher.token).await.len(), 4);
    }

    // Nobody else heard about any of it.
    for (who, person) in f.everyone().into_iter().skip(2) {
        assert!(
            notifications(&app, &person.token).await.is_empty(),
            "{who} got a notification"
        );
        assert_eq!(unread_count(&app, &person.token).await, 0, "{who}");
    }
}

/// An immediate concern reaches, at once, the admins and counselors of the nearest group that
/// has any (the school's admin) and the nearest counselors (on the district); the district's
/// admin only hears of it if nobody acknowledges in time (the escalation ladder of ADR 0010,
/// tested in `workflows`).
#[tokio::test]
async fn an_immediate_safety_concern_reaches_the_nearest_admins_and_counselors_at_once() {
    let sink = SmtpSink::start().await;
    let (app, f) = app_with_fixture(&sink, &[]).await;
    // One more: an admin of the district, above the school.
    let (token, user) = register_named(
        &app,
        "dana.district@school.example",
        "Dana District",
        "fixture password 1",
    )
    .await;
    let district_admin = Person {
        id: user["id"].as_str().unwrap().to_owned(),
        token,
        email: "dana.district@school.example".to_owned(),
        name: "Dana District".to_owned(),
    };
    let response = app
        .request(
            Method::PUT,
            &format!("/groups/{}/members/{}", f.district, district_admin.id),
        )
        .json(&json!({"role": "admin"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);

    detect(&app, &f.service, &f.session, safety_concern()).await;
    let recipients = [&f.counselor, &f.school_admin];
    for person in recipients {
        let found = wait_for_kind(&app, person, "safety_concern", 1).await;
        assert_about_the_session(&found[0], &f, "safety_concern");
        let emails = wait_for_emails(&sink, &person.email, 1, DEADLINE).await;
        assert_eq!(emails[0].to, vec![person.email.clone()]);
        assert!(
            emails[0].subject.contains("Safety concern"),
            "{:?}",
            emails[0]
        );
    }
    settle(&app).await;
    for person in recipients {
        assert_eq!(
            notifications(&app, &person.token).await.len(),
            1,
            "{}",
            person.name
        );
    }
    assert_eq!(sink.messages().len(), 2, "one email per counselor or admin");
    for (who, person) in [
        ("teacher A", &f.teachers[0]),
        ("teacher B", &f.teachers[1]),
        ("student", &f.student),
        ("teacher of another class", &f.other_teacher),
        ("school member", &f.member),
        ("sibling-school admin", &f.sibling_admin),
        ("district admin (the next level)", &district_admin),
    ] {
        assert!(
            notifications(&app, &person.token).await.is_empty(),
            "{who} was notified of the safety concern"
        );
    }
}

#[tokio::test]
async fn only_low_confidence_assessments_ask_the_teachers_for_a_review() {
    let sink = SmtpSink::start().await;
    let (app, f) = app_with_fixture(&sink, &[]).await;

    let confident = record_assessment(&app, &f.service, &f.session, 0.8).await;
    let unsure = record_assessment(&app, &f.service, &f.session, 0.5).await;
    for teacher in &f.teachers {
        let found = wait_for_kind(&app, teacher, "assessment_review", 1).await;
        assert_about_the_session(&found[0], &f, "assessment_review");
        assert_eq!(found[0]["assessment_id"], unsure.as_str());
    }
    settle(&app).await;
    for teacher in &f.teachers {
        let found = of_kind(&app, &teacher.token, "assessment_review").await;
        assert_eq!(found.len(), 1, "none for confidence 0.8 ({confident})");
    }
    assert!(
        sink.messages().is_empty(),
        "assessment reviews are not emailed by default"
    );
    for (who, person) in f.everyone().into_iter().skip(2) {
        assert!(notifications(&app, &person.token).await.is_empty(), "{who}");
    }
}

#[tokio::test]
async fn the_inbox_lists_pages_counts_and_marks_only_the_callers_notifications() {
    let sink = SmtpSink::start().await;
    let (app, f) = app_with_fixture(&sink, &[]).await;
    let (a, b) = (&f.teachers[0], &f.teachers[1]);
    for severity in ["medium", "high", "critical"] {
        detect(&app, &f.service, &f.session, misbehavior(severity)).await;
    }
    let all = wait_for_kind(&app, a, "misbehavior", 3).await;
    wait_for_kind(&app, b, "misbehavior", 3).await;

    // Newest first.
    let times: Vec<chrono::DateTime<chrono::Utc>> = all
        .iter()
        .map(|n| n["created_at"].as_str().unwrap().parse().unwrap())
        .collect();
    assert!(
        times.windows(2).all(|w| w[0] >= w[1]),
        "newest first: {times:?}"
    );

    // Pages of two.
    let (status, first) = send(&app, &a.token, Method::GET, "/notifications?limit=2", None).await;
    assert_eq!(status, 200, "{first}");
    assert_eq!(first["items"].as_array().unwrap().len(), 2);
    let cursor = first["next_cursor"]
        .as_str()
        .expect("a next cursor")
        .to_owned();
    let second: Value = app
        .http
        .get(app.url("/notifications"))
        .bearer_auth(&a.token)
        .query(&[("limit", "2"), ("cursor", cursor.as_str())])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(second["items"].as_array().unwrap().len(), 1, "{second}");
    assert!(second["next_cursor"].is_null(), "{second}");
    let paged: Vec<Value> = first["items"]
        .as_array()
        .unwrap()
        .iter()
        .chain(second["items"].as_array().unwrap())
        .map(|n| n["id"].clone())
        .collect();
    let listed: Vec<Value> = all.iter().map(|n| n["id"].clone()).collect();
    assert_eq!(paged, listed, "the pages are the list, in order");

    // Mark one read: visible at once.
    assert_eq!(unread_count(&app, &a.token).await, 3);
    let target = all[1]["id"].as_str().unwrap().to_owned();
    let (status, read) = send(
        &app,
        &a.token,
        Method::POST,
        &format!("/notifications/{target}/read"),
        None,
    )
    .await;
    assert_eq!(status, 200, "{read}");
    assert_eq!(read["id"], target.as_str());
    assert!(read["read_at"].is_string(), "{read}");
    assert_eq!(unread_count(&app, &a.token).await, 2, "read-your-writes");
    let (_, unread) = send(
        &app,
        &a.token,
        Method::GET,
        "/notifications?unread=true&limit=50",
        None,
    )
    .await;
    let unread_ids: Vec<&str> = unread["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["id"].as_str().unwrap())
        .collect();
    assert_eq!(unread_ids.len(), 2);
    assert!(!unread_ids.contains(&target.as_str()));
    let everything = notifications(&app, &a.token).await;
    let marked = everything
        .iter()
        .find(|n| n["id"] == target.as_str())
        .unwrap();
    assert!(marked["read_at"].is_string(), "{marked}");

    // Someone else's notification does not exist for the caller.
    for (who, person) in [
        ("teacher B", b),
        ("teacher of another class", &f.other_teacher),
    ] {
        assert_eq!(
            app.status_as(
                &person.token,
                Method::POST,
                &format!("/notifications/{target}/read"),
                None
            )
            .await,
            404,
            "{who}"
        );
    }
    assert_eq!(
        app.status_as(
            &a.token,
            Method::POST,
            &format!("/notifications/{}/read", uuid::Uuid::new_v4()),
            None
        )
        .await,
        404
    );
    assert_eq!(unread_count(&app, &b.token).await, 3, "B's are B's own");
    assert!(notifications(&app, &f.other_teacher.token).await.is_empty());
    assert_eq!(unread_count(&app, &f.other_teacher.token).await, 0);

    // Read all.
    let (status, all_read) = send(
        &app,
        &a.token,
        Method::POST,
        "/notifications/read-all",
        None,
    )
    .await;
    assert_eq!(status, 200, "{all_read}");
    assert_eq!(all_read, json!({"marked": 2}));
    assert_eq!(unread_count(&app, &a.token).await, 0);
    let (_, unread) = send(
        &app,
        &a.token,
        Method::GET,
        "/notifications?unread=true",
        None,
    )
    .await;
    assert!(unread["items"].as_array().unwrap().is_empty(), "{unread}");
    assert_eq!(unread_count(&app, &b.token).await, 3, "B's stay unread");

    // Anonymous callers.
    for (method, path) in [
        (Method::GET, "/notifications".to_owned()),
        (Method::GET, "/notifications/unread-count".to_owned()),
        (Method::POST, format!("/notifications/{target}/read")),
        (Method::POST, "/notifications/read-all".to_owned()),
        (Method::GET, "/me/notification-preferences".to_owned()),
    ] {
        let response = app
            .http
            .request(method.clone(), app.url(&path))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 401, "{method} {path}");
    }
    let response = app
        .http
        .put(app.url("/me/notification-preferences"))
        .json(&json!({"email": {"misbehavior": false}}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
}

#[tokio::test]
async fn email_preferences_decide_which_notifications_are_also_emailed() {
    let sink = SmtpSink::start().await;
    let (app, f) = app_with_fixture(&sink, &[]).await;
    let (a, b) = (&f.teachers[0], &f.teachers[1]);
    let path = "/me/notification-preferences";

    let defaults = json!({"email": {
        "misbehavior": true, "struggle": false, "safety_concern": true, "assessment_review": false
    }});
    let (status, got) = send(&app, &a.token, Method::GET, path, None).await;
    assert_eq!(status, 200, "{got}");
    assert_eq!(got, defaults);

    // Every field inside `email` is optional; the others stay.
    let (status, got) = send(
        &app,
        &a.token,
        Method::PUT,
        path,
        Some(json!({"email": {"misbehavior": false}})),
    )
    .await;
    assert_eq!(status, 200, "{got}");
    let a_prefs = json!({"email": {
        "misbehavior": false, "struggle": false, "safety_concern": true, "assessment_review": false
    }});
    assert_eq!(got, a_prefs);
    let (status, got) = send(
        &app,
        &b.token,
        Method::PUT,
        path,
        Some(json!({"email": {"struggle": true}})),
    )
    .await;
    assert_eq!(status, 200, "{got}");
    let b_prefs = json!({"email": {
        "misbehavior": true, "struggle": true, "safety_concern": true, "assessment_review": false
    }});
    assert_eq!(got, b_prefs);
    assert_eq!(
        send(&app, &a.token, Method::GET, path, None).await.1,
        a_prefs
    );
    assert_eq!(
        send(&app, &b.token, Method::GET, path, None).await.1,
        b_prefs
    );
    assert_eq!(
        send(&app, &f.counselor.token, Method::GET, path, None)
            .await
            .1,
        defaults,
        "each caller has their own"
    );

    // Bad bodies change nothing.
    for bad in [
        json!({"email": {"misbehavior": true, "sms": true}}),
        json!({"email": {}, "push": {"struggle": true}}),
        json!({"email": {"misbehavior": "yes"}}),
    ] {
        let status = app
            .status_as(&a.token, Method::PUT, path, Some(bad.clone()))
            .await;
        assert!(status == 400 || status == 422, "{bad}: {status}");
    }
    assert_eq!(
        send(&app, &a.token, Method::GET, path, None).await.1,
        a_prefs
    );

    // A: misbehavior in the app only. B: struggles by email too.
    detect(&app, &f.service, &f.session, misbehavior("medium")).await;
    detect(&app, &f.service, &f.session, struggle("long division")).await;
    for teacher in [a, b] {
        wait_for_kind(&app, teacher, "misbehavior", 1).await;
        wait_for_kind(&app, teacher, "struggle", 1).await;
    }
    let b_emails = wait_for_emails(&sink, &b.email, 2, DEADLINE).await;
    settle(&app).await;
    assert!(
        emails_to(&sink, &a.email).is_empty(),
        "A turned misbehavior emails off"
    );
    assert_eq!(emails_to(&sink, &b.email).len(), 2);
    let about_misbehavior = b_emails
        .iter()
        .filter(|m| m.subject.contains("Misbehavior"))
        .count();
    assert_eq!(
        about_misbehavior, 1,
        "one misbehavior and one struggle email: {b_emails:?}"
    );
    assert_eq!(sink.messages().len(), 2);
}

#[tokio::test]
async fn an_email_is_retried_until_the_smtp_server_answers_and_then_sent_once() {
    let mut sink = SmtpSink::start().await;
    let (app, f) = app_with_fixture(
        &sink,
        &[("MAIL_RETRY_ATTEMPTS", "8"), ("MAIL_RETRY_DELAY_MS", "200")],
    )
    .await;
    sink.stop().await;

    detect(&app, &f.service, &f.session, misbehavior("high")).await;
    eventually("a failed delivery", DEADLINE, || async {
        (count_aggregate_events(&app, "email_delivery", "email.delivery_failed").await > 0)
            .then_some(())
    })
    .await;
    sink.restart().await;

    for teacher in &f.teachers {
        let emails = wait_for_emails(&sink, &teacher.email, 1, Duration::from_secs(40)).await;
        assert_misbehavior_email(&emails[0], teacher, &f, "high");
    }
    settle(&app).await;
    for teacher in &f.teachers {
        assert_eq!(emails_to(&sink, &teacher.email).len(), 1, "exactly once");
    }
    assert_eq!(sink.messages().len(), 2);
    assert_eq!(
        count_aggregate_events(&app, "email_delivery", "email.delivered").await,
        2
    );
    assert_eq!(
        count_aggregate_events(&app, "email_delivery", "email.dead_lettered").await,
        0
    );
    assert!(count_aggregate_events(&app, "email_delivery", "email.delivery_failed").await >= 1);
}

#[tokio::test]
async fn dead_letters_are_listed_for_system_admins_and_retried_on_demand() {
    let mut sink = SmtpSink::start().await;
    let (app, f) = app_with_fixture(
        &sink,
        &[("MAIL_RETRY_ATTEMPTS", "2"), ("MAIL_RETRY_DELAY_MS", "20")],
    )
    .await;
    sink.stop().await;
    let (a, b) = (&f.teachers[0], &f.teachers[1]);

    detect(&app, &f.service, &f.session, misbehavior("critical")).await;
    let items = eventually("two dead letters", DEADLINE, || async {
        let (status, body) = send(&app, &app.token, Method::GET, "/admin/dead-letters", None).await;
        assert_eq!(status, 200, "{body}");
        let items = body["items"].as_array().expect("items").clone();
        (items.len() >= 2).then_some(items)
    })
    .await;
    assert_eq!(items.len(), 2, "{items:?}");
    let mut recipients = HashSet::new();
    for item in &items {
        let recipient = item["recipient_id"].as_str().expect("recipient_id");
        recipients.insert(recipient.to_owned());
        let teacher = f
            .teachers
            .iter()
            .find(|t| t.id == recipient)
            .unwrap_or_else(|| panic!("dead letter for a teacher: {item}"));
        let notification = &wait_for_kind(&app, teacher, "misbehavior", 1).await[0];
        assert_eq!(item["notification_id"], notification["id"], "{item}");
        assert!(item["id"].is_string(), "{item}");
        assert_eq!(item["kind"], "misbehavior", "{item}");
        assert_eq!(item["attempts"], 2, "{item}");
        assert!(
            item["last_error"].as_str().is_some_and(|e| !e.is_empty()),
            "{item}"
        );
        assert!(item["dead_lettered_at"].is_string(), "{item}");
    }
    assert_eq!(recipients.len(), 2, "one per teacher");
    assert_eq!(
        count_aggregate_events(&app, "email_delivery", "email.dead_lettered").await,
        2
    );
    assert_eq!(
        count_aggregate_events(&app, "email_delivery", "email.delivery_failed").await,
        4,
        "each of the two attempts of each email failed"
    );

    // Only system admins.
    let letter = |teacher: &Person| {
        items
            .iter()
            .find(|i| i["recipient_id"] == teacher.id.as_str())
            .unwrap()["id"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let (letter_a, letter_b) = (letter(a), letter(b));
    for (who, token) in [
        ("teacher", &a.token),
        ("school admin", &f.school_admin.token),
        ("district counselor", &f.counselor.token),
    ] {
        assert_eq!(
            app.status_as(token, Method::GET, "/admin/dead-letters", None)
                .await,
            403,
            "{who} lists"
        );
        assert_eq!(
            app.status_as(
                token,
                Method::POST,
                &format!("/admin/dead-letters/{letter_a}/retry"),
                None
            )
            .await,
            403,
            "{who} retries"
        );
    }
    let anonymous = app
        .http
        .get(app.url("/admin/dead-letters"))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), 401);
    assert!(sink.messages().is_empty());

    // The server is back: retry A's letter only.
    sink.restart().await;
    let (status, body) = send(
        &app,
        &app.token,
        Method::POST,
        &format!("/admin/dead-letters/{letter_a}/retry"),
        None,
    )
    .await;
    assert_eq!(status, 202, "{body}");
    let emails = wait_for_emails(&sink, &a.email, 1, DEADLINE).await;
    assert_misbehavior_email(&emails[0], a, &f, "critical");
    eventually("A's letter leaves the list", DEADLINE, || async {
        let (_, body) = send(&app, &app.token, Method::GET, "/admin/dead-letters", None).await;
        let ids: Vec<&str> = body["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["id"].as_str().unwrap())
            .collect();
        (ids == [letter_b.as_str()]).then_some(())
    })
    .await;
    assert!(count_aggregate_events(&app, "email_delivery", "email.retry_requested").await >= 1);
    settle(&app).await;
    assert!(
        emails_to(&sink, &b.email).is_empty(),
        "B's letter was not retried"
    );

    // Then B's.
    assert_eq!(
        app.status_as(
            &app.token,
            Method::POST,
            &format!("/admin/dead-letters/{letter_b}/retry"),
            None
        )
        .await,
        202
    );
    let emails = wait_for_emails(&sink, &b.email, 1, DEADLINE).await;
    assert_misbehavior_email(&emails[0], b, &f, "critical");
    eventually("an empty dead-letter list", DEADLINE, || async {
        let (_, body) = send(&app, &app.token, Method::GET, "/admin/dead-letters", None).await;
        body["items"].as_array().unwrap().is_empty().then_some(())
    })
    .await;
    settle(&app).await;
    assert_eq!(sink.messages().len(), 2, "each exactly once");
    assert_eq!(
        count_aggregate_events(&app, "email_delivery", "email.delivered").await,
        2
    );
}

/// The counts that must not change: notification rows, `notification.created` events and
/// emails at the sink.
async fn assert_twenty_of_everything(
    app: &TestApp,
    sink: &SmtpSink,
    f: &SchoolFixture,
    when: &str,
) {
    let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM notifications")
        .fetch_one(&app.pool)
        .await
        .expect("count notifications");
    assert_eq!(rows, 20, "notification rows {when}");
    assert_eq!(
        app.count_event_type("notification.created").await,
        20,
        "notification.created events {when}"
    );
    assert_eq!(sink.messages().len(), 20, "emails {when}");
    for teacher in &f.teachers {
        let mine = of_kind(app, &teacher.token, "misbehavior").await;
        let ids: HashSet<&str> = mine.iter().map(|n| n["id"].as_str().unwrap()).collect();
        assert_eq!(ids.len(), 10, "{}'s notifications {when}", teacher.name);
        let emails = emails_to(sink, &teacher.email);
        assert_eq!(emails.len(), 10, "{}'s emails {when}", teacher.name);
        for email in &emails {
            assert_misbehavior_email(email, teacher, f, "medium");
        }
    }
}

#[tokio::test]
async fn a_crash_mid_batch_and_a_full_replay_neither_lose_nor_repeat_a_notification() {
    let sink = SmtpSink::start().await;
    let (mut app, f) = app_with_fixture(&sink, &[]).await;

    // The fault hits the first batch the reaction subscriber gets after start-up. Built in a
    // running app, the fixture's events would be that batch (with no command in it), so the
    // fault is armed by a restart after the fixture: the first batch then holds the first
    // detection, two commands (one per teacher), and fails after the first of them.
    app.wait_for_all_subscribers().await;
    app.stop().await;
    app.restart_with(TestOptions::mailing_to(
        &sink,
        &[("REACTIONS_FAULT_AFTER_COMMANDS", "1")],
    ))
    .await;

    // Ten in quick succession.
    for i in 0..10 {
        let mut detection = misbehavior("medium");
        detection["evidence"] = json!(format!("asked for the answer key, attempt {i}"));
        detect(&app, &f.service, &f.session, detection).await;
    }
    eventually("20 notifications", Duration::from_secs(20), || async {
        let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM notifications")
            .fetch_one(&app.pool)
            .await
            .unwrap();
        (rows >= 20).then_some(())
    })
    .await;
    eventually("20 emails", Duration::from_secs(20), || async {
        (sink.messages().len() >= 20).then_some(())
    })
    .await;
    settle(&app).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_twenty_of_everything(&app, &sink, &f, "after the crash").await;
    let board = dashboard(&app, &app.token, &f.class).await;
    assert_eq!(board["misbehavior"]["total"], counts(0, 10, 0, 0));

    // A full replay: every subscriber from position 0, on a new server, without the fault.
    app.stop().await;
    let reset = sqlx::query("UPDATE subscriber_checkpoints SET position = 0")
        .execute(&app.pool)
        .await
        .expect("reset the checkpoints")
        .rows_affected();
    assert!(reset > 0);
    app.restart_with(TestOptions::mailing_to(&sink, &[])).await;
    app.wait_for_all_subscribers().await;
    let names: Vec<String> = sqlx::query_scalar("SELECT name FROM subscriber_checkpoints")
        .fetch_all(&app.pool)
        .await
        .unwrap();
    for name in ["reactions", "email_delivery"] {
        assert!(
            names.iter().any(|n| n == name),
            "subscriber {name} in {names:?}"
        );
    }
    settle(&app).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_twenty_of_everything(&app, &sink, &f, "after the replay").await;
    let replayed = dashboard(&app, &app.token, &f.class).await;
    assert_eq!(
        replayed["misbehavior"], board["misbehavior"],
        "re-applied events are not counted twice"
    );
    assert_eq!(replayed["active_sessions"], board["active_sessions"]);
}

/// The class dashboard as `token`.
async fn dashboard(app: &TestApp, token: &str, class: &str) -> Value {
    let (status, body) = send(
        app,
        token,
        Method::GET,
        &format!("/classes/{class}/dashboard"),
        None,
    )
    .await;
    assert_eq!(status, 200, "dashboard: {body}");
    body
}

/// Waits until the dashboard satisfies `done`; returns it.
async fn wait_for_dashboard(
    app: &TestApp,
    token: &str,
    class: &str,
    what: &str,
    done: impl Fn(&Value) -> bool,
) -> Value {
    let done = &done;
    eventually(
        &format!("a dashboard with {what}"),
        DEADLINE,
        || async move {
            let board = dashboard(app, token, class).await;
            done(&board).then_some(board)
        },
    )
    .await
}

fn counts(low: i64, medium: i64, high: i64, critical: i64) -> Value {
    json!({"low": low, "medium": medium, "high": high, "critical": critical})
}

#[tokio::test]
async fn the_class_dashboard_follows_detections_assessments_and_completions() {
    let sink = SmtpSink::start().await;
    let (app, f) = app_with_fixture(&sink, &[]).await;
    let pia = f.add_student(&app, "pia.pupil", "Pia Pupil").await;
    let second = f.start_session(&app, &pia).await;
    // The data is read by the system admin; who may read the dashboard is checked at the end.
    let admin = &app.token;

    for severity in ["low", "medium", "medium", "high", "critical"] {
        detect(&app, &f.service, &f.session, misbehavior(severity)).await;
    }
    detect(&app, &f.service, &f.session, struggle("fractions")).await;
    detect(&app, &f.service, &second, safety_concern()).await;
    detect(&app, &f.service, &second, misbehavior("low")).await;
    let first_assessment = record_assessment(&app, &f.service, &f.session, 0.5).await;
    record_assessment(&app, &f.service, &second, 0.6).await;

    let board = wait_for_dashboard(&app, admin, &f.class, "every detection", |b| {
        b["misbehavior"]["total"] == counts(2, 2, 1, 1)
            && b["struggling_students"]
                .as_array()
                .is_some_and(|s| s.len() == 1)
            && b["open_safety_concerns"] == 1
            && b["assessments_awaiting_review"] == 2
    })
    .await;
    assert_eq!(board["class_id"], f.class.as_str());
    assert_eq!(board["active_sessions"], 2);
    assert_eq!(board["misbehavior"]["today"], counts(2, 2, 1, 1));
    let struggling = &board["struggling_students"][0];
    assert_eq!(struggling["student_id"], f.student.id.as_str());
    assert_eq!(struggling["learning_session_id"], f.session.as_str());
    assert_eq!(struggling["topic"], "fractions");
    assert!(struggling["since"].is_string(), "{struggling}");
    let recent = board["recent_events"].as_array().expect("recent_events");
    assert!(
        recent.len() >= 8,
        "at least the eight detections: {recent:?}"
    );
    let positions: Vec<i64> = recent
        .iter()
        .map(|e| e["position"].as_i64().unwrap())
        .collect();
    assert!(
        positions.windows(2).all(|w| w[0] > w[1]),
        "newest first: {positions:?}"
    );
    for event in recent {
        assert!(event["type"].is_string(), "{event}");
        assert!(event["summary"].is_string(), "{event}");
        assert!(event["recorded_at"].is_string(), "{event}");
    }
    let types: Vec<&str> = recent.iter().map(|e| e["type"].as_str().unwrap()).collect();
    for expected in [
        "behavior.misbehavior_detected",
        "learning.struggle_detected",
        "safety.concern_detected",
    ] {
        assert!(types.contains(&expected), "{expected} in {types:?}");
    }
    for event in recent {
        if event["type"] == "safety.concern_detected" {
            // Every adult of the class reads it: whose concern it is, it does not say.
            assert_eq!(event["learning_session_id"], Value::Null, "{event}");
            assert_eq!(event["student_id"], Value::Null, "{event}");
            continue;
        }
        let session = event["learning_session_id"].as_str().unwrap_or_default();
        assert!(session == f.session || session == second, "{event}");
        let student = event["student_id"].as_str().unwrap_or_default();
        assert!(student == f.student.id || student == pia.id, "{event}");
    }

    // A review lowers the waiting count; completing a session ends its struggle.
    let (status, body) = send(
        &app,
        &f.school_admin.token,
        Method::POST,
        &format!("/assessments/{first_assessment}/review"),
        Some(json!({"notes": "fine"})),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    wait_for_dashboard(
        &app,
        admin,
        &f.class,
        "one assessment awaiting review",
        |b| b["assessments_awaiting_review"] == 1,
    )
    .await;
    let (status, body) = send(
        &app,
        &f.student.token,
        Method::POST,
        &format!("/learning-sessions/{}/complete", f.session),
        Some(json!({"summary": "Added fractions", "topics_covered": ["fractions"]})),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let board = wait_for_dashboard(&app, admin, &f.class, "one active session", |b| {
        b["active_sessions"] == 1
    })
    .await;
    assert_eq!(board["struggling_students"], json!([]), "{board}");
    assert_eq!(
        board["misbehavior"]["total"],
        counts(2, 2, 1, 1),
        "counters stay"
    );

    // At most 50 recent events.
    for _ in 0..50 {
        detect(&app, &f.service, &second, misbehavior("low")).await;
    }
    let board = wait_for_dashboard(&app, admin, &f.class, "52 low misbehaviors", |b| {
        b["misbehavior"]["total"]["low"] == 52
    })
    .await;
    let recent = board["recent_events"].as_array().unwrap();
    assert_eq!(recent.len(), 50, "capped at 50");
    let head = app.log_head().await;
    assert!(recent[0]["position"].as_i64().unwrap() <= head);
    assert_eq!(recent[0]["type"], "behavior.misbehavior_detected");

    // Who sees it.
    let path = format!("/classes/{}/dashboard", f.class);
    assert_statuses(
        &app,
        Method::GET,
        &path,
        None,
        &[
            ("teacher A", &f.teachers[0].token, 200),
            ("teacher B", &f.teachers[1].token, 200),
            ("school admin", &f.school_admin.token, 200),
            ("district counselor", &f.counselor.token, 200),
            ("system admin", &app.token, 200),
            ("student of the class", &f.student.token, 403),
            ("teacher of another class", &f.other_teacher.token, 404),
            ("school member", &f.member.token, 404),
            ("sibling-school admin", &f.sibling_admin.token, 404),
        ],
    )
    .await;
    let anonymous = app.http.get(app.url(&path)).send().await.unwrap();
    assert_eq!(anonymous.status(), 401);
}

#[tokio::test]
async fn detections_from_the_wrong_callers_or_with_bad_input_change_nothing() {
    let sink = SmtpSink::start().await;
    let (app, f) = app_with_fixture(&sink, &[]).await;
    let path = format!("/learning-sessions/{}/detections", f.session);
    app.wait_for_all_subscribers().await;
    let before = app.log_length().await;

    assert_statuses(
        &app,
        Method::POST,
        &path,
        Some(misbehavior("high")),
        &[
            ("the student", &f.student.token, 403),
            (
                "a service account of another school",
                &f.foreign_service,
                404,
            ),
            ("a teacher of another class", &f.other_teacher.token, 404),
        ],
    )
    .await;
    let anonymous = app
        .http
        .post(app.url(&path))
        .json(&misbehavior("high"))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), 401);

    let mut oversized = misbehavior("high");
    oversized["evidence"] = json!("x".repeat(8001));
    let mut oversized_concern = safety_concern();
    oversized_concern["evidence"] = json!("y".repeat(8001));
    let mut oversized_topic = struggle("fractions");
    oversized_topic["topic"] = json!("z".repeat(8001));
    let mut accepted = vec![];
    for (what, body) in [
        ("unknown severity", misbehavior("apocalyptic")),
        ("oversized evidence", oversized),
        ("oversized safety-concern evidence", oversized_concern),
        ("oversized struggle topic", oversized_topic),
        (
            "misbehavior without severity",
            json!({"type": "misbehavior", "category": "cheating", "evidence": "e"}),
        ),
        (
            "struggle without indicators",
            json!({"type": "struggle", "topic": "fractions", "duration_seconds": 10}),
        ),
        (
            "safety concern without urgency",
            json!({"type": "safety_concern", "concern_type": "distress"}),
        ),
        ("unknown type", json!({"type": "teleportation"})),
        (
            "no type",
            json!({"category": "cheating", "severity": "high", "evidence": "e"}),
        ),
    ] {
        let status = app
            .status_as(&f.service, Method::POST, &path, Some(body))
            .await;
        if !(400..500).contains(&status) {
            accepted.push(format!("{what}: {status}"));
        }
    }
    assert!(
        accepted.is_empty(),
        "bad detections not refused: {accepted:?}"
    );
    settle(&app).await;
    assert_eq!(app.log_length().await, before, "nothing appended");
    for (who, person) in f.everyone() {
        assert!(notifications(&app, &person.token).await.is_empty(), "{who}");
    }
    assert!(sink.messages().is_empty());

    // A valid one reaches the teachers only; another class's teacher sees nothing of it.
    detect(&app, &f.service, &f.session, misbehavior("high")).await;
    for teacher in &f.teachers {
        wait_for_kind(&app, teacher, "misbehavior", 1).await;
    }
    settle(&app).await;
    let outsider = &f.other_teacher.token;
    assert!(notifications(&app, outsider).await.is_empty());
    assert_eq!(unread_count(&app, outsider).await, 0);
    assert_eq!(
        app.status_as(
            outsider,
            Method::GET,
            &format!("/classes/{}/dashboard", f.class),
            None
        )
        .await,
        404
    );
    let foreign = f.teachers[0].token.clone();
    let theirs = &notifications(&app, &foreign).await[0];
    assert_eq!(
        app.status_as(
            outsider,
            Method::POST,
            &format!("/notifications/{}/read", theirs["id"].as_str().unwrap()),
            None
        )
        .await,
        404
    );
}
