//! Assignments and submissions (issue #21): a teacher's draft that students do not see, the
//! published assignment a student submits to (late after the due time, again until graded),
//! grading within the maximum, the class dashboard's count of submissions awaiting a grade,
//! the AI assessments shown with a graded submission, and every refusal with its problem type
//! and nothing appended.

use futures::future::join_all;
use reqwest::Method;
use serde_json::{json, Value};
use tests::{eventually, send, spawn_app, SchoolFixture, TestApp};

/// Creates an assignment in `class` as `token`; asserts 201 and its `Location`.
pub(crate) async fn create_assignment(
    app: &TestApp,
    token: &str,
    class: &str,
    body: Value,
) -> Value {
    let response = app
        .call_as(
            token,
            Method::POST,
            &format!("/classes/{class}/assignments"),
            Some(body),
        )
        .await;
    let status = response.status().as_u16();
    let location = response
        .headers()
        .get("location")
        .map(|l| l.to_str().unwrap().to_owned());
    let body: Value = response.json().await.unwrap();
    assert_eq!(status, 201, "{body}");
    assert_eq!(
        location.as_deref(),
        Some(format!("/assignments/{}", body["id"].as_str().unwrap()).as_str())
    );
    body
}

async fn ok(app: &TestApp, token: &str, method: Method, path: &str, body: Option<Value>) -> Value {
    let (status, body) = send(app, token, method, path, body).await;
    assert!(status == 200 || status == 201, "{path}: {status} {body}");
    body
}

async fn refused(
    app: &TestApp,
    token: &str,
    method: Method,
    path: &str,
    body: Option<Value>,
    expected: (u16, &str),
) {
    let before = app.log_head().await;
    let (status, body) = send(app, token, method, path, body).await;
    assert_eq!(status, expected.0, "{path}: {body}");
    assert!(
        body["type"]
            .as_str()
            .is_some_and(|t| t.ends_with(&format!("/{}", expected.1))),
        "{path}: {body}"
    );
    assert_eq!(app.log_head().await, before, "{path}: nothing appended");
}

/// `token`'s student starts a submission to the assignment at `path` with `content` and
/// submits it; returns the submission's path.
async fn submitted(app: &TestApp, token: &str, path: &str, content: &str) -> String {
    let started = ok(
        app,
        token,
        Method::POST,
        &format!("{path}/submissions"),
        Some(json!({"content": content})),
    )
    .await;
    let sub_path = format!("/submissions/{}", started["id"].as_str().unwrap());
    ok(
        app,
        token,
        Method::POST,
        &format!("{sub_path}/submit"),
        Some(json!({})),
    )
    .await;
    sub_path
}

/// Waits until the class dashboard counts `expected` submissions awaiting a grade.
async fn awaiting_grade(app: &TestApp, token: &str, dashboard: &str, expected: i64) {
    eventually(
        "the dashboard's submissions awaiting a grade",
        std::time::Duration::from_secs(10),
        || async {
            let board = ok(app, token, Method::GET, dashboard, None).await;
            (board["submissions_awaiting_grade"] == expected).then_some(())
        },
    )
    .await;
}

fn titles(list: &Value) -> Vec<&str> {
    list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["title"].as_str().unwrap())
        .collect()
}

#[tokio::test]
async fn a_published_assignment_is_submitted_graded_and_counted_on_the_dashboard() {
    let app = spawn_app().await;
    let f = SchoolFixture::build(&app).await;
    let teacher = &f.teachers[0].token;
    let student = &f.student.token;

    let draft = create_assignment(
        &app,
        teacher,
        &f.class,
        json!({"title": "Adding fractions", "instructions": "Add 1/2 and 1/3.",
               "tool_id": f.tool, "due_at": "2099-01-01T00:00:00Z", "max_score": 10}),
    )
    .await;
    assert_eq!(draft["status"], "draft");
    assert_eq!(draft["created_by"], f.teachers[0].id.as_str());
    let id = draft["id"].as_str().unwrap().to_owned();
    let path = format!("/assignments/{id}");

    // A draft is the adults' own: a 404 to the student, and missing from their list.
    let (status, _) = send(&app, student, Method::GET, &path, None).await;
    assert_eq!(status, 404);
    let list_path = format!("/classes/{}/assignments", f.class);
    assert!(titles(&ok(&app, student, Method::GET, &list_path, None).await).is_empty());
    assert_eq!(
        titles(&ok(&app, teacher, Method::GET, &list_path, None).await),
        ["Adding fractions"]
    );
    refused(
        &app,
        student,
        Method::POST,
        &format!("{path}/submissions"),
        Some(json!({"content": "5/6"})),
        (404, "not-found"),
    )
    .await;

    let published = ok(
        &app,
        teacher,
        Method::POST,
        &format!("{path}/publish"),
        None,
    )
    .await;
    assert_eq!(published["status"], "published");
    assert_eq!(
        ok(&app, student, Method::GET, &path, None).await["title"],
        "Adding fractions"
    );
    let mine = ok(&app, student, Method::GET, "/me/assignments", None).await;
    assert_eq!(mine["items"][0]["assignment"]["id"], id.as_str());
    assert!(mine["items"][0]["submission_status"].is_null());

    // The student starts a submission with their session as evidence, then submits it.
    let (status, started) = send(
        &app,
        student,
        Method::POST,
        &format!("{path}/submissions"),
        Some(json!({"content": "3/6 + 2/6", "evidence": [f.session]})),
    )
    .await;
    assert_eq!(status, 201, "{started}");
    assert_eq!(started["status"], "draft");
    assert_eq!(started["evidence"], json!([f.session]));
    let submission = started["id"].as_str().unwrap().to_owned();
    let sub_path = format!("/submissions/{submission}");
    refused(
        &app,
        student,
        Method::POST,
        &format!("{path}/submissions"),
        Some(json!({"content": "again"})),
        (409, "submission-exists"),
    )
    .await;
    // A draft submission is the student's own.
    let (status, _) = send(&app, teacher, Method::GET, &sub_path, None).await;
    assert_eq!(status, 404);
    let submitted = ok(
        &app,
        student,
        Method::POST,
        &format!("{sub_path}/submit"),
        Some(json!({"content": "1/2 + 1/3 = 5/6"})),
    )
    .await;
    assert_eq!(submitted["status"], "submitted");
    assert_eq!(submitted["late"], false);
    assert_eq!(submitted["attempts"], 1);
    assert!(submitted["assessments"].is_null(), "not before the grade");

    let dashboard = format!("/classes/{}/dashboard", f.class);
    awaiting_grade(&app, teacher, &dashboard, 1).await;

    // The teachers see it; another class's teacher does not.
    let listed = ok(
        &app,
        teacher,
        Method::GET,
        &format!("{path}/submissions"),
        None,
    )
    .await;
    assert_eq!(listed["items"][0]["id"], submission.as_str());
    assert_eq!(listed["items"][0]["student_name"], f.student.name.as_str());
    let (status, _) = send(&app, &f.other_teacher.token, Method::GET, &sub_path, None).await;
    assert_eq!(status, 404);

    refused(
        &app,
        teacher,
        Method::POST,
        &format!("{sub_path}/grade"),
        Some(json!({"score": 11, "feedback": "?"})),
        (422, "score-above-maximum"),
    )
    .await;
    refused(
        &app,
        teacher,
        Method::POST,
        &format!("{sub_path}/grade"),
        Some(json!({"feedback": "no score"})),
        (422, "invalid-score"),
    )
    .await;
    refused(
        &app,
        student,
        Method::POST,
        &format!("{sub_path}/grade"),
        Some(json!({"score": 10})),
        (403, "forbidden"),
    )
    .await;
    let graded = ok(
        &app,
        teacher,
        Method::POST,
        &format!("{sub_path}/grade"),
        Some(json!({"score": 9, "feedback": "Simplify at the end."})),
    )
    .await;
    assert_eq!(graded["status"], "graded");
    assert_eq!(graded["grade"]["score"], 9);
    assert_eq!(graded["grade"]["max_score"], 10);
    assert_eq!(graded["grade"]["graded_by"], f.teachers[0].id.as_str());

    // The student sees the grade and feedback, and can no longer change the submission.
    let seen = ok(&app, student, Method::GET, &sub_path, None).await;
    assert_eq!(seen["grade"]["feedback"], "Simplify at the end.");
    assert_eq!(seen["assessments"], json!([]));
    refused(
        &app,
        student,
        Method::POST,
        &format!("{sub_path}/submit"),
        Some(json!({"content": "better"})),
        (409, "submission-graded"),
    )
    .await;
    let mine = ok(&app, student, Method::GET, "/me/assignments", None).await;
    assert_eq!(mine["items"][0]["submission_status"], "graded");
    assert_eq!(mine["items"][0]["score"], 9);
    awaiting_grade(&app, teacher, &dashboard, 0).await;
    let assignment = ok(&app, teacher, Method::GET, &path, None).await;
    assert_eq!(assignment["submitted_count"], 1);
    assert_eq!(assignment["graded_count"], 1);

    // Closed: nothing more is submitted; archived: gone for the student.
    ok(&app, teacher, Method::POST, &format!("{path}/close"), None).await;
    refused(
        &app,
        &f.student.token,
        Method::PATCH,
        &path,
        Some(json!({"title": "x"})),
        (403, "forbidden"),
    )
    .await;
    refused(
        &app,
        teacher,
        Method::PATCH,
        &path,
        Some(json!({"title": "Renamed"})),
        (409, "assignment-status"),
    )
    .await;
    ok(
        &app,
        teacher,
        Method::POST,
        &format!("{path}/archive"),
        None,
    )
    .await;
    let (status, _) = send(&app, student, Method::GET, &path, None).await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn late_submissions_are_flagged_and_cannot_be_resubmitted() {
    let app = spawn_app().await;
    let f = SchoolFixture::build(&app).await;
    let teacher = &f.teachers[0].token;
    let student = &f.student.token;
    let assignment = create_assignment(
        &app,
        teacher,
        &f.class,
        json!({"title": "Overdue", "due_at": "2020-01-01T00:00:00Z"}),
    )
    .await;
    let path = format!("/assignments/{}", assignment["id"].as_str().unwrap());
    ok(
        &app,
        teacher,
        Method::POST,
        &format!("{path}/publish"),
        None,
    )
    .await;
    let started = ok(
        &app,
        student,
        Method::POST,
        &format!("{path}/submissions"),
        Some(json!({"content": "late work"})),
    )
    .await;
    let sub_path = format!("/submissions/{}", started["id"].as_str().unwrap());
    let submitted = ok(
        &app,
        student,
        Method::POST,
        &format!("{sub_path}/submit"),
        Some(json!({})),
    )
    .await;
    assert_eq!(submitted["late"], true);
    refused(
        &app,
        student,
        Method::POST,
        &format!("{sub_path}/submit"),
        Some(json!({"content": "later still"})),
        (409, "past-due"),
    )
    .await;
    // Graded with feedback only (no maximum): a score is refused.
    refused(
        &app,
        teacher,
        Method::POST,
        &format!("{sub_path}/grade"),
        Some(json!({"score": 3})),
        (422, "invalid-score"),
    )
    .await;
    let graded = ok(
        &app,
        teacher,
        Method::POST,
        &format!("{sub_path}/grade"),
        Some(json!({"feedback": "Thanks"})),
    )
    .await;
    assert!(graded["grade"]["score"].is_null());
}

#[tokio::test]
async fn bad_assignments_and_submissions_are_refused_and_append_nothing() {
    let app = spawn_app().await;
    let f = SchoolFixture::build(&app).await;
    let teacher = &f.teachers[0].token;
    let classes = format!("/classes/{}/assignments", f.class);
    for (body, expected) in [
        (json!({"title": "\u{200b}"}), (422, "invisible-name")),
        (
            json!({"title": "X", "max_score": 0}),
            (422, "invalid-request"),
        ),
        (
            json!({"title": "X", "max_score": 10001}),
            (422, "invalid-request"),
        ),
        (
            json!({"title": "X", "instructions": "i".repeat(20_001)}),
            (422, "invalid-request"),
        ),
        (
            json!({"title": "X", "tool_id": uuid::Uuid::now_v7()}),
            (422, "tool-not-available"),
        ),
        (
            json!({"title": "X", "colour": "red"}),
            (422, "invalid-request"),
        ),
    ] {
        refused(&app, teacher, Method::POST, &classes, Some(body), expected).await;
    }
    // Students and the teachers of other classes do not create assignments here.
    refused(
        &app,
        &f.student.token,
        Method::POST,
        &classes,
        Some(json!({"title": "Mine"})),
        (403, "forbidden"),
    )
    .await;
    refused(
        &app,
        &f.other_teacher.token,
        Method::POST,
        &classes,
        Some(json!({"title": "Mine"})),
        (404, "not-found"),
    )
    .await;

    let assignment = create_assignment(
        &app,
        teacher,
        &f.class,
        json!({"title": "Draft", "max_score": 5}),
    )
    .await;
    let path = format!("/assignments/{}", assignment["id"].as_str().unwrap());
    refused(
        &app,
        teacher,
        Method::POST,
        &format!("{path}/close"),
        None,
        (409, "assignment-status"),
    )
    .await;
    ok(
        &app,
        teacher,
        Method::POST,
        &format!("{path}/publish"),
        None,
    )
    .await;
    refused(
        &app,
        teacher,
        Method::PATCH,
        &path,
        Some(json!({"max_score": 50})),
        (409, "assignment-status"),
    )
    .await;
    // A null clears; an absent member keeps its value.
    let changed = ok(
        &app,
        teacher,
        Method::PATCH,
        &path,
        Some(json!({"due_at": "2099-06-01T12:00:00Z"})),
    )
    .await;
    assert!(changed["due_at"]
        .as_str()
        .is_some_and(|t| t.starts_with("2099-06-01T12:00:00")));
    assert_eq!(changed["max_score"], 5);
    let cleared = ok(
        &app,
        teacher,
        Method::PATCH,
        &path,
        Some(json!({"due_at": null})),
    )
    .await;
    assert!(cleared["due_at"].is_null());

    // Evidence must be the student's own session in this class.
    let other = f.add_student(&app, "otto.other", "Otto Other").await;
    let others_session = f.start_session(&app, &other).await;
    refused(
        &app,
        &f.student.token,
        Method::POST,
        &format!("{path}/submissions"),
        Some(json!({"content": "x", "evidence": [others_session]})),
        (422, "invalid-evidence"),
    )
    .await;
    refused(
        &app,
        &f.student.token,
        Method::POST,
        &format!("{path}/submissions"),
        Some(json!({"content": "c".repeat(50_001)})),
        (422, "invalid-request"),
    )
    .await;
    let started = ok(
        &app,
        &f.student.token,
        Method::POST,
        &format!("{path}/submissions"),
        Some(json!({})),
    )
    .await;
    let sub_path = format!("/submissions/{}", started["id"].as_str().unwrap());
    refused(
        &app,
        &f.student.token,
        Method::POST,
        &format!("{sub_path}/submit"),
        Some(json!({})),
        (422, "invalid-request"),
    )
    .await;
    refused(
        &app,
        teacher,
        Method::POST,
        &format!("{sub_path}/grade"),
        Some(json!({"score": 1})),
        (404, "not-found"),
    )
    .await;
    // Another student cannot submit it.
    refused(
        &app,
        &other.token,
        Method::POST,
        &format!("{sub_path}/submit"),
        Some(json!({"content": "mine now"})),
        (404, "not-found"),
    )
    .await;
    ok(&app, teacher, Method::POST, &format!("{path}/close"), None).await;
    refused(
        &app,
        &f.student.token,
        Method::POST,
        &format!("{sub_path}/submit"),
        Some(json!({"content": "too late"})),
        (409, "assignment-not-open"),
    )
    .await;
}

#[tokio::test]
async fn concurrent_grades_one_wins_the_others_are_409_and_each_success_is_one_event() {
    let app = std::sync::Arc::new(spawn_app().await);
    let f = SchoolFixture::build(&app).await;
    let teacher = f.teachers[0].token.clone();
    let assignment = create_assignment(
        &app,
        &teacher,
        &f.class,
        json!({"title": "Race", "max_score": 100}),
    )
    .await;
    let path = format!("/assignments/{}", assignment["id"].as_str().unwrap());
    ok(
        &app,
        &teacher,
        Method::POST,
        &format!("{path}/publish"),
        None,
    )
    .await;
    let started = ok(
        &app,
        &f.student.token,
        Method::POST,
        &format!("{path}/submissions"),
        Some(json!({"content": "answer"})),
    )
    .await;
    let submission = started["id"].as_str().unwrap().to_owned();
    ok(
        &app,
        &f.student.token,
        Method::POST,
        &format!("/submissions/{submission}/submit"),
        Some(json!({})),
    )
    .await;
    let grades = (0..8).map(|n| {
        let (app, teacher, submission) = (app.clone(), teacher.clone(), submission.clone());
        async move {
            send(
                &app,
                &teacher,
                Method::POST,
                &format!("/submissions/{submission}/grade"),
                Some(json!({"score": 90 + n, "feedback": format!("grade {n}")})),
            )
            .await
            .0
        }
    });
    let statuses = join_all(grades).await;
    assert!(
        statuses.iter().all(|s| *s == 200 || *s == 409),
        "{statuses:?}"
    );
    let wins = statuses.iter().filter(|s| **s == 200).count() as i64;
    assert!(wins >= 1, "{statuses:?}");
    let graded: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM events WHERE aggregate_type = 'submission' \
         AND aggregate_id = $1 AND event_type = 'submission.graded'",
    )
    .bind(&submission)
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(graded, wins, "one event per 200, none per 409");
}

#[tokio::test]
async fn school_admins_manage_assignments_and_see_submissions_but_do_not_grade() {
    let app = spawn_app().await;
    let f = SchoolFixture::build(&app).await;
    let admin = &f.school_admin.token;
    let assignment =
        create_assignment(&app, admin, &f.class, json!({"title": "From the office"})).await;
    let path = format!("/assignments/{}", assignment["id"].as_str().unwrap());
    ok(&app, admin, Method::POST, &format!("{path}/publish"), None).await;
    let sub_path = submitted(&app, &f.student.token, &path, "done").await;
    ok(&app, admin, Method::GET, &sub_path, None).await;
    refused(
        &app,
        admin,
        Method::POST,
        &format!("{sub_path}/grade"),
        Some(json!({"feedback": "ok"})),
        (403, "forbidden"),
    )
    .await;
    for outsider in [
        &f.sibling_admin.token,
        &f.other_teacher.token,
        &f.member.token,
    ] {
        let (status, _) = send(&app, outsider, Method::GET, &path, None).await;
        assert_eq!(status, 404);
        let (status, _) = send(&app, outsider, Method::GET, &sub_path, None).await;
        assert_eq!(status, 404);
    }
}

#[tokio::test]
async fn assessments_name_a_real_assignment_of_the_class_and_show_with_the_graded_submission() {
    let app = spawn_app().await;
    let f = SchoolFixture::build(&app).await;
    let teacher = &f.teachers[0].token;
    let assignment = create_assignment(
        &app,
        teacher,
        &f.class,
        json!({"title": "Essay", "max_score": 4}),
    )
    .await;
    let id = assignment["id"].as_str().unwrap().to_owned();
    let foreign = create_assignment(
        &app,
        &f.other_teacher.token,
        &f.other_class,
        json!({"title": "Biology essay"}),
    )
    .await;
    let body = |assignment: Value| {
        json!({"assignment_id": assignment,
               "scores": [{"criterion": "clarity", "score": 2, "max": 4}],
               "confidence": 0.5,
               "trace": {"model": "m", "prompt_hash": "h", "input_snapshot": {},
                         "raw_response": "{}", "parsed_result": {}}})
    };
    let record = format!("/learning-sessions/{}/assessments", f.session);
    for assignment in [json!(uuid::Uuid::now_v7()), foreign["id"].clone()] {
        refused(
            &app,
            &f.service,
            Method::POST,
            &record,
            Some(body(assignment)),
            (422, "assignment-not-found"),
        )
        .await;
    }
    let recorded = ok(
        &app,
        &f.service,
        Method::POST,
        &record,
        Some(body(json!(id))),
    )
    .await;
    ok(
        &app,
        &f.service,
        Method::POST,
        &record,
        Some(body(Value::Null)),
    )
    .await;
    let queue = format!("/classes/{}/assessments/review-queue", f.class);
    let all = ok(&app, teacher, Method::GET, &queue, None).await;
    assert_eq!(all["items"].as_array().unwrap().len(), 2);
    let filtered = ok(
        &app,
        teacher,
        Method::GET,
        &format!("{queue}?assignment_id={id}"),
        None,
    )
    .await;
    assert_eq!(filtered["items"].as_array().unwrap().len(), 1);
    assert_eq!(filtered["items"][0]["id"], recorded["id"]);

    let path = format!("/assignments/{id}");
    ok(
        &app,
        teacher,
        Method::POST,
        &format!("{path}/publish"),
        None,
    )
    .await;
    let sub_path = submitted(&app, &f.student.token, &path, "essay").await;
    let for_teacher = ok(&app, teacher, Method::GET, &sub_path, None).await;
    assert_eq!(for_teacher["assessments"][0]["id"], recorded["id"]);
    let for_student = ok(&app, &f.student.token, Method::GET, &sub_path, None).await;
    assert!(for_student["assessments"].is_null(), "not before the grade");
    ok(
        &app,
        teacher,
        Method::POST,
        &format!("{sub_path}/grade"),
        Some(json!({"score": 3})),
    )
    .await;
    let for_student = ok(&app, &f.student.token, Method::GET, &sub_path, None).await;
    assert_eq!(for_student["assessments"][0]["id"], recorded["id"]);
}
