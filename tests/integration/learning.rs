//! Learning sessions: students start and work in them, teachers and counselors watch over
//! them, detections are recorded by the tutoring side.

use reqwest::Method;
use serde_json::{json, Value};
use tests::{register, spawn_app};

fn id(v: &Value) -> String {
    v["id"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn a_learning_session_from_start_to_completion() {
    let app = spawn_app().await;
    let district = id(&app.create_group("District", None).await);
    let school = id(&app.create_group("School", Some(&district)).await);
    let sibling = id(&app.create_group("Sibling", Some(&district)).await);
    let class: Value = app
        .post_json(
            &format!("/groups/{school}/classes"),
            &json!({"name": "Algebra"}),
        )
        .await
        .json()
        .await
        .unwrap();
    let class = id(&class);
    let class2: Value = app
        .post_json(
            &format!("/groups/{school}/classes"),
            &json!({"name": "Biology"}),
        )
        .await
        .json()
        .await
        .unwrap();
    let class2 = id(&class2);
    // A tool of the district is offered to every class below it; a sibling's is not.
    let tool: Value = app
        .post_json(
            &format!("/groups/{district}/tools"),
            &json!({"name": "Tutor"}),
        )
        .await
        .json()
        .await
        .unwrap();
    let tool = id(&tool);
    let foreign_tool: Value = app
        .post_json(
            &format!("/groups/{sibling}/tools"),
            &json!({"name": "Other"}),
        )
        .await
        .json()
        .await
        .unwrap();
    let foreign_tool = id(&foreign_tool);

    let mut tokens = std::collections::HashMap::new();
    for (who, path, role) in [
        ("student", format!("/classes/{class}/members"), "student"),
        ("classmate", format!("/classes/{class}/members"), "student"),
        ("teacher", format!("/classes/{class}/members"), "teacher"),
        (
            "other_teacher",
            format!("/classes/{class2}/members"),
            "teacher",
        ),
        (
            "counselor",
            format!("/groups/{school}/members"),
            "counselor",
        ),
    ] {
        let (token, user) =
            register(&app, &format!("{who}@example.org"), "learning password").await;
        let user_id = id(&user);
        let response = app
            .request(Method::PUT, &format!("{path}/{user_id}"))
            .json(&json!({"role": role}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{who}");
        tokens.insert(who, token);
    }
    let t = |who: &str| tokens[who].clone();
    let admin = app.token.clone();

    // Only students of the class start sessions, and only with a tool offered to it.
    let start = json!({"class_id": class, "tool_id": tool});
    assert_eq!(
        app.status_as(
            &t("teacher"),
            Method::POST,
            "/learning-sessions",
            Some(start.clone())
        )
        .await,
        403
    );
    assert_eq!(
        app.status_as(
            &t("other_teacher"),
            Method::POST,
            "/learning-sessions",
            Some(start.clone())
        )
        .await,
        404
    );
    let refused = app
        .call_as(
            &t("student"),
            Method::POST,
            "/learning-sessions",
            Some(json!({"class_id": class, "tool_id": foreign_tool})),
        )
        .await;
    assert_eq!(refused.status(), 422);
    let started = app
        .call_as(
            &t("student"),
            Method::POST,
            "/learning-sessions",
            Some(start),
        )
        .await;
    assert_eq!(started.status(), 201);
    let session: Value = started.json().await.unwrap();
    assert_eq!(session["status"], "active");
    let s = id(&session);
    let path = format!("/learning-sessions/{s}");

    // Messages.
    let posted = app
        .call_as(
            &t("student"),
            Method::POST,
            &format!("{path}/messages"),
            Some(json!({"role": "student", "content": "What is 1/2 + 1/3?"})),
        )
        .await;
    assert_eq!(posted.status(), 200);
    assert_eq!(posted.json::<Value>().await.unwrap()["message_count"], 1);
    let fake = app
        .call_as(
            &t("student"),
            Method::POST,
            &format!("{path}/messages"),
            Some(json!({"role": "assistant", "content": "Fake"})),
        )
        .await;
    let fake_status = fake.status();
    let fake_body = fake.text().await.unwrap();
    assert_eq!(fake_status, 403, "body: {fake_body}");
    assert_eq!(
        app.status_as(
            &admin,
            Method::POST,
            &format!("{path}/messages"),
            Some(json!({"role": "assistant", "content": "What do you think?"}))
        )
        .await,
        200
    );

    // Detections: not by students; bad input changes nothing.
    let misbehavior = json!({"type": "misbehavior", "category": "off_topic", "severity": "high", "evidence": "asked for cheats"});
    assert_eq!(
        app.status_as(
            &t("student"),
            Method::POST,
            &format!("{path}/detections"),
            Some(misbehavior.clone())
        )
        .await,
        403
    );
    let before = app.count_events("learning_session").await;
    for bad in [
        json!({"type": "misbehavior", "category": "x", "severity": "apocalyptic", "evidence": "e"}),
        json!({"type": "struggle", "topic": "fractions"}),
        json!({"type": "teleportation"}),
    ] {
        assert_eq!(
            app.status_as(
                &admin,
                Method::POST,
                &format!("{path}/detections"),
                Some(bad.clone())
            )
            .await,
            422,
            "{bad}"
        );
    }
    let oversized = app
        .call_as(
            &t("student"),
            Method::POST,
            &format!("{path}/messages"),
            Some(json!({"role": "student", "content": "x".repeat(8001)})),
        )
        .await;
    assert_eq!(oversized.status(), 422);
    assert_eq!(app.count_events("learning_session").await, before);
    for detection in [
        misbehavior,
        json!({"type": "struggle", "topic": "fractions", "indicators": ["repeated errors"], "duration_seconds": 300}),
        json!({"type": "safety_concern", "concern_type": "distress", "urgency": "same_day"}),
    ] {
        assert_eq!(
            app.status_as(
                &admin,
                Method::POST,
                &format!("{path}/detections"),
                Some(detection)
            )
            .await,
            200
        );
    }
    let types: Vec<String> = sqlx::query_scalar(
        "SELECT event_type FROM events WHERE aggregate_type = 'learning_session' ORDER BY sequence",
    )
    .fetch_all(&app.pool)
    .await
    .unwrap();
    assert_eq!(
        types,
        [
            "session.started",
            "session.message_posted",
            "session.message_posted",
            "behavior.misbehavior_detected",
            "learning.struggle_detected",
            "safety.concern_detected"
        ]
    );

    // Who sees it.
    assert_eq!(
        app.status_as(&t("teacher"), Method::GET, &path, None).await,
        200
    );
    assert_eq!(
        app.status_as(&t("counselor"), Method::GET, &path, None)
            .await,
        200
    );
    assert_eq!(
        app.status_as(&t("other_teacher"), Method::GET, &path, None)
            .await,
        404
    );
    assert_eq!(
        app.status_as(&t("classmate"), Method::GET, &path, None)
            .await,
        404
    );
    assert_eq!(
        app.status_as(
            &t("other_teacher"),
            Method::GET,
            &format!("/classes/{class}/learning-sessions"),
            None
        )
        .await,
        404
    );
    let listed: Value = app
        .call_as(
            &t("teacher"),
            Method::GET,
            &format!("/classes/{class}/learning-sessions"),
            None,
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(listed["items"].as_array().unwrap().len(), 1);
    // The counselor reads every entry; the teacher, whom the policy does not let read the
    // class's safety concerns, all but the concern.
    for (who, entries) in [("counselor", 5), ("teacher", 4)] {
        let full: Value = app
            .call_as(&t(who), Method::GET, &path, None)
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(full["entries"].as_array().unwrap().len(), entries, "{who}");
    }

    // Pause and resume: teachers and counselors, not students.
    assert_eq!(
        app.status_as(
            &t("student"),
            Method::POST,
            &format!("{path}/pause"),
            Some(json!({"reason": "nope"}))
        )
        .await,
        403
    );
    let paused: Value = app
        .call_as(
            &t("teacher"),
            Method::POST,
            &format!("{path}/pause"),
            Some(json!({"reason": "Off task"})),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(paused["status"], "paused");
    let blocked = app
        .call_as(
            &t("student"),
            Method::POST,
            &format!("{path}/messages"),
            Some(json!({"role": "student", "content": "hello?"})),
        )
        .await;
    assert_eq!(blocked.status(), 409);
    assert_eq!(
        app.status_as(
            &t("counselor"),
            Method::POST,
            &format!("{path}/resume"),
            Some(json!({"reason": "Talked it through"}))
        )
        .await,
        200
    );

    // Completion by the student; nothing after it.
    let done = app
        .call_as(
            &t("student"),
            Method::POST,
            &format!("{path}/complete"),
            Some(json!({"summary": "Added fractions", "topics_covered": ["fractions"]})),
        )
        .await;
    assert_eq!(done.status(), 200);
    let done: Value = done.json().await.unwrap();
    assert_eq!(done["status"], "completed");
    assert_eq!(done["topics_covered"], json!(["fractions"]));
    let late = app
        .call_as(
            &t("student"),
            Method::POST,
            &format!("{path}/messages"),
            Some(json!({"role": "student", "content": "one more"})),
        )
        .await;
    assert_eq!(late.status(), 409);
    let problem: Value = late.json().await.unwrap();
    assert_eq!(
        problem["type"],
        "https://raptscallions.app/problems/session-completed"
    );
    let mine: Value = app
        .call_as(&t("student"), Method::GET, "/me/learning-sessions", None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(mine["items"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn service_accounts_work_only_in_their_groups() {
    let app = spawn_app().await;
    let district = id(&app.create_group("District", None).await);
    let school = id(&app.create_group("School", Some(&district)).await);
    let other = id(&app.create_group("Other", None).await);
    let mut classes = vec![];
    for group in [&school, &other] {
        let class: Value = app
            .post_json(
                &format!("/groups/{group}/classes"),
                &json!({"name": "Class"}),
            )
            .await
            .json()
            .await
            .unwrap();
        let class = id(&class);
        let tool: Value = app
            .post_json(&format!("/groups/{group}/tools"), &json!({"name": "Tutor"}))
            .await
            .json()
            .await
            .unwrap();
        classes.push((class, id(&tool)));
    }
    let (student, user) = register(&app, "pupil@example.org", "learning password").await;
    let student_id = id(&user);
    let mut sessions = vec![];
    for (class, tool) in &classes {
        let response = app
            .request(
                Method::PUT,
                &format!("/classes/{class}/members/{student_id}"),
            )
            .json(&json!({"role": "student"}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        let started: Value = app
            .call_as(
                &student,
                Method::POST,
                "/learning-sessions",
                Some(json!({"class_id": class, "tool_id": tool})),
            )
            .await
            .json()
            .await
            .unwrap();
        sessions.push(id(&started));
    }

    // Only system admins create service accounts; the secret is shown once.
    let body = json!({"name": "Tutoring service", "group_ids": [district]});
    assert_eq!(
        app.status_as(
            &student,
            Method::POST,
            "/service-accounts",
            Some(body.clone())
        )
        .await,
        403
    );
    let created = app.post_json("/service-accounts", &body).await;
    assert_eq!(created.status(), 201);
    let created: Value = created.json().await.unwrap();
    let secret = created["secret"].as_str().unwrap().to_owned();
    let account = id(&created);
    assert!(secret.starts_with("svc_"));

    // In its district's subtree: reads, answers, records detections.
    let inside = format!("/learning-sessions/{}", sessions[0]);
    let detection = json!({"type": "struggle", "topic": "fractions", "indicators": ["stuck"], "duration_seconds": 60});
    assert_eq!(
        app.status_as(&secret, Method::GET, &inside, None).await,
        200
    );
    assert_eq!(
        app.status_as(
            &secret,
            Method::POST,
            &format!("{inside}/detections"),
            Some(detection.clone())
        )
        .await,
        200
    );
    assert_eq!(
        app.status_as(
            &secret,
            Method::POST,
            &format!("{inside}/messages"),
            Some(json!({"role": "assistant", "content": "Try a common denominator."}))
        )
        .await,
        200
    );
    assert_eq!(
        app.status_as(
            &secret,
            Method::POST,
            &format!("{inside}/messages"),
            Some(json!({"role": "student", "content": "Impersonating"}))
        )
        .await,
        403
    );
    // Nothing else: no pausing, no other endpoints, no session outside its groups.
    assert_eq!(
        app.status_as(
            &secret,
            Method::POST,
            &format!("{inside}/pause"),
            Some(json!({"reason": "x"}))
        )
        .await,
        403
    );
    assert_eq!(
        app.status_as(&secret, Method::GET, "/groups", None).await,
        403
    );
    let outside = format!("/learning-sessions/{}", sessions[1]);
    assert_eq!(
        app.status_as(
            &secret,
            Method::POST,
            &format!("{outside}/detections"),
            Some(detection.clone())
        )
        .await,
        404
    );
    let actor: String = sqlx::query_scalar(
        "SELECT metadata->>'actor' FROM events WHERE event_type = 'learning.struggle_detected'",
    )
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(actor, format!("service:{account}"));

    // Rotation ends the old secret at once; revocation ends the new one.
    let rotated: Value = app
        .post(&format!("/service-accounts/{account}/rotate"))
        .await
        .json()
        .await
        .unwrap();
    let new_secret = rotated["secret"].as_str().unwrap().to_owned();
    assert_eq!(
        app.status_as(&secret, Method::GET, &inside, None).await,
        401
    );
    assert_eq!(
        app.status_as(&new_secret, Method::GET, &inside, None).await,
        200
    );
    assert_eq!(
        app.post(&format!("/service-accounts/{account}/revoke"))
            .await
            .status(),
        204
    );
    assert_eq!(
        app.status_as(&new_secret, Method::GET, &inside, None).await,
        401
    );

    // The secret hash never leaves the server.
    let events: Value = app
        .get("/events?event_type=service_account.created")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(events["items"][0]["payload"]["secret_hash"], "[redacted]");
}

/// A detection answers from the write side without waiting for the `learning` projection
/// (ADR 0007); the next read of the session waits for it instead. The projection is held
/// back by locking its checkpoint row.
#[tokio::test]
async fn a_detection_is_answered_and_read_back_before_the_projection_has_it() {
    let app = spawn_app().await;
    let f = tests::SchoolFixture::build(&app).await;
    let path = format!("/learning-sessions/{}", f.session);
    let (_, before) = tests::send(&app, &f.service, Method::GET, &path, None).await;
    let hold = app.hold_projection("learning").await;

    let (status, answer) = tests::send(
        &app,
        &f.service,
        Method::POST,
        &format!("{path}/detections"),
        Some(json!({"type": "struggle", "topic": "fractions", "indicators": ["pauses"], "duration_seconds": 120})),
    )
    .await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(
        answer["detection_count"],
        before["detection_count"].as_i64().unwrap() + 1
    );
    assert_eq!(answer["message_count"], before["message_count"]);
    assert_eq!(answer["status"], "active");
    assert_eq!(answer["started_at"], before["started_at"]);
    let stored: i32 =
        sqlx::query_scalar("SELECT detection_count FROM learning_sessions WHERE id = $1::uuid")
            .bind(&f.session)
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert_eq!(
        i64::from(stored),
        before["detection_count"].as_i64().unwrap(),
        "held back"
    );

    let read = {
        let request = app.http.get(app.url(&path)).bearer_auth(f.service.clone());
        tokio::spawn(async move { request.send().await.unwrap() })
    };
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    hold.commit().await.unwrap();
    let mut read: Value = read.await.unwrap().json().await.unwrap();
    assert_eq!(
        read["entries"].as_array().unwrap().last().unwrap()["kind"],
        "learning.struggle_detected"
    );
    read.as_object_mut().unwrap().remove("entries");
    let mut answer = answer;
    answer.as_object_mut().unwrap().remove("entries");
    assert_eq!(read, answer);
}
