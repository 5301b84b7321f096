//! A group's usage (`GET /groups/{id}/usage`): learning activity, detections by type and
//! submissions, per day (UTC) and tool, rolled up over the subtree as it is now; distinct
//! active students over a range; CSV; bad input; a class that moves; a school that moves, and
//! the rollup equal to the per-class rows summed over the directory's tree after moves.

use reqwest::Method;
use serde_json::{json, Value};
use sqlx::PgPool;
use tests::{detect, json_id, register_named, send, spawn_app, SchoolFixture, TestApp};
use uuid::Uuid;

/// The usage of `group` as `token`, asserting 200.
async fn usage(app: &TestApp, token: &str, group: &str, query: &str) -> Value {
    let (status, body) = send(
        app,
        token,
        Method::GET,
        &format!("/groups/{group}/usage{query}"),
        None,
    )
    .await;
    assert_eq!(status, 200, "usage of {group}{query}: {body}");
    body
}

async fn message(app: &TestApp, token: &str, session: &str, role: &str) {
    let (status, body) = send(
        app,
        token,
        Method::POST,
        &format!("/learning-sessions/{session}/messages"),
        Some(json!({"role": role, "content": "How do fractions add up?"})),
    )
    .await;
    assert_eq!(status, 200, "message: {body}");
}

/// `student` starts a submission to `assignment` and submits it `times` times (a
/// resubmission before the due time each time after the first).
async fn submitted(app: &TestApp, student: &str, assignment: &str, times: usize) {
    let (status, body) = send(
        app,
        student,
        Method::POST,
        &format!("/assignments/{assignment}/submissions"),
        Some(json!({"content": "1/2 + 1/3 = 5/6"})),
    )
    .await;
    assert_eq!(status, 201, "submission: {body}");
    let submission = json_id(&body);
    for _ in 0..times {
        let (status, body) = send(
            app,
            student,
            Method::POST,
            &format!("/submissions/{submission}/submit"),
            Some(json!({})),
        )
        .await;
        assert_eq!(status, 200, "submit: {body}");
    }
}

/// The counters of a report's totals, in a compact form for assertions:
/// `[started, completed, messages, struggle, misbehavior, safety_concern, recovery,
/// submitted, active_students]`.
fn counts(c: &Value) -> [i64; 9] {
    let d = &c["detections"];
    [
        &c["sessions_started"],
        &c["sessions_completed"],
        &c["messages"],
        &d["struggle"],
        &d["misbehavior"],
        &d["safety_concern"],
        &d["recovery"],
        &c["assignments_submitted"],
        &c["active_students"],
    ]
    .map(|v| v.as_i64().unwrap_or_else(|| panic!("a count in {c}")))
}

/// Two schools of a district: each school sees its own usage, the district both rolled up;
/// the tool filter; submissions (counted once per day, assignment and student, with no tool);
/// CSV; who may read it; and after a class moves to the other school its whole history
/// follows it.
#[tokio::test]
async fn usage_rolls_up_over_the_current_subtree() {
    let app = spawn_app().await;
    let f = SchoolFixture::build(&app).await;
    // The school: the fixture's session, with messages, every kind of detection, completed.
    message(&app, &f.student.token, &f.session, "student").await;
    message(&app, &f.student.token, &f.session, "student").await;
    message(&app, &f.service, &f.session, "assistant").await;
    for detection in [
        json!({"type": "struggle", "topic": "fractions", "indicators": ["repeated errors"], "duration_seconds": 120}),
        json!({"type": "recovery", "topic": "fractions"}),
        json!({"type": "misbehavior", "category": "off_topic", "severity": "low", "evidence": "e"}),
        json!({"type": "safety_concern", "concern_type": "distress", "urgency": "same_day"}),
    ] {
        detect(&app, &f.service, &f.session, detection).await;
    }
    let (status, body) = send(
        &app,
        &f.student.token,
        Method::POST,
        &format!("/learning-sessions/{}/complete", f.session),
        Some(json!({"summary": "Fractions", "topics_covered": ["fractions"]})),
    )
    .await;
    assert_eq!(status, 200, "complete: {body}");
    // The sibling school: a class, a student, a session with a message and a misbehavior.
    let vale_class = json_id(&app.create_class(&f.sibling, "Vale Algebra").await);
    let (vale_token, vale_student) = register_named(
        &app,
        "val.student@school.example",
        "Val Student",
        "long password 1",
    )
    .await;
    app.put_role(
        &format!("/classes/{vale_class}/members/{}", json_id(&vale_student)),
        "student",
    )
    .await;
    let (status, started) = send(
        &app,
        &vale_token,
        Method::POST,
        "/learning-sessions",
        Some(json!({"class_id": vale_class, "tool_id": f.tool})),
    )
    .await;
    assert_eq!(status, 201, "start: {started}");
    let vale_session = json_id(&started);
    message(&app, &vale_token, &vale_session, "student").await;
    detect(
        &app,
        &f.foreign_service,
        &vale_session,
        json!({"type": "misbehavior", "category": "spam", "severity": "high", "evidence": "e"}),
    )
    .await;
    // Submissions: the same assignment twice by one student on one day counts once.
    let teacher = &f.teachers[0].token;
    let (status, created) = send(
        &app,
        teacher,
        Method::POST,
        &format!("/classes/{}/assignments", f.class),
        Some(json!({"title": "Fractions"})),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    let assignment = json_id(&created);
    let (status, _) = send(
        &app,
        teacher,
        Method::POST,
        &format!("/assignments/{assignment}/publish"),
        None,
    )
    .await;
    assert_eq!(status, 200);
    submitted(&app, &f.student.token, &assignment, 2).await;
    let other_student = f.add_student(&app, "olive.other", "Olive Other").await;
    submitted(&app, &other_student.token, &assignment, 1).await;
    app.wait_for_subscribers().await;

    let admin = app.token.clone();
    let today = chrono::Utc::now().date_naive().to_string();
    let district = usage(&app, &admin, &f.district, "").await;
    assert_eq!(district["to"], today.as_str());
    assert_eq!(district["tool_id"], Value::Null);
    // Started 2, completed 1, messages 4, struggle 1, misbehavior 2, safety 1, recovery 1,
    // submitted 2; active: the two session students and the other submitter.
    assert_eq!(counts(&district["totals"]), [2, 1, 4, 1, 2, 1, 1, 2, 3]);
    let rows = district["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 2, "{district}");
    assert_eq!(rows[0]["day"], today.as_str());
    assert_eq!(rows[0]["tool_id"], f.tool.as_str());
    assert_eq!(counts(&rows[0]), [2, 1, 4, 1, 2, 1, 1, 0, 2]);
    assert_eq!(rows[1]["tool_id"], Value::Null);
    assert_eq!(counts(&rows[1]), [0, 0, 0, 0, 0, 0, 0, 2, 2]);

    // Each school its own, as its admin.
    let school = usage(&app, &f.school_admin.token, &f.school, "").await;
    assert_eq!(counts(&school["totals"]), [1, 1, 3, 1, 1, 1, 1, 2, 2]);
    let sibling = usage(&app, &f.sibling_admin.token, &f.sibling, "").await;
    assert_eq!(counts(&sibling["totals"]), [1, 0, 1, 0, 1, 0, 0, 0, 1]);
    // Not the other school's, nor the district's.
    for (token, group) in [
        (&f.school_admin.token, &f.district),
        (&f.school_admin.token, &f.sibling),
        (&f.sibling_admin.token, &f.school),
    ] {
        let path = format!("/groups/{group}/usage");
        assert_eq!(app.status_as(token, Method::GET, &path, None).await, 404);
    }
    // Counselors and members read the group, not its usage.
    for token in [&f.counselor.token, &f.member.token] {
        let path = format!("/groups/{}/usage", f.school);
        assert_eq!(app.status_as(token, Method::GET, &path, None).await, 403);
    }
    // The ability is reported where it is held.
    let abilities = |token: String| {
        let app = &app;
        async move {
            let (_, body) = send(app, &token, Method::GET, "/me/abilities", None).await;
            body
        }
    };
    let held = abilities(f.school_admin.token.clone()).await;
    assert!(
        held["groups"][f.school.as_str()]
            .as_array()
            .unwrap()
            .contains(&json!("group.read_usage")),
        "{held}"
    );
    let counselor = abilities(f.counselor.token.clone()).await;
    assert!(
        !counselor["groups"][f.district.as_str()]
            .as_array()
            .unwrap()
            .contains(&json!("group.read_usage")),
        "{counselor}"
    );

    // The tool filter: that tool's sessions only (no submissions); another tool, nothing.
    let by_tool = usage(&app, &admin, &f.district, &format!("?tool_id={}", f.tool)).await;
    assert_eq!(by_tool["tool_id"], f.tool.as_str());
    assert_eq!(counts(&by_tool["totals"]), [2, 1, 4, 1, 2, 1, 1, 0, 2]);
    assert_eq!(by_tool["rows"].as_array().unwrap().len(), 1);
    let other_tool = json_id(&app.create_tool(&f.district, "Essay coach").await);
    let none = usage(&app, &admin, &f.district, &format!("?tool_id={other_tool}")).await;
    assert_eq!(counts(&none["totals"]), [0; 9]);
    assert!(none["rows"].as_array().unwrap().is_empty());

    // CSV when asked for.
    let csv = app
        .request(Method::GET, &format!("/groups/{}/usage", f.district))
        .header("Accept", "text/csv")
        .send()
        .await
        .unwrap();
    assert_eq!(csv.status(), 200);
    assert!(csv.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/csv"));
    assert_eq!(csv.headers()["vary"], "Accept");
    let text = csv.text().await.unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines,
        [
            "day,tool_id,sessions_started,sessions_completed,messages,struggles,misbehaviors,\
             safety_concerns,recoveries,assignments_submitted,active_students",
            &format!("{today},{},2,1,4,1,2,1,1,0,2", f.tool),
            &format!("{today},,0,0,0,0,0,0,0,2,2"),
            "total,,2,1,4,1,2,1,1,2,3",
        ]
    );

    // The class moves to the sibling school: its whole history goes with it (usage follows
    // the current tree); the district sees the same.
    let moved = app
        .post_json(
            &format!("/classes/{}/move", f.class),
            &json!({"group_id": f.sibling}),
        )
        .await;
    assert_eq!(moved.status(), 200);
    app.wait_for_subscribers().await;
    let school = usage(&app, &admin, &f.school, "").await;
    assert_eq!(counts(&school["totals"]), [0; 9]);
    let sibling = usage(&app, &admin, &f.sibling, "").await;
    assert_eq!(counts(&sibling["totals"]), [2, 1, 4, 1, 2, 1, 1, 2, 3]);
    let district = usage(&app, &admin, &f.district, "").await;
    assert_eq!(counts(&district["totals"]), [2, 1, 4, 1, 2, 1, 1, 2, 3]);
}

/// Checks, for each group, that its rollup rows are its subtree's `usage_daily` rows (through
/// the directory's current tree) summed by day and tool, and that its report's totals are
/// their sum; and that its report's active students, per day and tool and over the range,
/// are the distinct students of its subtree's per-class active days.
async fn rollup_is_the_sum(app: &TestApp, token: &str, groups: &[&str]) {
    type Row = (String, Uuid, i64, i64, i64, i64, i64, i64, i64, i64, i64);
    for group in groups {
        let id: Uuid = group.parse().unwrap();
        let summed: Vec<Row> = sqlx::query_as(
            "SELECT u.day::text, u.tool_id, count(*), sum(sessions_started)::bigint, \
                 sum(sessions_completed)::bigint, sum(messages)::bigint, \
                 sum(struggles)::bigint, sum(misbehaviors)::bigint, \
                 sum(safety_concerns)::bigint, sum(recoveries)::bigint, \
                 sum(assignments_submitted)::bigint \
             FROM usage_daily u WHERE u.class_id IN ( \
                 SELECT c.id FROM groups root JOIN groups g ON g.path <@ root.path \
                 JOIN classes c ON c.group_id = g.id WHERE root.id = $1) \
             GROUP BY u.day, u.tool_id ORDER BY 1, 2",
        )
        .bind(id)
        .fetch_all(&app.pool)
        .await
        .unwrap();
        let rollup: Vec<Row> = sqlx::query_as(
            "SELECT day::text, tool_id, class_rows, sessions_started, sessions_completed, \
                 messages, struggles, misbehaviors, safety_concerns, recoveries, \
                 assignments_submitted \
             FROM usage_rollup WHERE group_id = $1 ORDER BY 1, 2",
        )
        .bind(id)
        .fetch_all(&app.pool)
        .await
        .unwrap();
        assert_eq!(rollup, summed, "the rollup of {group}");
        let report = usage(app, token, group, "").await;
        let totals = counts(&report["totals"]);
        let sum = |f: fn(&Row) -> i64| summed.iter().map(f).sum::<i64>();
        assert_eq!(
            totals[..8],
            [
                sum(|r| r.3),
                sum(|r| r.4),
                sum(|r| r.5),
                sum(|r| r.6),
                sum(|r| r.7),
                sum(|r| r.8),
                sum(|r| r.9),
                sum(|r| r.10),
            ],
            "the report of {group}: {report}"
        );
        let subtree = "SELECT c.id FROM groups root JOIN groups g ON g.path <@ root.path \
             JOIN classes c ON c.group_id = g.id WHERE root.id = $1";
        let active: Vec<(String, Uuid, i64)> = sqlx::query_as(&format!(
            "SELECT (make_date(a.year, 1, 1) + (i - 1))::text, a.tool_id, \
                 count(DISTINCT a.student_id) \
             FROM usage_active_days a CROSS JOIN generate_series(1, 366) i \
             WHERE substring(a.days FROM i FOR 1) = '1' AND a.class_id IN ({subtree}) \
             GROUP BY 1, 2 ORDER BY 1, 2"
        ))
        .bind(id)
        .fetch_all(&app.pool)
        .await
        .unwrap();
        let mut reported: Vec<(String, Uuid, i64)> = report["rows"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| r["active_students"].as_i64().unwrap() > 0)
            .map(|r| {
                (
                    r["day"].as_str().unwrap().to_owned(),
                    r["tool_id"]
                        .as_str()
                        .map_or(Uuid::nil(), |t| t.parse().unwrap()),
                    r["active_students"].as_i64().unwrap(),
                )
            })
            .collect();
        reported.sort();
        assert_eq!(reported, active, "the active students of {group}: {report}");
        let distinct: i64 = sqlx::query_scalar(&format!(
            "SELECT count(DISTINCT student_id) FROM usage_active_days \
             WHERE class_id IN ({subtree}) AND position('1' IN days::text) > 0"
        ))
        .bind(id)
        .fetch_one(&app.pool)
        .await
        .unwrap();
        assert_eq!(totals[8], distinct, "the distinct students of {group}");
    }
}

/// A school moves, with its classes, under another part of the district: its whole history
/// leaves the district's direct rollup path and shows in the part's, usage after the move
/// counts there too, and the district sees the same; then a class moves out of the moved
/// school, and the school moves back. After each move, every group's rollup is the sum of its
/// subtree's per-class rows.
#[tokio::test]
async fn a_school_that_moves_takes_its_classes_history() {
    let app = spawn_app().await;
    let f = SchoolFixture::build(&app).await;
    let admin = app.token.clone();
    message(&app, &f.student.token, &f.session, "student").await;
    message(&app, &f.service, &f.session, "assistant").await;
    // The student is also active in the school's other class: when their first class leaves,
    // the school still counts them.
    app.put_role(
        &format!("/classes/{}/members/{}", f.other_class, f.student.id),
        "student",
    )
    .await;
    let (status, body) = send(
        &app,
        &f.student.token,
        Method::POST,
        "/learning-sessions",
        Some(json!({"class_id": f.other_class, "tool_id": f.tool})),
    )
    .await;
    assert_eq!(status, 201, "a session in the other class: {body}");
    let part = json_id(&app.create_group("North", Some(&f.district)).await);
    app.wait_for_subscribers().await;
    let groups = [
        f.district.as_str(),
        f.school.as_str(),
        f.sibling.as_str(),
        part.as_str(),
    ];
    let school_before = counts(&usage(&app, &admin, &f.school, "").await["totals"]);
    let district_before = counts(&usage(&app, &admin, &f.district, "").await["totals"]);
    assert_eq!(school_before[..3], [2, 0, 2]);
    assert_eq!(
        counts(&usage(&app, &admin, &part, "").await["totals"]),
        [0; 9]
    );
    rollup_is_the_sum(&app, &admin, &groups).await;

    // The school moves under the part: its history goes with it; one more message after.
    let moved = app
        .post_json(
            &format!("/groups/{}/move", f.school),
            &json!({"parent_id": part}),
        )
        .await;
    assert_eq!(moved.status(), 200);
    message(&app, &f.student.token, &f.session, "student").await;
    app.wait_for_subscribers().await;
    let school = counts(&usage(&app, &admin, &f.school, "").await["totals"]);
    assert_eq!(school[..3], [2, 0, 3]);
    assert_eq!(
        counts(&usage(&app, &admin, &part, "").await["totals"]),
        school
    );
    let district = counts(&usage(&app, &admin, &f.district, "").await["totals"]);
    assert_eq!(district[2], district_before[2] + 1);
    rollup_is_the_sum(&app, &admin, &groups).await;

    // The class leaves the moved school for the sibling school: the part keeps only the other
    // class's session, and the student, active there too.
    let moved = app
        .post_json(
            &format!("/classes/{}/move", f.class),
            &json!({"group_id": f.sibling}),
        )
        .await;
    assert_eq!(moved.status(), 200);
    app.wait_for_subscribers().await;
    assert_eq!(
        counts(&usage(&app, &admin, &part, "").await["totals"]),
        [1, 0, 0, 0, 0, 0, 0, 0, 1]
    );
    rollup_is_the_sum(&app, &admin, &groups).await;

    // The class comes back, and the school back under the district.
    let moved = app
        .post_json(
            &format!("/classes/{}/move", f.class),
            &json!({"group_id": f.school}),
        )
        .await;
    assert_eq!(moved.status(), 200);
    let moved = app
        .post_json(
            &format!("/groups/{}/move", f.school),
            &json!({"parent_id": f.district}),
        )
        .await;
    assert_eq!(moved.status(), 200);
    app.wait_for_subscribers().await;
    assert_eq!(
        counts(&usage(&app, &admin, &f.school, "").await["totals"]),
        school
    );
    assert_eq!(
        counts(&usage(&app, &admin, &part, "").await["totals"]),
        [0; 9]
    );
    rollup_is_the_sum(&app, &admin, &groups).await;
}

/// Appends the events of a learning session straight to the log with the times given, as if
/// they had been recorded then: the append trigger (which stamps the time and the position)
/// is skipped for this transaction (`session_replication_role = replica`, as the test's
/// superuser), and the positions are made as the trigger makes them, from this
/// transaction's id, so that the log stays gap-safe.
async fn backdated_session(pool: &PgPool, events: &[(&str, Value)]) -> Uuid {
    let session = Uuid::now_v7();
    let mut tx = pool.begin().await.unwrap();
    sqlx::query("SET LOCAL session_replication_role = replica")
        .execute(&mut *tx)
        .await
        .unwrap();
    for (index, (at, payload)) in events.iter().enumerate() {
        sqlx::query(
            "INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type, \
             event_version, payload, metadata, position, recorded_at) \
             VALUES ('learning_session', $1, $2, $3, '1', $4, '{\"actor\": \"system:test\"}', \
                     ((pg_current_xact_id()::text::bigint) << 16) + $2, $5::timestamptz)",
        )
        .bind(session.to_string())
        .bind(index as i64 + 1)
        .bind(payload["type"].as_str().unwrap())
        .bind(payload)
        .bind(at)
        .execute(&mut *tx)
        .await
        .unwrap();
    }
    tx.commit().await.unwrap();
    session
}

/// Days are UTC dates: an event a millisecond before midnight counts on that day, one at
/// midnight on the next; a range across a new year reads both years; a student active on
/// several days of a range counts once in its totals.
#[tokio::test]
async fn days_are_utc_dates_and_students_count_once_over_a_range() {
    let app = spawn_app().await;
    let f = SchoolFixture::build(&app).await;
    let message = json!({"type": "session.message_posted", "role": "student", "content": "hi"});
    backdated_session(
        &app.pool,
        &[
            (
                "2025-12-31T23:59:59.999Z",
                json!({"type": "session.started", "student_id": f.student.id,
                       "class_id": f.class, "group_id": f.school, "tool_id": f.tool}),
            ),
            ("2026-01-01T00:00:00Z", message.clone()),
            ("2026-03-01T23:59:59.999Z", message.clone()),
            ("2026-03-02T00:00:00Z", message.clone()),
            ("2026-03-02T10:00:00+09:00", message.clone()),
        ],
    )
    .await;
    app.wait_for_subscribers().await;
    let admin = app.token.clone();
    let report = usage(&app, &admin, &f.school, "?from=2025-12-31&to=2026-03-02").await;
    let days: Vec<(&str, i64, i64)> = report["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["day"].as_str().unwrap(),
                r["messages"].as_i64().unwrap(),
                r["active_students"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        days,
        [
            ("2025-12-31", 0, 1),
            ("2026-01-01", 1, 1),
            ("2026-03-01", 1, 1),
            ("2026-03-02", 2, 1),
        ],
        "{report}"
    );
    assert_eq!(counts(&report["totals"]), [1, 0, 4, 0, 0, 0, 0, 0, 1]);
    // One day: only its own events.
    let one = usage(&app, &admin, &f.school, "?from=2026-03-02&to=2026-03-02").await;
    assert_eq!(counts(&one["totals"]), [0, 0, 2, 0, 0, 0, 0, 0, 1]);
    let new_year = usage(&app, &admin, &f.school, "?from=2026-01-01&to=2026-01-01").await;
    assert_eq!(counts(&new_year["totals"]), [0, 0, 1, 0, 0, 0, 0, 0, 1]);
    // A full year ending on the last day: 366 days, the most a report covers.
    let year = usage(&app, &admin, &f.district, "?from=2025-03-02&to=2026-03-02").await;
    assert_eq!(counts(&year["totals"]), [1, 0, 4, 0, 0, 0, 0, 0, 1]);
    // A range without activity.
    let quiet = usage(&app, &admin, &f.district, "?from=2026-02-01&to=2026-02-28").await;
    assert!(quiet["rows"].as_array().unwrap().is_empty());
    assert_eq!(counts(&quiet["totals"]), [0; 9]);
}

/// A `from` after `to` or a range of more than 366 days is `422 invalid-date-range`; a date
/// that does not parse or a tool id that is not a UUID, `400 invalid-parameter`; without
/// `from` and `to`, the 30 days up to today (UTC).
#[tokio::test]
async fn bad_ranges_and_dates_are_refused_with_stable_types() {
    let app = spawn_app().await;
    let group = json_id(&app.create_group("District", None).await);
    let admin = app.token.clone();
    for (query, status, kind) in [
        ("?from=2026-03-02&to=2026-03-01", 422, "invalid-date-range"),
        ("?from=2025-02-28&to=2026-03-01", 422, "invalid-date-range"),
        ("?from=2026-13-01&to=2026-03-01", 400, "invalid-parameter"),
        ("?from=yesterday", 400, "invalid-parameter"),
        ("?to=2026-02-30", 400, "invalid-parameter"),
        ("?tool_id=socratic", 400, "invalid-parameter"),
    ] {
        let response = app
            .request(Method::GET, &format!("/groups/{group}/usage{query}"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), status, "{query}");
        assert_eq!(
            response.headers()["content-type"],
            "application/problem+json",
            "{query}"
        );
        let problem: Value = response.json().await.unwrap();
        assert_eq!(
            problem["type"],
            format!("https://raptscallions.app/problems/{kind}"),
            "{query}: {problem}"
        );
    }
    let report = usage(&app, &admin, &group, "").await;
    let today = chrono::Utc::now().date_naive();
    assert_eq!(report["to"], today.to_string());
    assert_eq!(report["from"], (today - chrono::Days::new(29)).to_string());
    // The document says both forms and the 422.
    let document: Value = app.get("/openapi.json").await.json().await.unwrap();
    let operation = &document["paths"]["/groups/{id}/usage"]["get"];
    let content = operation["responses"]["200"]["content"]
        .as_object()
        .unwrap();
    assert!(
        content.contains_key("application/json; charset=utf-8"),
        "{operation}"
    );
    assert_eq!(operation["parameters"][1]["schema"]["format"], "date");
    assert!(
        content.contains_key("text/csv; charset=utf-8"),
        "{operation}"
    );
    for status in ["400", "401", "403", "404", "422"] {
        assert!(
            operation["responses"][status].is_object(),
            "{status}: {operation}"
        );
    }
    // A group that does not exist.
    let missing = Uuid::now_v7();
    assert_eq!(
        app.status_as(
            &admin,
            Method::GET,
            &format!("/groups/{missing}/usage"),
            None
        )
        .await,
        404
    );
}
