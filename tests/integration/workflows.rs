//! The workflows (ADR 0010) end to end through HTTP, with real PostgreSQL, SMTP and NATS and
//! delays in milliseconds: every path of the struggle intervention and of the safety
//! escalation, the recovery that arrives one millisecond after the struggle, a crash while
//! a timer waits, two instances on one database, and a replay of the process manager.

use std::time::Duration;

use api::Application;
use reqwest::Method;
use serde_json::{json, Value};
use tests::{
    detect, eventually, register_named, send, spawn_app_with, test_env, NatsServer, Person,
    SchoolFixture, ServerProcess, SmtpSink, TestApp, TestOptions,
};

const DEADLINE: Duration = Duration::from_secs(15);

async fn app_with_fixture(sink: &SmtpSink, extra: &[(&str, &str)]) -> (TestApp, SchoolFixture) {
    let app = spawn_app_with(TestOptions::mailing_to(sink, extra)).await;
    let fixture = SchoolFixture::build(&app).await;
    (app, fixture)
}

fn struggle(topic: &str) -> Value {
    json!({"type": "struggle", "topic": topic, "indicators": ["repeated errors"],
           "duration_seconds": 300})
}

fn recovery(topic: &str) -> Value {
    json!({"type": "recovery", "topic": topic})
}

fn concern(urgency: &str) -> Value {
    json!({"type": "safety_concern", "concern_type": "distress", "urgency": urgency,
           "evidence": "said they feel unsafe at home"})
}

async fn get(app: &TestApp, token: &str, path: &str) -> Value {
    let (status, body) = send(app, token, Method::GET, path, None).await;
    assert_eq!(status, 200, "GET {path}: {body}");
    body
}

/// The class's interventions once `n` of them have ended.
async fn ended_interventions(app: &TestApp, f: &SchoolFixture, n: usize) -> Vec<Value> {
    eventually(&format!("{n} ended intervention(s)"), DEADLINE, || async {
        let page = get(
            app,
            &app.token,
            &format!("/classes/{}/interventions", f.class),
        )
        .await;
        let items = page["items"].as_array().expect("items").clone();
        let ended = items.iter().filter(|i| i["step"] == "ended").count();
        (ended >= n).then_some(items)
    })
    .await
}

async fn notifications_of_kind(app: &TestApp, person: &Person, kind: &str) -> Vec<Value> {
    let page = get(app, &person.token, "/notifications?limit=200").await;
    page["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter(|n| n["kind"] == kind)
        .cloned()
        .collect()
}

async fn wait_for_notifications(
    app: &TestApp,
    person: &Person,
    kind: &str,
    n: usize,
) -> Vec<Value> {
    eventually(
        &format!("{n} {kind} notification(s) for {}", person.name),
        DEADLINE,
        || async {
            let found = notifications_of_kind(app, person, kind).await;
            (found.len() >= n).then_some(found)
        },
    )
    .await
}

/// The messages the workflows posted into a learning session.
async fn workflow_messages(app: &TestApp, session: &str) -> Vec<Value> {
    let body = get(app, &app.token, &format!("/learning-sessions/{session}")).await;
    body["entries"]
        .as_array()
        .map(|entries| {
            entries
                .iter()
                .filter(|e| {
                    e["kind"] == "session.message_posted" && e["data"]["message_id"].is_string()
                })
                .cloned()
                .collect()
        })
        .unwrap_or_default()
}

async fn count_events(app: &TestApp, event_type: &str) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM events WHERE event_type = $1")
        .bind(event_type)
        .fetch_one(&app.pool)
        .await
        .expect("count events")
}

/// The id of the only safety concern of the log.
async fn the_concern(app: &TestApp) -> String {
    eventually("the safety concern", DEADLINE, || async {
        sqlx::query_scalar::<_, String>(
            "SELECT aggregate_id FROM events WHERE event_type = 'safety_concern.opened'",
        )
        .fetch_optional(&app.pool)
        .await
        .expect("concern")
    })
    .await
}

async fn concern_detail(app: &TestApp, token: &str, id: &str) -> Value {
    get(app, token, &format!("/safety-concerns/{id}")).await
}

#[tokio::test]
async fn a_recovery_one_millisecond_after_the_struggle_ends_it_self_recovered() {
    let sink = SmtpSink::start().await;
    let (app, f) = app_with_fixture(&sink, &[("STRUGGLE_RECHECK_AFTER_MS", "400")]).await;
    detect(&app, &f.service, &f.session, struggle("Fractions")).await;
    detect(&app, &f.service, &f.session, recovery("fractions")).await;
    // The teachers were told at once, in the app.
    for teacher in &f.teachers {
        let found = wait_for_notifications(&app, teacher, "struggle", 1).await;
        assert!(
            found[0]["title"].as_str().unwrap().contains("Fractions"),
            "{found:?}"
        );
    }
    let items = ended_interventions(&app, &f, 1).await;
    assert_eq!(items.len(), 1, "{items:?}");
    assert_eq!(items[0]["outcome"], "self_recovered", "{items:?}");
    assert_eq!(items[0]["teachers_notified"], 2, "{items:?}");
    assert!(workflow_messages(&app, &f.session).await.is_empty());
    // The instance shows its steps and has no timer left.
    let id = items[0]["id"].as_str().unwrap();
    let workflow = get(&app, &app.token, &format!("/workflows/{id}")).await;
    assert_eq!(workflow["type"], "struggle_intervention");
    assert_eq!(workflow["state"], "ended");
    assert_eq!(workflow["outcome"], "self_recovered");
    let steps: Vec<&str> = workflow["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["type"].as_str().unwrap())
        .collect();
    assert_eq!(
        steps,
        [
            "intervention.started",
            "intervention.teachers_notified",
            "intervention.recheck_scheduled",
            "intervention.recovery_observed",
            "intervention.recheck_fired",
            "intervention.ended"
        ]
    );
    assert_eq!(workflow["pending_timers"], json!([]));
}

#[tokio::test]
async fn a_student_still_struggling_gets_one_assistant_message_naming_the_topic() {
    let sink = SmtpSink::start().await;
    let (app, f) = app_with_fixture(&sink, &[("STRUGGLE_RECHECK_AFTER_MS", "400")]).await;
    detect(&app, &f.service, &f.session, struggle("long division")).await;
    // A second struggle on the same topic joins; another topic starts its own instance.
    detect(&app, &f.service, &f.session, struggle("Long  Division")).await;
    detect(&app, &f.service, &f.session, struggle("decimals")).await;
    let items = ended_interventions(&app, &f, 2).await;
    assert_eq!(items.len(), 2, "{items:?}");
    let division = items
        .iter()
        .find(|i| i["topic"] == "long division")
        .unwrap();
    assert_eq!(division["detections"], 2, "{division}");
    for item in &items {
        assert_eq!(item["outcome"], "ai_intervention", "{item}");
    }
    let messages = workflow_messages(&app, &f.session).await;
    assert_eq!(messages.len(), 2, "{messages:?}");
    assert!(messages.iter().any(|m| m["data"]["content"]
        .as_str()
        .unwrap()
        .contains("Let me try explaining long division in a different way")));
    assert!(messages.iter().all(|m| m["data"]["role"] == "assistant"));
    // The teachers were told once per instance, not per detection.
    app.wait_for_all_subscribers().await;
    assert_eq!(
        notifications_of_kind(&app, &f.teachers[0], "struggle")
            .await
            .len(),
        2
    );
    // Fired when due by the database clock, never before: the firing event is recorded at or
    // after the due time the saga scheduled (the loop reads timers ahead and sleeps until then).
    let early: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM events s JOIN events f \
           ON f.aggregate_type = s.aggregate_type AND f.aggregate_id = s.aggregate_id \
         WHERE s.event_type = 'intervention.recheck_scheduled' \
           AND f.event_type = 'intervention.recheck_fired' \
           AND f.recorded_at < (s.payload->>'due_at')::timestamptz",
    )
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(early, 0, "a recheck fired before it was due");
}

#[tokio::test]
async fn a_paused_or_completed_session_ends_its_interventions_session_ended() {
    let sink = SmtpSink::start().await;
    let (app, f) = app_with_fixture(&sink, &[("STRUGGLE_RECHECK_AFTER_MS", "600")]).await;
    // Paused when the recheck comes: session_ended, no message.
    detect(&app, &f.service, &f.session, struggle("fractions")).await;
    let (status, body) = send(
        &app,
        &f.teachers[0].token,
        Method::POST,
        &format!("/learning-sessions/{}/pause", f.session),
        Some(json!({"reason": "a break"})),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let items = ended_interventions(&app, &f, 1).await;
    assert_eq!(items[0]["outcome"], "session_ended", "{items:?}");
    assert!(workflow_messages(&app, &f.session).await.is_empty());

    // Completed while waiting (a long recheck): ended at once, the timer no longer matters.
    let second = f.start_session(&app, &f.student).await;
    detect(&app, &f.service, &second, struggle("fractions")).await;
    let (status, body) = send(
        &app,
        &f.student.token,
        Method::POST,
        &format!("/learning-sessions/{second}/complete"),
        Some(json!({"summary": "Done", "topics_covered": ["fractions"]})),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let items = ended_interventions(&app, &f, 2).await;
    assert!(
        items.iter().all(|i| i["outcome"] == "session_ended"),
        "{items:?}"
    );
    tokio::time::sleep(Duration::from_millis(800)).await;
    app.wait_for_all_subscribers().await;
    assert!(workflow_messages(&app, &second).await.is_empty());
}

#[tokio::test]
async fn an_immediate_concern_pauses_the_session_and_climbs_two_levels_then_resolves() {
    let sink = SmtpSink::start().await;
    let (app, f) = app_with_fixture(&sink, &[("SAFETY_ACK_TIMEOUT_MS", "500")]).await;
    // Email off for safety concerns: an immediate alert is emailed all the same.
    let (status, _) = send(
        &app,
        &f.school_admin.token,
        Method::PUT,
        "/me/notification-preferences",
        Some(json!({"email": {"safety_concern": false}})),
    )
    .await;
    assert_eq!(status, 200);
    let district_admin = SchoolFixture::person(&app, "dana.district", "Dana District").await;
    let (status, _) = send(
        &app,
        &app.token,
        Method::PUT,
        &format!("/groups/{}/members/{}", f.district, district_admin.id),
        Some(json!({"role": "admin"})),
    )
    .await;
    assert_eq!(status, 200);

    detect(&app, &f.service, &f.session, concern("immediate")).await;
    let id = the_concern(&app).await;
    // Level 0 at once: the school's admin and the nearest counselor (on the district).
    for person in [&f.school_admin, &f.counselor] {
        wait_for_notifications(&app, person, "safety_concern", 1).await;
    }
    eventually("the school admin's email", DEADLINE, || async {
        sink.messages()
            .iter()
            .any(|m| m.to == vec![f.school_admin.email.clone()])
            .then_some(())
    })
    .await;
    // The session is paused by the workflow: adults see why and by whom (the counselor in
    // the session's entries and the concern's timeline, the system admin in its stream).
    let session = eventually("the workflow's pause", DEADLINE, || async {
        let session = session_as(&app, &f.counselor.token, &f.session).await;
        (session["status"] == "paused").then_some(session)
    })
    .await;
    let paused = entries_of_kind(&session, "session.paused");
    assert_eq!(paused.len(), 1, "{session}");
    assert_eq!(paused[0]["data"]["reason"], "safety concern");
    let stream = get(
        &app,
        &app.token,
        &format!("/streams/learning_session/{}", f.session),
    )
    .await;
    let paused: Vec<&Value> = stream["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["type"] == "session.paused")
        .collect();
    assert_eq!(paused.len(), 1, "{stream}");
    assert_eq!(paused[0]["payload"]["reason"], "safety concern");
    assert_eq!(paused[0]["metadata"]["actor"], "system:workflows");
    let detail = eventually("the pause on the concern", DEADLINE, || async {
        let detail = concern_detail(&app, &f.counselor.token, &id).await;
        let steps = detail["timeline"].as_array().unwrap().clone();
        steps
            .into_iter()
            .find(|s| s["type"] == "safety_concern.session_paused")
    })
    .await;
    assert_eq!(detail["actor"], "system:workflows", "{detail}");
    // Nobody acknowledges: level 1 (the district: its admin and counselor), then level 2
    // (the system admins).
    wait_for_notifications(&app, &district_admin, "safety_concern", 1).await;
    let detail = eventually("level 2", DEADLINE, || async {
        let detail = concern_detail(&app, &f.counselor.token, &id).await;
        let alerts = detail["timeline"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|s| s["type"] == "safety_concern.alerted")
            .count();
        (alerts == 3).then_some(detail)
    })
    .await;
    assert_eq!(detail["status"], "open");
    // The system admins are the last level (their inbox follows the log: wait for it).
    the_system_admin_is_alerted(&app).await;
    // Nothing more after the last level.
    tokio::time::sleep(Duration::from_millis(800)).await;
    app.wait_for_all_subscribers().await;
    assert_eq!(count_events(&app, "safety_concern.alerted").await, 3);
    let detail = concern_detail(&app, &f.counselor.token, &id).await;
    assert_eq!(
        detail["pending_timers"],
        json!([]),
        "no timer after the last level"
    );

    // The dashboard counts it open until it is resolved.
    let dashboard = get(&app, &app.token, &format!("/classes/{}/dashboard", f.class)).await;
    assert_eq!(dashboard["open_safety_concerns"], 1);
    let resolve = json!({"outcome": "referred", "notes": "Talked with the family."});
    let (status, body) = send(
        &app,
        &f.counselor.token,
        Method::POST,
        &format!("/safety-concerns/{id}/resolve"),
        Some(resolve.clone()),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "resolved");
    assert_eq!(body["outcome"], "referred");
    assert_eq!(body["notes"], "Talked with the family.");
    let (status, body) = send(
        &app,
        &f.counselor.token,
        Method::POST,
        &format!("/safety-concerns/{id}/resolve"),
        Some(resolve),
    )
    .await;
    assert_problem(status, &body, 409, "concern-resolved");
    eventually("the dashboard without the concern", DEADLINE, || async {
        let d = get(&app, &app.token, &format!("/classes/{}/dashboard", f.class)).await;
        (d["open_safety_concerns"] == 0).then_some(())
    })
    .await;
    // Resolved concerns leave the default list.
    let list = get(&app, &f.counselor.token, "/safety-concerns").await;
    assert_eq!(list["items"], json!([]), "{list}");
    let resolved = get(&app, &f.counselor.token, "/safety-concerns?status=resolved").await;
    assert_eq!(resolved["items"][0]["id"], id.as_str(), "{resolved}");
}

/// The entries of a learning session as `token` reads them.
async fn session_as(app: &TestApp, token: &str, session: &str) -> Value {
    get(app, token, &format!("/learning-sessions/{session}")).await
}

fn entries_of_kind<'a>(session: &'a Value, kind: &str) -> Vec<&'a Value> {
    session["entries"]
        .as_array()
        .expect("entries")
        .iter()
        .filter(|e| e["kind"] == kind)
        .collect()
}

#[tokio::test]
async fn the_student_never_sees_the_concern_about_themselves() {
    let sink = SmtpSink::start().await;
    let (app, f) = app_with_fixture(&sink, &[]).await;
    detect(&app, &f.service, &f.session, struggle("fractions")).await;
    detect(&app, &f.service, &f.session, concern("immediate")).await;
    let id = the_concern(&app).await;
    // The counselor (an adult above the class) sees the concern and why the session paused.
    let adult = eventually("the workflow's pause", DEADLINE, || async {
        let session = session_as(&app, &f.counselor.token, &f.session).await;
        (!entries_of_kind(&session, "session.paused").is_empty()).then_some(session)
    })
    .await;
    let concerns = entries_of_kind(&adult, "safety.concern_detected");
    assert_eq!(concerns.len(), 1, "{adult}");
    assert_eq!(concerns[0]["data"]["urgency"], "immediate");
    assert_eq!(
        concerns[0]["data"]["evidence"],
        "said they feel unsafe at home"
    );
    assert_eq!(
        entries_of_kind(&adult, "session.paused")[0]["data"]["reason"],
        "safety concern"
    );
    assert_eq!(adult["detection_count"], 2, "{adult}");

    // The student sees their session paused, for a neutral reason, and no concern.
    let own = session_as(&app, &f.student.token, &f.session).await;
    assert_eq!(own["status"], "paused", "{own}");
    assert!(entries_of_kind(&own, "safety.concern_detected").is_empty());
    assert_eq!(
        entries_of_kind(&own, "session.paused")[0]["data"]["reason"],
        "paused by your school"
    );
    assert_eq!(entries_of_kind(&own, "learning.struggle_detected").len(), 1);
    assert_eq!(own["detection_count"], 1, "{own}");
    let text = own.to_string();
    for hidden in ["safety", "distress", "unsafe at home", "immediate"] {
        assert!(!text.contains(hidden), "the student sees {hidden:?}: {own}");
    }
    // Nor in the list of their sessions, nor in what completing the session answers.
    let mine = get(&app, &f.student.token, "/me/learning-sessions").await;
    assert_eq!(mine["items"][0]["detection_count"], 1, "{mine}");
    let (status, completed) = send(
        &app,
        &f.student.token,
        Method::POST,
        &format!("/learning-sessions/{}/complete", f.session),
        Some(json!({"summary": "Done", "topics_covered": ["fractions"]})),
    )
    .await;
    assert_eq!(status, 200, "{completed}");
    assert_eq!(completed["detection_count"], 1, "{completed}");
    // No notification tells them, in the inbox or on its live topic.
    app.wait_for_all_subscribers().await;
    let inbox = get(&app, &f.student.token, "/notifications?limit=200").await;
    assert_eq!(inbox["items"], json!([]), "{inbox}");
    let topic = format!(
        "/realtime/updates?topic=user.{}.notifications&after=0",
        f.student.id
    );
    let updates = get(&app, &f.student.token, &topic).await;
    assert_eq!(updates["items"], json!([]), "{updates}");
    let list = get(&app, &f.student.token, "/safety-concerns").await;
    assert_eq!(list["items"], json!([]), "{list}");
    let status = app
        .status_as(
            &f.student.token,
            Method::GET,
            &format!("/safety-concerns/{id}"),
            None,
        )
        .await;
    assert_eq!(status, 403);
    // The counselor's view is unchanged by the completion.
    let adult = session_as(&app, &f.counselor.token, &f.session).await;
    assert_eq!(entries_of_kind(&adult, "safety.concern_detected").len(), 1);
}

/// Asserts that `body` says nothing of the fixture's concern (its type, urgency, evidence, or
/// the workflow's reason for the pause).
fn says_nothing_of_the_concern(who: &str, body: &Value) {
    let text = body.to_string();
    for hidden in ["distress", "unsafe at home", "immediate", "safety concern"] {
        assert!(!text.contains(hidden), "{who} is shown {hidden:?}: {body}");
    }
}

#[tokio::test]
async fn a_teacher_reads_the_session_without_its_concerns_and_a_counselor_with_them() {
    let sink = SmtpSink::start().await;
    let (app, f) = app_with_fixture(&sink, &[]).await;
    detect(&app, &f.service, &f.session, struggle("fractions")).await;
    detect(&app, &f.service, &f.session, concern("immediate")).await;
    the_concern(&app).await;
    eventually("the workflow's pause", DEADLINE, || async {
        let session = session_as(&app, &f.counselor.token, &f.session).await;
        (!entries_of_kind(&session, "session.paused").is_empty()).then_some(())
    })
    .await;

    // Those the policy lets read the class's safety concerns see them in the session: the
    // counselor above the class, a system admin.
    for (who, token) in [
        ("the counselor", &f.counselor.token),
        ("a system admin", &app.token),
    ] {
        let whole = session_as(&app, token, &f.session).await;
        let concerns = entries_of_kind(&whole, "safety.concern_detected");
        assert_eq!(concerns.len(), 1, "{who}: {whole}");
        assert_eq!(concerns[0]["data"]["concern_type"], "distress", "{who}");
        assert_eq!(concerns[0]["data"]["urgency"], "immediate", "{who}");
        assert_eq!(
            concerns[0]["data"]["evidence"], "said they feel unsafe at home",
            "{who}"
        );
        assert_eq!(
            entries_of_kind(&whole, "session.paused")[0]["data"]["reason"],
            "safety concern",
            "{who}"
        );
        assert_eq!(whole["detection_count"], 2, "{who}: {whole}");
    }

    // A teacher of the class (whom the policy refuses the class's concerns) sees the session
    // paused for a counselor's review, its other detections, and nothing of the concern.
    let teacher = &f.teachers[0];
    let seen = session_as(&app, &teacher.token, &f.session).await;
    assert_eq!(seen["status"], "paused", "{seen}");
    assert!(entries_of_kind(&seen, "safety.concern_detected").is_empty());
    assert_eq!(
        entries_of_kind(&seen, "session.paused")[0]["data"]["reason"],
        "paused for a counselor's review"
    );
    assert_eq!(
        entries_of_kind(&seen, "learning.struggle_detected").len(),
        1
    );
    assert_eq!(seen["detection_count"], 1, "{seen}");
    says_nothing_of_the_concern("the teacher", &seen);
    // The same as GET /safety-concerns?class_id= decides.
    let status = app
        .status_as(
            &teacher.token,
            Method::GET,
            &format!("/safety-concerns?class_id={}", f.class),
            None,
        )
        .await;
    assert_eq!(status, 403);
    // The tutoring service is not let read them either.
    let service = session_as(&app, &f.service, &f.session).await;
    assert!(entries_of_kind(&service, "safety.concern_detected").is_empty());
    assert_eq!(service["detection_count"], 1, "{service}");

    // The class's list of sessions counts the concern for the counselor only.
    let path = format!("/classes/{}/learning-sessions", f.class);
    let listed = get(&app, &teacher.token, &path).await;
    assert_eq!(listed["items"][0]["detection_count"], 1, "{listed}");
    let listed = get(&app, &f.counselor.token, &path).await;
    assert_eq!(listed["items"][0]["detection_count"], 2, "{listed}");

    // The dashboard, which every adult of the class reads, counts the open concern and tells
    // it as a neutral item, whose student and session it does not name; the same on its
    // live topic.
    app.wait_for_all_subscribers().await;
    let dashboard = get(
        &app,
        &teacher.token,
        &format!("/classes/{}/dashboard", f.class),
    )
    .await;
    assert_eq!(dashboard["open_safety_concerns"], 1, "{dashboard}");
    let recent = dashboard["recent_events"]
        .as_array()
        .expect("recent events");
    let item = |kind: &str| {
        recent
            .iter()
            .find(|e| e["type"] == kind)
            .unwrap_or_else(|| panic!("{kind} in {dashboard}"))
            .clone()
    };
    let concern_item = item("safety.concern_detected");
    assert_eq!(concern_item["summary"], "Safety concern recorded");
    assert_eq!(concern_item["student_id"], Value::Null);
    assert_eq!(concern_item["learning_session_id"], Value::Null);
    let pause_item = item("session.paused");
    assert_eq!(
        pause_item["summary"],
        "Session paused for a counselor's review"
    );
    assert_eq!(pause_item["learning_session_id"], f.session.as_str());
    says_nothing_of_the_concern("the teacher's dashboard", &dashboard["recent_events"]);
    let topic = format!(
        "/realtime/updates?topic=class.{}.dashboard&after=0",
        f.class
    );
    let updates = get(&app, &teacher.token, &topic).await;
    assert!(
        updates.to_string().contains("Safety concern recorded"),
        "{updates}"
    );
    says_nothing_of_the_concern("the dashboard's live topic", &updates);

    // What resuming answers the teacher leaves the concern out too.
    let (status, resumed) = send(
        &app,
        &teacher.token,
        Method::POST,
        &format!("/learning-sessions/{}/resume", f.session),
        Some(json!({"reason": "back to work"})),
    )
    .await;
    assert_eq!(status, 200, "{resumed}");
    assert_eq!(resumed["detection_count"], 1, "{resumed}");
}

#[tokio::test]
async fn a_student_who_also_counsels_above_the_class_is_not_told_about_themselves() {
    let sink = SmtpSink::start().await;
    let (app, f) = app_with_fixture(&sink, &[]).await;
    // The student is also a counselor of the school (the nearest counselors of the class).
    app.put_role(
        &format!("/groups/{}/members/{}", f.school, f.student.id),
        "counselor",
    )
    .await;
    detect(&app, &f.service, &f.session, concern("same_day")).await;
    let id = the_concern(&app).await;
    // The alert passes them over and goes to the next counselors up (the district's).
    wait_for_notifications(&app, &f.counselor, "safety_concern", 1).await;
    app.wait_for_all_subscribers().await;
    assert!(notifications_of_kind(&app, &f.student, "safety_concern")
        .await
        .is_empty());
    let list = get(&app, &f.student.token, "/safety-concerns").await;
    assert_eq!(list["items"], json!([]), "{list}");
    for path in [format!("/safety-concerns/{id}"), format!("/workflows/{id}")] {
        let status = app
            .status_as(&f.student.token, Method::GET, &path, None)
            .await;
        assert_eq!(status, 404, "{path}");
    }
    let own = session_as(&app, &f.student.token, &f.session).await;
    assert!(entries_of_kind(&own, "safety.concern_detected").is_empty());
    // The district counselor handles it as usual.
    let list = get(&app, &f.counselor.token, "/safety-concerns").await;
    assert_eq!(list["items"][0]["id"], id.as_str(), "{list}");
}

/// A new user whom the system admin makes an auditor.
async fn auditor(app: &TestApp) -> Person {
    let auditor = SchoolFixture::person(app, "aude.auditor", "Aude Auditor").await;
    let (status, body) = send(
        app,
        &app.token,
        Method::POST,
        &format!("/users/{}/auditor", auditor.id),
        Some(json!({"auditor": true})),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    auditor
}

/// A student of the fixture's other class (Biology) with a learning session there.
async fn session_in_the_other_class(app: &TestApp, f: &SchoolFixture) -> String {
    let (token, user) = register_named(
        app,
        "bea.biology@school.example",
        "Bea Biology",
        "fixture password 1",
    )
    .await;
    app.put_role(
        &format!(
            "/classes/{}/members/{}",
            f.other_class,
            user["id"].as_str().unwrap()
        ),
        "student",
    )
    .await;
    let (status, session) = send(
        app,
        &token,
        Method::POST,
        "/learning-sessions",
        Some(json!({"class_id": f.other_class, "tool_id": f.tool})),
    )
    .await;
    assert_eq!(status, 201, "{session}");
    session["id"].as_str().unwrap().to_owned()
}

/// The ids of the concerns listed at `path` as `token`.
async fn listed(app: &TestApp, token: &str, path: &str) -> Vec<String> {
    let page = get(app, token, path).await;
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn the_class_filter_lists_one_class_s_concerns_to_its_handlers_and_to_auditors() {
    let sink = SmtpSink::start().await;
    let (app, f) = app_with_fixture(&sink, &[]).await;
    let auditor = auditor(&app).await;
    let biology = session_in_the_other_class(&app, &f).await;
    detect(&app, &f.service, &f.session, concern("monitor")).await;
    detect(&app, &f.service, &biology, concern("monitor")).await;
    detect(&app, &f.service, &f.session, struggle("fractions")).await;
    let opened: Vec<(String, String)> = eventually("both concerns", DEADLINE, || async {
        let rows: Vec<(String, String)> = sqlx::query_as(
            "SELECT aggregate_id, payload->>'class_id' FROM events \
             WHERE event_type = 'safety_concern.opened'",
        )
        .fetch_all(&app.pool)
        .await
        .unwrap();
        (rows.len() == 2).then_some(rows)
    })
    .await;
    let of_class = |class: &str| {
        opened
            .iter()
            .find(|(_, c)| c == class)
            .map(|(id, _)| id.clone())
            .unwrap()
    };
    let (algebra_concern, biology_concern) = (of_class(&f.class), of_class(&f.other_class));
    app.wait_for_all_subscribers().await;
    let algebra = format!("/safety-concerns?class_id={}", f.class);
    let biology = format!("/safety-concerns?class_id={}", f.other_class);
    for (who, person) in [
        ("district counselor", &f.counselor),
        ("school admin", &f.school_admin),
        ("auditor", &auditor),
    ] {
        assert_eq!(
            listed(&app, &person.token, &algebra).await,
            std::slice::from_ref(&algebra_concern),
            "{who}"
        );
        assert_eq!(
            listed(&app, &person.token, &biology).await,
            std::slice::from_ref(&biology_concern),
            "{who}"
        );
        let mut all = listed(&app, &person.token, "/safety-concerns").await;
        all.sort();
        let mut expected = vec![algebra_concern.clone(), biology_concern.clone()];
        expected.sort();
        assert_eq!(all, expected, "{who}");
    }
    // The auditor reads the concern and the class's intervention log too, and changes nothing.
    let detail = concern_detail(&app, &auditor.token, &algebra_concern).await;
    assert_eq!(detail["class_id"], f.class.as_str());
    let log = get(
        &app,
        &auditor.token,
        &format!("/classes/{}/interventions", f.class),
    )
    .await;
    assert_eq!(log["items"].as_array().unwrap().len(), 1, "{log}");
    assert_eq!(log["items"][0]["topic"], "fractions");
    let status = app
        .status_as(
            &auditor.token,
            Method::POST,
            &format!("/safety-concerns/{algebra_concern}/acknowledge"),
            None,
        )
        .await;
    assert_eq!(status, 404);
    // A teacher of the class may not read its concerns, filtered or not.
    let status = app
        .status_as(&f.teachers[0].token, Method::GET, &algebra, None)
        .await;
    assert_eq!(status, 403);
    assert!(listed(&app, &f.teachers[0].token, "/safety-concerns")
        .await
        .is_empty());
}

#[tokio::test]
async fn an_acknowledgement_stops_the_escalation_and_twice_is_a_conflict() {
    let sink = SmtpSink::start().await;
    let (app, f) = app_with_fixture(&sink, &[("SAFETY_SAME_DAY_ACK_TIMEOUT_MS", "700")]).await;
    detect(&app, &f.service, &f.session, concern("same_day")).await;
    let id = the_concern(&app).await;
    // same_day: the counselors only, and the session goes on.
    wait_for_notifications(&app, &f.counselor, "safety_concern", 1).await;
    let list = eventually("the concern in the counselor's list", DEADLINE, || async {
        let list = get(&app, &f.counselor.token, "/safety-concerns").await;
        (list["items"].as_array().unwrap().len() == 1).then_some(list)
    })
    .await;
    assert_eq!(list["items"][0]["status"], "open");
    assert_eq!(list["items"][0]["urgency"], "same_day");
    let (status, body) = send(
        &app,
        &f.counselor.token,
        Method::POST,
        &format!("/safety-concerns/{id}/acknowledge"),
        None,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "acknowledged");
    assert_eq!(body["acknowledged_by"], f.counselor.id.as_str());
    let (status, body) = send(
        &app,
        &f.school_admin.token,
        Method::POST,
        &format!("/safety-concerns/{id}/acknowledge"),
        None,
    )
    .await;
    assert_problem(status, &body, 409, "already-acknowledged");
    tokio::time::sleep(Duration::from_millis(1200)).await;
    app.wait_for_all_subscribers().await;
    assert_eq!(
        count_events(&app, "safety_concern.alerted").await,
        1,
        "no escalation"
    );
    assert!(
        notifications_of_kind(&app, &f.school_admin, "safety_concern")
            .await
            .is_empty()
    );
    let session = get(
        &app,
        &app.token,
        &format!("/learning-sessions/{}", f.session),
    )
    .await;
    assert_eq!(session["status"], "active", "{session}");
    // Unknown ids.
    let unknown = uuid::Uuid::new_v4();
    for path in [
        format!("/safety-concerns/{unknown}"),
        format!("/workflows/{unknown}"),
    ] {
        let (status, body) = send(&app, &app.token, Method::GET, &path, None).await;
        assert_eq!(status, 404, "{path}: {body}");
    }
    let (status, _) = send(
        &app,
        &app.token,
        Method::POST,
        &format!("/safety-concerns/{unknown}/acknowledge"),
        None,
    )
    .await;
    assert_eq!(status, 404);
    let (status, body) = send(
        &app,
        &f.counselor.token,
        Method::POST,
        &format!("/safety-concerns/{unknown}/resolve"),
        Some(json!({"outcome": "addressed", "notes": "Nothing to resolve."})),
    )
    .await;
    assert_problem(status, &body, 404, "not-found");
    assert_eq!(count_events(&app, "safety_concern.resolved").await, 0);
}

#[tokio::test]
async fn a_monitor_concern_asks_the_counselors_for_a_review_later() {
    let sink = SmtpSink::start().await;
    let (app, f) = app_with_fixture(&sink, &[("SAFETY_FOLLOW_UP_AFTER_MS", "400")]).await;
    detect(&app, &f.service, &f.session, concern("monitor")).await;
    let id = the_concern(&app).await;
    let found = wait_for_notifications(&app, &f.counselor, "safety_concern", 1).await;
    assert!(
        found[0]["title"]
            .as_str()
            .unwrap()
            .starts_with("Please review"),
        "{found:?}"
    );
    let detail = concern_detail(&app, &f.counselor.token, &id).await;
    assert_eq!(detail["status"], "open");
    assert!(detail["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .any(|s| s["type"] == "safety_concern.follow_up_sent"));
    let workflow = get(&app, &app.token, &format!("/workflows/{id}")).await;
    assert_eq!(workflow["type"], "safety_escalation");
    assert_eq!(workflow["state"], "awaiting_resolution");
}

#[tokio::test]
async fn only_those_who_handle_a_concern_see_it() {
    let sink = SmtpSink::start().await;
    let (app, f) = app_with_fixture(&sink, &[]).await;
    detect(&app, &f.service, &f.session, concern("same_day")).await;
    let id = the_concern(&app).await;
    app.wait_for_all_subscribers().await;
    let concern = format!("/safety-concerns/{id}");
    let interventions = format!("/classes/{}/interventions", f.class);
    let other_interventions = format!("/classes/{}/interventions", f.other_class);
    for (who, person, concern_status, list_len, interventions_status) in [
        ("student", &f.student, 403, 0, 403),
        ("teacher", &f.teachers[0], 403, 0, 200),
        ("teacher of another class", &f.other_teacher, 404, 0, 404),
        ("school member", &f.member, 404, 0, 404),
        ("sibling-school admin", &f.sibling_admin, 404, 0, 404),
        ("school admin", &f.school_admin, 200, 1, 200),
        ("district counselor", &f.counselor, 200, 1, 200),
    ] {
        let status = app
            .status_as(&person.token, Method::GET, &concern, None)
            .await;
        assert_eq!(status, concern_status, "{who} GET concern");
        let (status, list) = send(&app, &person.token, Method::GET, "/safety-concerns", None).await;
        assert_eq!(status, 200, "{who}");
        assert_eq!(
            list["items"].as_array().unwrap().len(),
            list_len,
            "{who}: {list}"
        );
        let status = app
            .status_as(&person.token, Method::GET, &interventions, None)
            .await;
        assert_eq!(status, interventions_status, "{who} GET interventions");
        let handle = app
            .status_as(
                &person.token,
                Method::POST,
                &format!("{concern}/acknowledge"),
                None,
            )
            .await;
        if concern_status != 200 {
            assert_eq!(handle, concern_status, "{who} acknowledge");
        }
    }
    // A teacher of class A cannot read class B's log (nor see that class).
    let status = app
        .status_as(
            &f.teachers[0].token,
            Method::GET,
            &other_interventions,
            None,
        )
        .await;
    assert_eq!(status, 404);
    assert_eq!(count_events(&app, "safety_concern.acknowledged").await, 1);
}

#[tokio::test]
async fn a_recovery_without_a_running_intervention_is_recorded_and_changes_nothing() {
    let sink = SmtpSink::start().await;
    let (app, f) = app_with_fixture(&sink, &[("STRUGGLE_RECHECK_AFTER_MS", "400")]).await;
    let (status, body) = send(
        &app,
        &f.service,
        Method::POST,
        &format!("/learning-sessions/{}/detections", f.session),
        Some(recovery("fractions")),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["detection_count"], 1, "{body}");
    app.wait_for_all_subscribers().await;
    assert_eq!(count_events(&app, "learning.recovery_detected").await, 1);
    let sagas: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM events WHERE aggregate_type = 'struggle_intervention'",
    )
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(sagas, 0, "no intervention");
    let log = get(
        &app,
        &app.token,
        &format!("/classes/{}/interventions", f.class),
    )
    .await;
    assert_eq!(log["items"], json!([]), "{log}");
    for teacher in &f.teachers {
        let inbox = get(&app, &teacher.token, "/notifications?limit=200").await;
        assert_eq!(inbox["items"], json!([]), "{}: {inbox}", teacher.name);
    }
    let session = session_as(&app, &f.teachers[0].token, &f.session).await;
    assert_eq!(
        entries_of_kind(&session, "learning.recovery_detected").len(),
        1
    );
    // A struggle afterwards starts its own intervention, which the earlier recovery does not
    // end.
    detect(&app, &f.service, &f.session, struggle("Fractions")).await;
    let items = ended_interventions(&app, &f, 1).await;
    assert_eq!(items.len(), 1, "{items:?}");
    assert_eq!(items[0]["outcome"], "ai_intervention", "{items:?}");
    assert_eq!(workflow_messages(&app, &f.session).await.len(), 1);
}

#[tokio::test]
async fn with_smtp_down_an_immediate_concern_alerts_in_the_app_and_its_emails_are_dead_lettered() {
    let mut sink = SmtpSink::start().await;
    let (app, f) = app_with_fixture(
        &sink,
        &[("MAIL_RETRY_ATTEMPTS", "2"), ("MAIL_RETRY_DELAY_MS", "20")],
    )
    .await;
    sink.stop().await;
    detect(&app, &f.service, &f.session, concern("immediate")).await;
    let id = the_concern(&app).await;
    // In the app at once, and the workflow goes on: the session paused, the timer set.
    for person in [&f.school_admin, &f.counselor] {
        wait_for_notifications(&app, person, "safety_concern", 1).await;
    }
    let detail = eventually("the acknowledgement timer", DEADLINE, || async {
        let detail = concern_detail(&app, &f.counselor.token, &id).await;
        (detail["pending_timers"].as_array().unwrap().len() == 1).then_some(detail)
    })
    .await;
    assert_eq!(detail["status"], "open");
    assert_eq!(
        session_as(&app, &f.counselor.token, &f.session).await["status"],
        "paused"
    );
    // The emails (sent whatever the preferences) failed twice each and wait as dead letters.
    let letters = eventually("two dead letters", DEADLINE, || async {
        let page = get(&app, &app.token, "/admin/dead-letters").await;
        let items = page["items"].as_array().unwrap().clone();
        (items.len() >= 2).then_some(items)
    })
    .await;
    assert_eq!(letters.len(), 2, "{letters:?}");
    let mut recipients: Vec<&str> = letters
        .iter()
        .map(|l| l["recipient_id"].as_str().unwrap())
        .collect();
    recipients.sort();
    let mut expected = vec![f.school_admin.id.as_str(), f.counselor.id.as_str()];
    expected.sort();
    assert_eq!(recipients, expected);
    for letter in &letters {
        assert_eq!(letter["kind"], "safety_concern", "{letter}");
        assert_eq!(letter["attempts"], 2, "{letter}");
    }
    assert!(sink.messages().is_empty());
    // The server is back: retried on demand, each is sent once.
    sink.restart().await;
    for letter in &letters {
        let (status, body) = send(
            &app,
            &app.token,
            Method::POST,
            &format!(
                "/admin/dead-letters/{}/retry",
                letter["id"].as_str().unwrap()
            ),
            None,
        )
        .await;
        assert_eq!(status, 202, "{body}");
    }
    for person in [&f.school_admin, &f.counselor] {
        sink.wait_for(&person.email, 1).await;
    }
    app.wait_for_all_subscribers().await;
    assert_eq!(sink.messages().len(), 2, "{:?}", sink.messages());
}

#[tokio::test]
async fn the_workflows_go_on_while_nats_is_down() {
    let sink = SmtpSink::start().await;
    let mut nats = NatsServer::start().await;
    let extra = [
        ("STRUGGLE_RECHECK_AFTER_MS", "400"),
        ("SAFETY_ACK_TIMEOUT_MS", "400"),
    ];
    let app = spawn_app_with(TestOptions {
        nats_url: Some(nats.url()),
        ..TestOptions::mailing_to(&sink, &extra)
    })
    .await;
    let f = SchoolFixture::build(&app).await;
    let second = f.start_session(&app, &f.student).await;
    app.wait_for_subscribers().await;
    nats.stop().await;

    detect(&app, &f.service, &f.session, struggle("fractions")).await;
    detect(&app, &f.service, &second, concern("immediate")).await;
    // The struggle intervention: the teachers told, the recheck fired, the message posted.
    let items = ended_interventions(&app, &f, 1).await;
    assert_eq!(items[0]["outcome"], "ai_intervention", "{items:?}");
    assert_eq!(items[0]["teachers_notified"], 2, "{items:?}");
    for teacher in &f.teachers {
        wait_for_notifications(&app, teacher, "struggle", 1).await;
    }
    assert_eq!(workflow_messages(&app, &f.session).await.len(), 1);
    // The escalation: paused, then up two levels to the system admins.
    let id = the_concern(&app).await;
    eventually("level 2", DEADLINE, || async {
        let detail = concern_detail(&app, &f.counselor.token, &id).await;
        let alerts = detail["timeline"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|s| s["type"] == "safety_concern.alerted")
            .count();
        (alerts == 3).then_some(())
    })
    .await;
    assert_eq!(
        session_as(&app, &f.counselor.token, &second).await["status"],
        "paused"
    );
    the_system_admin_is_alerted(&app).await;
}

/// Asserts an answer's status and its problem type (`…/<kind>`).
fn assert_problem(status: u16, body: &Value, expected: u16, kind: &str) {
    assert_eq!(status, expected, "{body}");
    assert!(
        body["type"]
            .as_str()
            .is_some_and(|t| t.ends_with(&format!("/{kind}"))),
        "{body}"
    );
}

/// Waits for a safety-concern alert in the system admin's inbox (the last level; the inbox
/// follows the log).
async fn the_system_admin_is_alerted(app: &TestApp) {
    eventually("the system admin's alert", DEADLINE, || async {
        let inbox = get(app, &app.token, "/notifications?limit=50").await;
        inbox["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|n| n["kind"] == "safety_concern")
            .then_some(())
    })
    .await;
}

/// The targets of a concern's alerts, in order: a group's id or `system_admins`.
fn alert_targets(detail: &Value) -> Vec<String> {
    detail["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["type"] == "safety_concern.alerted")
        .map(|s| {
            let target = &s["data"]["target"];
            target["group_id"]
                .as_str()
                .unwrap_or_else(|| target["kind"].as_str().unwrap())
                .to_owned()
        })
        .collect()
}

#[tokio::test]
async fn an_unacknowledged_same_day_concern_climbs_from_the_school_to_the_system_admins() {
    let sink = SmtpSink::start().await;
    let (app, f) = app_with_fixture(&sink, &[("SAFETY_SAME_DAY_ACK_TIMEOUT_MS", "400")]).await;
    // A counselor on the school: the nearest counselors of the class.
    let school_counselor = SchoolFixture::person(&app, "cal.counselor", "Cal Counselor").await;
    app.put_role(
        &format!("/groups/{}/members/{}", f.school, school_counselor.id),
        "counselor",
    )
    .await;
    detect(&app, &f.service, &f.session, concern("same_day")).await;
    let id = the_concern(&app).await;
    // Level 0: the school's counselor; then the district's admins and counselors; then the
    // system admins, the last level.
    let detail = eventually("level 2", DEADLINE, || async {
        let detail = concern_detail(&app, &school_counselor.token, &id).await;
        (alert_targets(&detail).len() == 3).then_some(detail)
    })
    .await;
    assert_eq!(
        alert_targets(&detail),
        [f.school.as_str(), f.district.as_str(), "system_admins"]
    );
    for person in [&school_counselor, &f.counselor] {
        wait_for_notifications(&app, person, "safety_concern", 1).await;
    }
    the_system_admin_is_alerted(&app).await;
    tokio::time::sleep(Duration::from_millis(600)).await;
    app.wait_for_all_subscribers().await;
    assert_eq!(count_events(&app, "safety_concern.alerted").await, 3);
    let detail = concern_detail(&app, &f.counselor.token, &id).await;
    assert_eq!(detail["status"], "open");
    assert_eq!(detail["pending_timers"], json!([]), "{detail}");
    // same_day does not pause the session, and the school's admin (passed over for the
    // school's counselor) is not alerted.
    assert_eq!(
        session_as(&app, &f.counselor.token, &f.session).await["status"],
        "active"
    );
    assert!(
        notifications_of_kind(&app, &f.school_admin, "safety_concern")
            .await
            .is_empty()
    );
}

#[tokio::test]
async fn a_completed_session_s_open_concern_keeps_escalating_until_resolved() {
    let sink = SmtpSink::start().await;
    let (app, f) = app_with_fixture(&sink, &[("SAFETY_ACK_TIMEOUT_MS", "500")]).await;
    detect(&app, &f.service, &f.session, concern("immediate")).await;
    let id = the_concern(&app).await;
    wait_for_notifications(&app, &f.counselor, "safety_concern", 1).await;
    let (status, body) = send(
        &app,
        &f.student.token,
        Method::POST,
        &format!("/learning-sessions/{}/complete", f.session),
        Some(json!({"summary": "Done", "topics_covered": []})),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "completed");
    let detail = eventually("level 2 after the completion", DEADLINE, || async {
        let detail = concern_detail(&app, &f.counselor.token, &id).await;
        (alert_targets(&detail).len() == 3).then_some(detail)
    })
    .await;
    assert_eq!(detail["status"], "open");
    let workflow = get(&app, &app.token, &format!("/workflows/{id}")).await;
    assert!(workflow["outcome"].is_null(), "{workflow}");
    let (status, body) = send(
        &app,
        &f.counselor.token,
        Method::POST,
        &format!("/safety-concerns/{id}/resolve"),
        Some(json!({"outcome": "addressed", "notes": "Called home."})),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "resolved");
    let workflow = get(&app, &app.token, &format!("/workflows/{id}")).await;
    assert_eq!(workflow["outcome"], "addressed", "{workflow}");
}

/// Reads `path` page by page with `limit=2`; returns the items' ids, page by page.
async fn pages_of_two(app: &TestApp, token: &str, path: &str) -> Vec<Vec<String>> {
    let mut pages = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut url = format!("{path}?limit=2");
        if let Some(c) = &cursor {
            url.push_str(&format!("&cursor={c}"));
        }
        let page = get(app, token, &url).await;
        pages.push(
            page["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|i| i["id"].as_str().unwrap().to_owned())
                .collect(),
        );
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => return pages,
        }
        assert!(pages.len() < 5, "{pages:?}");
    }
}

#[tokio::test]
async fn the_concerns_and_the_intervention_log_are_paged_with_limit_and_cursor() {
    let sink = SmtpSink::start().await;
    let (app, f) = app_with_fixture(&sink, &[]).await;
    for topic in ["fractions", "decimals", "percentages"] {
        detect(&app, &f.service, &f.session, concern("monitor")).await;
        detect(&app, &f.service, &f.session, struggle(topic)).await;
    }
    let interventions = format!("/classes/{}/interventions", f.class);
    for path in ["/safety-concerns", interventions.as_str()] {
        let all = eventually(&format!("three items at {path}"), DEADLINE, || async {
            let page = get(&app, &f.counselor.token, path).await;
            let ids: Vec<String> = page["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|i| i["id"].as_str().unwrap().to_owned())
                .collect();
            (ids.len() == 3).then_some(ids)
        })
        .await;
        let pages = pages_of_two(&app, &f.counselor.token, path).await;
        assert_eq!(pages.len(), 2, "{path}: {pages:?}");
        assert_eq!(pages[0].len(), 2, "{path}: {pages:?}");
        assert_eq!(pages.concat(), all, "{path}: newest first, each once");
        for bad in ["limit=0", "limit=201", "cursor=soon"] {
            let (status, body) = send(
                &app,
                &f.counselor.token,
                Method::GET,
                &format!("{path}?{bad}"),
                None,
            )
            .await;
            assert_problem(status, &body, 400, "invalid-parameter");
        }
    }
}

#[tokio::test]
async fn a_timer_that_waits_through_a_crash_fires_once() {
    let sink = SmtpSink::start().await;
    let extra = [("STRUGGLE_RECHECK_AFTER_MS", "1500")];
    let options = TestOptions::mailing_to(&sink, &extra);
    let (mut app, f) = app_with_fixture(&sink, &extra).await;
    // The struggle is handled by `raptscallions serve` as a process on the same database,
    // killed (SIGKILL, no shutdown) while its recheck waits.
    app.stop().await;
    let server = ServerProcess::start(&test_env(&app.db, &options)).await;
    let response = app
        .http
        .post(server.url(&format!("/learning-sessions/{}/detections", f.session)))
        .bearer_auth(&f.service)
        .json(&struggle("fractions"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    eventually("the recheck timer row", DEADLINE, || async {
        sqlx::query_scalar::<_, i64>("SELECT count(*) FROM workflow_timers")
            .fetch_one(&app.pool)
            .await
            .ok()
            .filter(|n| *n == 1)
    })
    .await;
    server.kill().await;
    let fired: i64 =
        sqlx::query_scalar("SELECT count(*) FROM workflow_timers WHERE fired_at IS NOT NULL")
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert_eq!(fired, 0, "killed before the timer was due");
    tokio::time::sleep(Duration::from_millis(1800)).await;
    app.restart_with(options).await;
    let items = ended_interventions(&app, &f, 1).await;
    assert_eq!(items[0]["outcome"], "ai_intervention");
    app.wait_for_all_subscribers().await;
    assert_eq!(count_events(&app, "intervention.recheck_fired").await, 1);
    assert_eq!(workflow_messages(&app, &f.session).await.len(), 1);
}

#[tokio::test]
async fn two_instances_on_one_database_fire_each_timer_once() {
    let sink = SmtpSink::start().await;
    let extra = [("STRUGGLE_RECHECK_AFTER_MS", "700")];
    let (app, f) = app_with_fixture(&sink, &extra).await;
    let second = Application::build(app.config.clone())
        .await
        .expect("a second instance");
    let mut sessions = vec![f.session.clone()];
    for _ in 0..4 {
        sessions.push(f.start_session(&app, &f.student).await);
    }
    for session in &sessions {
        detect(&app, &f.service, session, struggle("fractions")).await;
    }
    ended_interventions(&app, &f, sessions.len()).await;
    app.wait_for_all_subscribers().await;
    assert_eq!(
        count_events(&app, "intervention.recheck_fired").await,
        sessions.len() as i64
    );
    for session in &sessions {
        assert_eq!(workflow_messages(&app, session).await.len(), 1, "{session}");
    }
    second.stop().await;
}

#[tokio::test]
async fn timers_due_at_the_same_moment_fire_together_once_each() {
    let sink = SmtpSink::start().await;
    // Asleep for an hour, until the test makes them all due at once.
    let extra = [("STRUGGLE_RECHECK_AFTER_MS", "3600000")];
    let (app, f) = app_with_fixture(&sink, &extra).await;
    let mut sessions = vec![f.session.clone()];
    for _ in 0..5 {
        sessions.push(f.start_session(&app, &f.student).await);
    }
    for session in &sessions {
        detect(&app, &f.service, session, struggle("fractions")).await;
    }
    eventually("every recheck timer row", DEADLINE, || async {
        sqlx::query_scalar::<_, i64>("SELECT count(*) FROM workflow_timers")
            .fetch_one(&app.pool)
            .await
            .ok()
            .filter(|n| *n == sessions.len() as i64)
    })
    .await;
    sqlx::query("UPDATE workflow_timers SET due_at = clock_timestamp()")
        .execute(&app.pool)
        .await
        .unwrap();
    let items = ended_interventions(&app, &f, sessions.len()).await;
    assert!(items.iter().all(|i| i["outcome"] == "ai_intervention"));
    app.wait_for_all_subscribers().await;
    // Once each, recorded in one transaction (its id is the high bits of the positions).
    let fired: Vec<(String, i64)> = sqlx::query_as(
        "SELECT aggregate_id, position >> 16 FROM events \
         WHERE event_type = 'intervention.recheck_fired'",
    )
    .fetch_all(&app.pool)
    .await
    .unwrap();
    assert_eq!(fired.len(), sessions.len());
    let sagas: std::collections::HashSet<_> = fired.iter().map(|(id, _)| id).collect();
    assert_eq!(sagas.len(), sessions.len(), "one firing per saga");
    let transactions: std::collections::HashSet<_> = fired.iter().map(|(_, tx)| tx).collect();
    assert_eq!(transactions.len(), 1, "fired in one transaction: {fired:?}");
    let unfired: i64 =
        sqlx::query_scalar("SELECT count(*) FROM workflow_timers WHERE fired_at IS NULL")
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert_eq!(unfired, 0);
    for session in &sessions {
        assert_eq!(workflow_messages(&app, session).await.len(), 1, "{session}");
    }
}

#[tokio::test]
async fn replaying_the_process_manager_from_position_zero_has_no_second_effect() {
    let sink = SmtpSink::start().await;
    let (app, f) = app_with_fixture(
        &sink,
        &[
            ("STRUGGLE_RECHECK_AFTER_MS", "300"),
            ("SAFETY_ACK_TIMEOUT_MS", "300"),
        ],
    )
    .await;
    detect(&app, &f.service, &f.session, struggle("fractions")).await;
    let second = f.start_session(&app, &f.student).await;
    detect(&app, &f.service, &second, concern("immediate")).await;
    ended_interventions(&app, &f, 1).await;
    eventually("escalation to the system admins", DEADLINE, || async {
        (count_events(&app, "safety_concern.alerted").await == 3).then_some(())
    })
    .await;
    app.wait_for_all_subscribers().await;
    let before: i64 = sqlx::query_scalar("SELECT count(*) FROM events")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    sqlx::query("UPDATE subscriber_checkpoints SET position = 0 WHERE name = 'workflows'")
        .execute(&app.pool)
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    app.wait_for_all_subscribers().await;
    let after: i64 = sqlx::query_scalar("SELECT count(*) FROM events")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(after, before, "the replay appended nothing");
    assert_eq!(workflow_messages(&app, &f.session).await.len(), 1);
}
