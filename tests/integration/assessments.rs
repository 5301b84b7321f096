//! Assessments: the tutoring service records a scored assessment of a learning session with
//! the trace of how it was produced (model, prompt hash, input, raw and parsed response).
//! The server seals the trace with a SHA-256 content hash, and every read checks what it shows
//! against the `assessment.recorded` event of the log, so a row (or an event) changed behind
//! its back shows `verified: false`. Teachers and group admins above the
//! class read and review assessments; low-confidence ones wait in the class's review queue.

use std::time::Duration;

use reqwest::Method;
use serde_json::{json, Value};
use tests::{assert_statuses, eventually, send, spawn_app, SchoolFixture, TestApp};

/// A valid assessment body with this confidence.
fn assessment(confidence: f64) -> Value {
    json!({
        "assignment_id": null,
        "scores": [
            {"criterion": "clarity", "score": 3, "max": 4},
            {"criterion": "accuracy", "score": 5, "max": 5}
        ],
        "confidence": confidence,
        "trace": {
            "model": "gpt-x",
            "prompt_hash": "abc123",
            "input_snapshot": {
                "essay": "A fraction is a part of a whole.",
                "rubric": ["clarity", "accuracy"],
                "attempt": 2
            },
            "raw_response": "{\"clarity\": 3, \"accuracy\": 5}",
            "parsed_result": {"clarity": 3, "accuracy": 5}
        }
    })
}

/// Records an assessment of `session` as `token` and returns it (asserting 201 and Location).
async fn record(app: &TestApp, token: &str, session: &str, body: Value) -> Value {
    let response = app
        .call_as(
            token,
            Method::POST,
            &format!("/learning-sessions/{session}/assessments"),
            Some(body),
        )
        .await;
    let status = response.status().as_u16();
    let location = response
        .headers()
        .get("location")
        .map(|l| l.to_str().expect("location").to_owned());
    let text = response.text().await.expect("body");
    assert_eq!(status, 201, "record an assessment: {text}");
    let created: Value = serde_json::from_str(&text).expect("assessment json");
    let id = created["id"].as_str().expect("assessment id");
    assert_eq!(
        location.as_deref(),
        Some(format!("/assessments/{id}").as_str())
    );
    created
}

/// GETs an assessment as `token`, waiting (up to 10 s) while it is not found yet; asserts
/// 200.
async fn read(app: &TestApp, token: &str, id: &str) -> Value {
    let (status, body) = eventually(
        &format!("GET /assessments/{id}"),
        Duration::from_secs(10),
        || async move {
            let (status, body) =
                send(app, token, Method::GET, &format!("/assessments/{id}"), None).await;
            (status != 404).then_some((status, body))
        },
    )
    .await;
    assert_eq!(status, 200, "GET /assessments/{id}: {body}");
    body
}

/// The scores as (criterion, score, max), whatever the JSON number format.
fn scores(assessment: &Value) -> Vec<(String, f64, f64)> {
    assessment["scores"]
        .as_array()
        .expect("scores")
        .iter()
        .map(|s| {
            (
                s["criterion"].as_str().expect("criterion").to_owned(),
                s["score"].as_f64().expect("score"),
                s["max"].as_f64().expect("max"),
            )
        })
        .collect()
}

/// The ids in the class's review queue, as `token`.
async fn queue_ids(app: &TestApp, token: &str, class: &str) -> Vec<String> {
    let (status, body) = send(
        app,
        token,
        Method::GET,
        &format!("/classes/{class}/assessments/review-queue"),
        None,
    )
    .await;
    assert_eq!(status, 200, "review queue: {body}");
    body["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|a| a["id"].as_str().expect("id").to_owned())
        .collect()
}

fn is_sha256_hex(value: &Value) -> bool {
    value
        .as_str()
        .is_some_and(|s| s.len() == 64 && s.chars().all(|c| c.is_ascii_hexdigit()))
}

#[tokio::test]
async fn an_assessment_is_recorded_with_a_verified_trace_and_read_by_the_right_people() {
    let app = spawn_app().await;
    let f = SchoolFixture::build(&app).await;
    let assignment = crate::assignments::create_assignment(
        &app,
        &f.teachers[0].token,
        &f.class,
        json!({"title": "Fractions", "max_score": 10}),
    )
    .await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut body = assessment(0.65);
    body["assignment_id"] = json!(assignment);

    let created = record(&app, &f.service, &f.session, body.clone()).await;
    let id = created["id"].as_str().unwrap().to_owned();
    assert_eq!(created["learning_session_id"], f.session.as_str());
    assert_eq!(created["class_id"], f.class.as_str());
    assert_eq!(created["student_id"], f.student.id.as_str());
    assert_eq!(created["assignment_id"], assignment.as_str());
    assert_eq!(scores(&created), scores(&body));
    assert_eq!(created["confidence"].as_f64(), Some(0.65));
    assert!(created["recorded_at"].is_string());
    assert!(created["reviewed_by"].is_null());
    assert!(created["reviewed_at"].is_null());
    assert!(created["review_notes"].is_null());
    let trace = &created["trace"];
    for field in [
        "model",
        "prompt_hash",
        "input_snapshot",
        "raw_response",
        "parsed_result",
    ] {
        assert_eq!(trace[field], body["trace"][field], "trace.{field} as sent");
    }
    assert!(is_sha256_hex(&trace["content_hash"]), "{trace}");
    assert_eq!(trace["computed_hash"], trace["content_hash"]);
    assert_eq!(trace["verified"], true);

    // The same content read back by a teacher; the assignment is optional.
    let fetched = read(&app, &app.token, &id).await;
    assert_eq!(scores(&fetched), scores(&body));
    for field in [
        "id",
        "learning_session_id",
        "class_id",
        "student_id",
        "assignment_id",
        "confidence",
        "reviewed_by",
        "trace",
    ] {
        assert_eq!(
            fetched[field], created[field],
            "GET answers {field} as POST did"
        );
    }
    let mut without_assignment = assessment(0.9);
    without_assignment
        .as_object_mut()
        .unwrap()
        .remove("assignment_id");
    without_assignment["trace"]["raw_response"] = json!("{\"clarity\": 4, \"accuracy\": 5}");
    let second = record(&app, &app.token, &f.session, without_assignment).await;
    assert!(second["assignment_id"].is_null());
    assert_eq!(second["trace"]["verified"], true);
    assert_ne!(
        second["trace"]["content_hash"], created["trace"]["content_hash"],
        "a different raw response, a different hash"
    );

    // Who records: not the student, not a service account of another school.
    // Reactions append events of their own: let them finish first.
    app.wait_for_all_subscribers().await;
    let before = app.log_length().await;
    let record_path = format!("/learning-sessions/{}/assessments", f.session);
    assert_statuses(
        &app,
        Method::POST,
        &record_path,
        Some(assessment(0.5)),
        &[
            ("the student", &f.student.token, 403),
            ("foreign service account", &f.foreign_service, 404),
        ],
    )
    .await;
    let anonymous = app
        .http
        .post(app.url(&record_path))
        .json(&assessment(0.5))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), 401);
    assert_eq!(
        app.log_length().await,
        before,
        "refused requests append nothing"
    );

    // Who reads it.
    let path = format!("/assessments/{id}");
    assert_statuses(
        &app,
        Method::GET,
        &path,
        None,
        &[
            ("teacher A", &f.teachers[0].token, 200),
            ("teacher B", &f.teachers[1].token, 200),
            ("school admin", &f.school_admin.token, 200),
            ("system admin", &app.token, 200),
            ("the assessed student", &f.student.token, 404),
            ("teacher of another class", &f.other_teacher.token, 404),
            ("school member", &f.member.token, 404),
            ("sibling-school admin", &f.sibling_admin.token, 404),
            ("service account", &f.service, 404),
            ("foreign service account", &f.foreign_service, 404),
        ],
    )
    .await;
    let anonymous = app.http.get(app.url(&path)).send().await.unwrap();
    assert_eq!(anonymous.status(), 401);
}

#[tokio::test]
async fn invalid_assessments_are_rejected_and_append_nothing() {
    let app = spawn_app().await;
    let f = SchoolFixture::build(&app).await;
    let path = format!("/learning-sessions/{}/assessments", f.session);

    let with = |edit: &dyn Fn(&mut Value)| {
        let mut body = assessment(0.5);
        edit(&mut body);
        body
    };
    let invalid: Vec<(&str, Value)> = vec![
        ("empty scores", with(&|b| b["scores"] = json!([]))),
        (
            "negative score",
            with(&|b| b["scores"][0]["score"] = json!(-1)),
        ),
        (
            "score above max",
            with(&|b| b["scores"][0]["score"] = json!(5)),
        ),
        ("max of zero", with(&|b| b["scores"][0]["max"] = json!(0))),
        ("negative max", with(&|b| b["scores"][0]["max"] = json!(-4))),
        (
            "empty criterion",
            with(&|b| b["scores"][0]["criterion"] = json!("")),
        ),
        (
            "confidence above 1",
            with(&|b| b["confidence"] = json!(1.01)),
        ),
        (
            "negative confidence",
            with(&|b| b["confidence"] = json!(-0.1)),
        ),
        ("empty model", with(&|b| b["trace"]["model"] = json!(""))),
        (
            "empty prompt hash",
            with(&|b| b["trace"]["prompt_hash"] = json!("")),
        ),
        (
            "missing confidence",
            with(&|b| {
                b.as_object_mut().unwrap().remove("confidence");
            }),
        ),
        (
            "missing scores",
            with(&|b| {
                b.as_object_mut().unwrap().remove("scores");
            }),
        ),
        (
            "missing trace",
            with(&|b| {
                b.as_object_mut().unwrap().remove("trace");
            }),
        ),
        (
            "missing model",
            with(&|b| {
                b["trace"].as_object_mut().unwrap().remove("model");
            }),
        ),
        (
            "missing raw response",
            with(&|b| {
                b["trace"].as_object_mut().unwrap().remove("raw_response");
            }),
        ),
        (
            "missing max",
            with(&|b| {
                b["scores"][0].as_object_mut().unwrap().remove("max");
            }),
        ),
    ];
    // Reactions append events of their own: let them finish first.
    app.wait_for_all_subscribers().await;
    let before = app.log_length().await;
    for (what, body) in invalid {
        let response = app
            .call_as(&f.service, Method::POST, &path, Some(body))
            .await;
        let status = response.status().as_u16();
        let content_type = response
            .headers()
            .get("content-type")
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default();
        let text = response.text().await.unwrap();
        assert_eq!(status, 422, "{what}: {text}");
        assert!(
            content_type.starts_with("application/problem+json"),
            "{what}: content type {content_type}"
        );
    }
    // Unknown fields, at the top and inside the trace.
    for (what, body) in [
        ("unknown field", with(&|b| b["grade"] = json!("A"))),
        (
            "unknown trace field",
            with(&|b| b["trace"]["temperature"] = json!(0.2)),
        ),
    ] {
        let status = app
            .status_as(&f.service, Method::POST, &path, Some(body))
            .await;
        assert!(status == 400 || status == 422, "{what}: {status}");
    }
    assert_eq!(app.log_length().await, before, "no event appended");

    // The edges are valid: a score of 0 and of max, confidence 0 and 1.
    let mut edges = assessment(0.0);
    edges["scores"] = json!([
        {"criterion": "clarity", "score": 0, "max": 4},
        {"criterion": "accuracy", "score": 4, "max": 4}
    ]);
    record(&app, &f.service, &f.session, edges).await;
    record(&app, &f.service, &f.session, assessment(1.0)).await;
}

#[tokio::test]
async fn low_confidence_assessments_wait_in_the_review_queue_until_reviewed_once() {
    let app = spawn_app().await;
    let f = SchoolFixture::build(&app).await;
    let (teacher, admin) = (&f.teachers[0], &f.school_admin);
    let mut ids = vec![];
    for confidence in [0.5, 0.95, 0.79, 0.8] {
        let created = record(&app, &f.service, &f.session, assessment(confidence)).await;
        ids.push(created["id"].as_str().unwrap().to_owned());
        // recorded_at orders the queue: keep the records apart.
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let (low, high, just_below, at_threshold) = (&ids[0], &ids[1], &ids[2], &ids[3]);

    // Unreviewed and below 0.8, oldest first (read here by the system admin; who may read
    // the queue is checked at the end).
    let expected = vec![low.clone(), just_below.clone()];
    eventually("the review queue", Duration::from_secs(10), || async {
        (queue_ids(&app, &app.token, &f.class).await == expected).then_some(())
    })
    .await;
    let (_, queue) = send(
        &app,
        &app.token,
        Method::GET,
        &format!("/classes/{}/assessments/review-queue", f.class),
        None,
    )
    .await;
    let first = &queue["items"][0];
    assert_eq!(first["class_id"], f.class.as_str());
    assert_eq!(first["confidence"].as_f64(), Some(0.5));
    assert_eq!(first["trace"]["verified"], true);
    let queued = queue_ids(&app, &app.token, &f.class).await;
    assert!(!queued.contains(high), "confidence 0.95 is not queued");
    assert!(
        !queued.contains(at_threshold),
        "confidence 0.8 is not queued"
    );

    // A group admin above the class reviews; a second review is a conflict.
    let review_path = format!("/assessments/{low}/review");
    let (status, reviewed) = send(
        &app,
        &admin.token,
        Method::POST,
        &review_path,
        Some(json!({"notes": "Score confirmed after reading the essay."})),
    )
    .await;
    assert_eq!(status, 200, "review by the school admin: {reviewed}");
    assert_eq!(reviewed["id"], low.as_str());
    assert_eq!(reviewed["reviewed_by"], admin.id.as_str());
    assert!(reviewed["reviewed_at"].is_string());
    assert_eq!(
        reviewed["review_notes"],
        "Score confirmed after reading the essay."
    );
    assert_eq!(
        reviewed["trace"]["verified"], true,
        "a review leaves the trace intact"
    );
    // Reactions append events of their own: let them finish first.
    app.wait_for_all_subscribers().await;
    let before = app.log_length().await;
    let (status, problem) = send(
        &app,
        &app.token,
        Method::POST,
        &review_path,
        Some(json!({"notes": "again"})),
    )
    .await;
    assert_eq!(status, 409, "second review: {problem}");
    assert_eq!(
        app.log_length().await,
        before,
        "the conflict appends nothing"
    );
    let fetched = read(&app, &app.token, low).await;
    assert_eq!(fetched["reviewed_by"], admin.id.as_str());

    // The reviewed one leaves the queue.
    let expected = vec![just_below.clone()];
    eventually(
        "the queue without the reviewed one",
        Duration::from_secs(10),
        || async { (queue_ids(&app, &app.token, &f.class).await == expected).then_some(()) },
    )
    .await;

    // Teachers of the class read the queue and review (notes are optional).
    let queue_path = format!("/classes/{}/assessments/review-queue", f.class);
    let (status, body) = send(&app, &teacher.token, Method::GET, &queue_path, None).await;
    assert_eq!(status, 200, "review queue as a teacher: {body}");
    let (status, reviewed) = send(
        &app,
        &teacher.token,
        Method::POST,
        &format!("/assessments/{just_below}/review"),
        Some(json!({})),
    )
    .await;
    assert_eq!(status, 200, "review by a teacher: {reviewed}");
    assert_eq!(reviewed["reviewed_by"], teacher.id.as_str());
    assert!(reviewed["reviewed_at"].is_string());
    eventually("an empty queue", Duration::from_secs(10), || async {
        queue_ids(&app, &app.token, &f.class)
            .await
            .is_empty()
            .then_some(())
    })
    .await;

    // Who sees the queue.
    assert_statuses(
        &app,
        Method::GET,
        &queue_path,
        None,
        &[
            ("teacher A", &teacher.token, 200),
            ("teacher B", &f.teachers[1].token, 200),
            ("school admin", &admin.token, 200),
            ("system admin", &app.token, 200),
            ("student of the class", &f.student.token, 403),
            ("teacher of another class", &f.other_teacher.token, 404),
            ("school member", &f.member.token, 404),
            ("sibling-school admin", &f.sibling_admin.token, 404),
        ],
    )
    .await;
    let anonymous = app.http.get(app.url(&queue_path)).send().await.unwrap();
    assert_eq!(anonymous.status(), 401);

    // Who may not review (the one at the threshold is still unreviewed).
    let review_path = format!("/assessments/{at_threshold}/review");
    // Reactions append events of their own: let them finish first.
    app.wait_for_all_subscribers().await;
    let before = app.log_length().await;
    for (who, token) in [
        ("the student", &f.student.token),
        ("teacher of another class", &f.other_teacher.token),
        ("school member", &f.member.token),
        ("sibling-school admin", &f.sibling_admin.token),
        ("service account", &f.service),
    ] {
        let status = app
            .status_as(
                token,
                Method::POST,
                &review_path,
                Some(json!({"notes": "looks fine"})),
            )
            .await;
        assert!(status == 404 || status == 403, "review as {who}: {status}");
    }
    let anonymous = app
        .http
        .post(app.url(&review_path))
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), 401);
    assert_eq!(
        app.log_length().await,
        before,
        "refused reviews append nothing"
    );
    assert!(read(&app, &app.token, at_threshold).await["reviewed_by"].is_null());
}

#[tokio::test]
async fn a_trace_changed_in_the_database_is_no_longer_verified() {
    let app = spawn_app().await;
    let f = SchoolFixture::build(&app).await;
    let created = record(&app, &f.service, &f.session, assessment(0.7)).await;
    let id = created["id"].as_str().unwrap().to_owned();
    let before = read(&app, &app.token, &id).await;
    assert_eq!(before["trace"]["verified"], true);

    let changed =
        sqlx::query("UPDATE assessments SET raw_response = 'tampered' WHERE id::text = $1")
            .bind(&id)
            .execute(&app.pool)
            .await
            .expect("tamper with the row")
            .rows_affected();
    assert_eq!(changed, 1);

    let response = app
        .call_as(&app.token, Method::GET, &format!("/assessments/{id}"), None)
        .await;
    assert_eq!(response.status(), 200);
    let after: Value = response.json().await.unwrap();
    let trace = &after["trace"];
    assert_eq!(trace["raw_response"], "tampered");
    assert_eq!(trace["verified"], false, "{trace}");
    assert_eq!(
        trace["content_hash"], before["trace"]["content_hash"],
        "the stored hash is kept"
    );
    assert!(is_sha256_hex(&trace["computed_hash"]), "{trace}");
    assert_ne!(trace["computed_hash"], trace["content_hash"]);

    // Other assessments are unaffected.
    let other = record(&app, &f.service, &f.session, assessment(0.7)).await;
    let other = read(&app, &app.token, other["id"].as_str().unwrap()).await;
    assert_eq!(other["trace"]["verified"], true);
}

/// `verified` compares the answer with the `assessment.recorded` event of the log, not the
/// read-model row with the hash stored beside it: a row whose trace and hash were both
/// rewritten (so that they agree with each other), or whose scores were changed, is no
/// longer verified; a row left alone is, before and after its review.
#[tokio::test]
async fn a_read_model_row_rewritten_consistently_is_caught_by_the_log() {
    let app = spawn_app().await;
    let f = SchoolFixture::build(&app).await;
    let created = record(&app, &f.service, &f.session, assessment(0.7)).await;
    assert_eq!(created["trace"]["verified"], true, "{created}");
    let id = created["id"].as_str().unwrap().to_owned();
    let untouched = record(&app, &f.service, &f.session, assessment(0.7)).await;
    let untouched = untouched["id"].as_str().unwrap().to_owned();
    let before = read(&app, &app.token, &id).await;
    assert_eq!(before["trace"]["verified"], true, "{before}");

    // The trace and its hash rewritten together: they agree with each other, not with the log.
    let forged_response = "{\"clarity\": 4, \"accuracy\": 5}";
    let forged_hash =
        application::assessments::content_hash(&before["trace"]["input_snapshot"], forged_response);
    let changed = sqlx::query(
        "UPDATE assessments SET raw_response = $2, content_hash = $3 WHERE id::text = $1",
    )
    .bind(&id)
    .bind(forged_response)
    .bind(&forged_hash)
    .execute(&app.pool)
    .await
    .expect("rewrite the row")
    .rows_affected();
    assert_eq!(changed, 1);
    let after = read(&app, &app.token, &id).await;
    let trace = &after["trace"];
    assert_eq!(trace["raw_response"], forged_response);
    assert_eq!(trace["content_hash"], forged_hash.as_str());
    assert_eq!(
        trace["computed_hash"], trace["content_hash"],
        "the row agrees with itself"
    );
    assert_eq!(trace["verified"], false, "{trace}");

    // Scores are not in the content hash, but they are in the recording.
    let untouched_before = read(&app, &app.token, &untouched).await;
    assert_eq!(untouched_before["trace"]["verified"], true);
    sqlx::query(
        "UPDATE assessments SET scores = '[{\"criterion\": \"clarity\", \"score\": 4, \"max\": 4}, \
         {\"criterion\": \"accuracy\", \"score\": 5, \"max\": 5}]' WHERE id::text = $1",
    )
    .bind(&untouched)
    .execute(&app.pool)
    .await
    .expect("change the scores");
    let rescored = read(&app, &app.token, &untouched).await;
    assert_eq!(rescored["scores"][0]["score"].as_f64(), Some(4.0));
    assert_eq!(
        rescored["trace"]["computed_hash"],
        rescored["trace"]["content_hash"]
    );
    assert_eq!(rescored["trace"]["verified"], false, "{rescored}");

    // A row left alone stays verified, in every answer that shows it.
    let honest = record(&app, &f.service, &f.session, assessment(0.7)).await;
    let honest_id = honest["id"].as_str().unwrap().to_owned();
    assert_eq!(
        read(&app, &app.token, &honest_id).await["trace"]["verified"],
        true
    );
    let queue = {
        let (status, body) = send(
            &app,
            &f.teachers[0].token,
            Method::GET,
            &format!("/classes/{}/assessments/review-queue", f.class),
            None,
        )
        .await;
        assert_eq!(status, 200, "{body}");
        body
    };
    let verified_in_queue: Vec<(String, bool)> = queue["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["id"].as_str().unwrap().to_owned(),
                a["trace"]["verified"].as_bool().unwrap(),
            )
        })
        .collect();
    let mut expected = vec![
        (id.clone(), false),
        (untouched.clone(), false),
        (honest_id.clone(), true),
    ];
    expected.sort();
    let mut got = verified_in_queue;
    got.sort();
    assert_eq!(got, expected);
    let (status, reviewed) = send(
        &app,
        &f.teachers[0].token,
        Method::POST,
        &format!("/assessments/{honest_id}/review"),
        Some(json!({"notes": "fine"})),
    )
    .await;
    assert_eq!(status, 200, "{reviewed}");
    assert_eq!(reviewed["trace"]["verified"], true, "{reviewed}");
}

/// The check reads the log: an `assessment.recorded` event altered in place (by the table's
/// owner, with the append-only triggers off) no longer matches the read model built from it
/// before, and the assessment reads as not verified.
#[tokio::test]
async fn an_altered_recording_in_the_log_is_no_longer_verified() {
    let app = spawn_app().await;
    let f = SchoolFixture::build(&app).await;
    let created = record(&app, &f.service, &f.session, assessment(0.9)).await;
    let id = created["id"].as_str().unwrap().to_owned();
    assert_eq!(read(&app, &app.token, &id).await["trace"]["verified"], true);

    let mut tx = app.pool.begin().await.unwrap();
    sqlx::query("ALTER TABLE events DISABLE TRIGGER events_no_update_or_delete")
        .execute(&mut *tx)
        .await
        .unwrap();
    let altered = sqlx::query(
        "UPDATE events SET payload = jsonb_set(payload, '{confidence}', '0.99') \
         WHERE aggregate_type = 'assessment' AND aggregate_id = $1 \
         AND event_type = 'assessment.recorded'",
    )
    .bind(&id)
    .execute(&mut *tx)
    .await
    .unwrap()
    .rows_affected();
    assert_eq!(altered, 1);
    sqlx::query("ALTER TABLE events ENABLE TRIGGER events_no_update_or_delete")
        .execute(&mut *tx)
        .await
        .unwrap();
    tx.commit().await.unwrap();

    let after = read(&app, &app.token, &id).await;
    assert_eq!(
        after["confidence"].as_f64(),
        Some(0.9),
        "the read model is as it was"
    );
    assert_eq!(
        after["trace"]["computed_hash"],
        after["trace"]["content_hash"]
    );
    assert_eq!(after["trace"]["verified"], false, "{after}");
}

/// Numbers at the edges of what a double holds survive the log: PostgreSQL's jsonb keeps
/// `1.7976931348623157e308` as a 309-digit integer, which serde_json's default (not
/// correctly rounded) parser read back as out of range, and every subscriber of the log
/// stopped at that event, a poison for the whole system (found by schemathesis). The event
/// must be accepted, read back exactly, and the log must keep flowing after it.
#[tokio::test]
async fn extreme_numbers_in_an_assessment_do_not_stop_the_subscribers() {
    let app = spawn_app().await;
    let f = SchoolFixture::build(&app).await;
    let mut body = assessment(0.95);
    body["scores"] = json!([{"criterion": "range", "score": 3.1e16, "max": f64::MAX}]);
    body["trace"]["input_snapshot"] = json!({
        "largest": f64::MAX,
        "smallest": -f64::MAX,
        "tiniest": 5e-324,
        "small": -3.2941039126592287e-248,
        "integer": u64::MAX
    });
    body["trace"]["parsed_result"] = json!([f64::MAX, f64::MIN_POSITIVE]);
    let created = record(&app, &f.service, &f.session, body.clone()).await;
    let read_back = read(&app, &f.teachers[0].token, created["id"].as_str().unwrap()).await;
    assert_eq!(scores(&read_back), scores(&body));
    for field in ["input_snapshot", "parsed_result"] {
        assert_eq!(read_back["trace"][field], body["trace"][field], "{field}");
    }
    assert_eq!(read_back["trace"]["verified"], true);
    // The subscribers went past it: another command's read model still catches up.
    record(&app, &f.service, &f.session, assessment(0.9)).await;
    app.wait_for_subscribers().await;
}
