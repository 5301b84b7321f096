//! The event history API.

use std::collections::HashSet;
use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use projections::log::{read_after, walk_length, LogFilter, LoggedEvent, Scope};
use serde_json::{json, Value};
use sqlx::PgPool;
use tests::{json_id, spawn_app, SchoolFixture, TestApp, TestDb};
use uuid::Uuid;

#[tokio::test]
async fn the_log_pages_by_position_and_filters() {
    let app = spawn_app().await;
    let response = app
        .request(reqwest::Method::POST, "/groups")
        .header("x-request-id", "audit-trail-1")
        .json(&json!({"name": "Traced"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["x-request-id"], "audit-trail-1");
    let traced: Value = response.json().await.unwrap();
    let traced_id = traced["id"].as_str().unwrap();
    let mut others = Vec::new();
    for i in 0..4 {
        let g = app.create_group(&format!("Other {i}"), None).await;
        others.push(g["id"].as_str().unwrap().to_owned());
    }
    app.patch_json(
        &format!("/groups/{traced_id}"),
        &json!({"name": "Traced 2"}),
    )
    .await;

    // Page through the whole log two at a time.
    let mut after = 0;
    let mut items = Vec::new();
    loop {
        let page: Value = app
            .get(&format!(
                "/events?after={after}&limit=2&aggregate_type=group"
            ))
            .await
            .json()
            .await
            .unwrap();
        let batch = page["items"].as_array().unwrap().clone();
        if batch.is_empty() {
            assert_eq!(page["next_after"], after);
            break;
        }
        after = page["next_after"].as_i64().unwrap();
        items.extend(batch);
    }
    assert_eq!(items.len(), 6);
    let positions: Vec<i64> = items
        .iter()
        .map(|e| e["position"].as_i64().unwrap())
        .collect();
    assert!(positions.windows(2).all(|w| w[0] < w[1]));
    let first = &items[0];
    assert_eq!(first["type"], "group.created");
    assert_eq!(first["version"], "1");
    assert_eq!(first["sequence"], 1);
    assert_eq!(
        first["stream"],
        json!({"aggregate_type": "group", "aggregate_id": traced_id})
    );
    assert_eq!(
        first["payload"],
        json!({"type": "group.created", "name": "Traced", "parent_id": null})
    );
    assert!(first["metadata"]["actor"]
        .as_str()
        .unwrap()
        .starts_with("user:"));
    assert_eq!(first["metadata"]["correlation_id"], "audit-trail-1");
    assert!(first["metadata"]["event_id"].is_string());
    assert!(first["metadata"]["recorded_at"].is_string());

    let by_correlation: Value = app
        .get("/events?correlation_id=audit-trail-1")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(by_correlation["items"].as_array().unwrap().len(), 1);

    let renames: Value = app
        .get("/events?event_type=group.renamed")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(renames["items"].as_array().unwrap().len(), 1);
    assert_eq!(renames["items"][0]["payload"]["name"], "Traced 2");

    let one_stream: Value = app
        .get(&format!(
            "/events?aggregate_type=group&aggregate_id={}",
            others[2]
        ))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(one_stream["items"].as_array().unwrap().len(), 1);

    let stream: Value = app
        .get(&format!("/streams/group/{traced_id}"))
        .await
        .json()
        .await
        .unwrap();
    let stream = stream["items"].as_array().unwrap();
    assert_eq!(stream.len(), 2);
    assert_eq!(stream[0]["sequence"], 1);
    assert_eq!(stream[1]["sequence"], 2);
    assert_eq!(stream[1]["type"], "group.renamed");
}

/// An auditor sees the write it just made, even while a transaction elsewhere in the cluster
/// holds back what is final: `GET /events` waits for it rather than answering without.
#[tokio::test]
async fn the_log_shows_what_was_committed_before_the_request() {
    let app = spawn_app().await;
    tests::register(&app, "auditor-view@example.org", "long enough").await;
    app.wait_for_subscribers().await;
    // A transaction with an id older than the next event: the log's safe bound stays below it.
    let hold = app.hold_projection("groups").await;
    let login = app
        .http
        .post(app.url("/auth/login"))
        .json(&json!({"email": "auditor-view@example.org", "password": "long enough"}))
        .send()
        .await
        .unwrap();
    assert_eq!(login.status(), 200, "a login answers after its append");
    let read = app.request(
        reqwest::Method::GET,
        "/events?event_type=auth.session_started&limit=1000",
    );
    let answer = tokio::spawn(async move { read.send().await.unwrap().json::<Value>().await });
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    hold.commit().await.unwrap();
    let page = answer.await.unwrap().unwrap();
    // The harness admin's session, the registration's and the login's.
    assert_eq!(page["items"].as_array().unwrap().len(), 3, "{page}");
}

/// One event as the filters see it, from the API's JSON or from the log itself.
#[derive(Debug, Clone)]
struct Seen {
    position: i64,
    stream: (String, String),
    event_type: String,
    payload: Value,
    actor: Option<String>,
    recorded_at: DateTime<Utc>,
}

impl Seen {
    fn from_json(event: &Value) -> Self {
        Self {
            position: event["position"].as_i64().expect("position"),
            stream: (
                event["stream"]["aggregate_type"]
                    .as_str()
                    .unwrap()
                    .to_owned(),
                event["stream"]["aggregate_id"].as_str().unwrap().to_owned(),
            ),
            event_type: event["type"].as_str().unwrap().to_owned(),
            payload: event["payload"].clone(),
            actor: event["metadata"]["actor"].as_str().map(str::to_owned),
            recorded_at: event["metadata"]["recorded_at"]
                .as_str()
                .unwrap()
                .parse()
                .expect("recorded_at"),
        }
    }

    fn from_log(event: &LoggedEvent) -> Self {
        Self {
            position: event.position,
            stream: (event.aggregate_type.clone(), event.aggregate_id.clone()),
            event_type: event.event_type.clone(),
            payload: event.payload.clone(),
            actor: event.meta("actor").map(str::to_owned),
            recorded_at: event.recorded_at,
        }
    }
}

/// What an event's payload names, as `class:<id>` and `group:<id>`: the documented rule,
/// written again here to check the server against.
fn named(payload: &Value) -> Vec<String> {
    let mut names = Vec::new();
    for (pointer, kind) in [
        ("/class_id", "class"),
        ("/subject/class_id", "class"),
        ("/group_id", "group"),
        ("/parent_id", "group"),
    ] {
        if let Some(id) = payload.pointer(pointer).and_then(Value::as_str) {
            names.push(format!("{kind}:{id}"));
        }
    }
    for id in payload["group_ids"].as_array().into_iter().flatten() {
        names.push(format!("group:{}", id.as_str().unwrap()));
    }
    names
}

/// The positions of the events of `log` that touch one of `classes` or `groups`: those of
/// their own streams, and of every stream one of whose events names one of them.
fn touching(log: &[Seen], classes: &[&str], groups: &[&str]) -> Vec<i64> {
    let wanted: HashSet<String> = classes
        .iter()
        .map(|id| format!("class:{id}"))
        .chain(groups.iter().map(|id| format!("group:{id}")))
        .collect();
    let mut streams: HashSet<(String, String)> = classes
        .iter()
        .map(|id| ("class".to_owned(), (*id).to_owned()))
        .chain(
            groups
                .iter()
                .map(|id| ("group".to_owned(), (*id).to_owned())),
        )
        .collect();
    for event in log {
        if named(&event.payload).iter().any(|n| wanted.contains(n)) {
            streams.insert(event.stream.clone());
        }
    }
    log.iter()
        .filter(|e| streams.contains(&e.stream))
        .map(|e| e.position)
        .collect()
}

fn positions(events: &[Seen]) -> Vec<i64> {
    events.iter().map(|e| e.position).collect()
}

/// Every event `GET /events?<query>` gives, paged `limit` at a time, up to position `head`.
async fn page_all(app: &TestApp, query: &str, limit: i64, head: i64) -> Vec<Seen> {
    let mut after = 0;
    let mut seen = Vec::new();
    loop {
        let response = app
            .get(&format!("/events?{query}&after={after}&limit={limit}"))
            .await;
        assert_eq!(response.status(), 200, "GET /events?{query}");
        let page: Value = response.json().await.unwrap();
        let items = page["items"].as_array().unwrap();
        assert!(items.len() as i64 <= limit);
        if items.is_empty() {
            assert_eq!(
                page["next_after"], after,
                "{query}: an empty page stays put"
            );
            break;
        }
        let batch: Vec<Seen> = items.iter().map(Seen::from_json).collect();
        assert_eq!(page["next_after"], batch.last().unwrap().position);
        after = batch.last().unwrap().position;
        seen.extend(batch);
    }
    let found = positions(&seen);
    assert!(
        found.windows(2).all(|w| w[0] < w[1]),
        "{query}: in log order, each once"
    );
    seen.retain(|e| e.position <= head);
    seen
}

/// The database's clock now, as RFC 3339 for a query string, and as a time.
async fn database_now(app: &TestApp) -> (String, DateTime<Utc>) {
    let now: DateTime<Utc> = sqlx::query_scalar("SELECT clock_timestamp()")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    (now.to_rfc3339_opts(SecondsFormat::Micros, true), now)
}

/// "What did this person do last week in this school": the actor, time, class and group
/// filters, alone and together, each paged a few events at a time, give exactly the events
/// of the whole log that pass them (worked out here from the documented rules).
#[tokio::test]
async fn the_log_filters_by_actor_time_class_and_group() {
    let app = spawn_app().await;
    let f = SchoolFixture::build(&app).await;
    let department = json_id(&app.create_group("Math Department", Some(&f.school)).await);
    let geometry = json_id(&app.create_class(&department, "Geometry").await);
    let vale_class = json_id(&app.create_class(&f.sibling, "Vale Algebra").await);
    app.put_role(
        &format!("/classes/{vale_class}/members/{}", f.student.id),
        "student",
    )
    .await;
    app.wait_for_all_subscribers().await;

    // The week asked about: the school admin renames a class and adds a student to the
    // department's class; the student writes in their session; the tutoring service sees a
    // struggle (the intervention names only the class, the notifications name it in their
    // subject).
    let (from, from_time) = database_now(&app).await;
    let admin = &f.school_admin;
    let renamed = app
        .call_as(
            &admin.token,
            reqwest::Method::PATCH,
            &format!("/classes/{}", f.class),
            Some(json!({"name": "Algebra 1A"})),
        )
        .await;
    assert_eq!(renamed.status(), 200);
    let added = app
        .call_as(
            &admin.token,
            reqwest::Method::PUT,
            &format!("/classes/{geometry}/members/{}", f.student.id),
            Some(json!({"role": "student"})),
        )
        .await;
    assert_eq!(added.status(), 200);
    let posted = app
        .call_as(
            &f.student.token,
            reqwest::Method::POST,
            &format!("/learning-sessions/{}/messages", f.session),
            Some(json!({"role": "student", "content": "I don't get fractions"})),
        )
        .await;
    assert_eq!(posted.status(), 200);
    tests::detect(
        &app,
        &f.service,
        &f.session,
        json!({"type": "struggle", "topic": "fractions",
               "indicators": ["repeated errors"], "duration_seconds": 300}),
    )
    .await;
    app.wait_for_all_subscribers().await;
    let (to, to_time) = database_now(&app).await;
    // After the week: more by the same people.
    let later = app
        .call_as(
            &admin.token,
            reqwest::Method::PATCH,
            &format!("/classes/{}", f.other_class),
            Some(json!({"name": "Biology 2"})),
        )
        .await;
    assert_eq!(later.status(), 200);
    app.wait_for_all_subscribers().await;

    let log = page_all(&app, "limit=1000", 1000, i64::MAX).await;
    let head = log.last().unwrap().position;
    let expect = |keep: &dyn Fn(&Seen) -> bool| -> Vec<i64> {
        log.iter().filter(|e| keep(e)).map(|e| e.position).collect()
    };
    let types = |events: &[Seen]| -> HashSet<String> {
        events.iter().map(|e| e.event_type.clone()).collect()
    };

    // By actor: a user id, or the actor as recorded.
    let admin_actor = format!("user:{}", admin.id);
    let by_admin = page_all(&app, &format!("actor={}", admin.id), 2, head).await;
    assert_eq!(
        positions(&by_admin),
        expect(&|e| e.actor.as_deref() == Some(admin_actor.as_str()))
    );
    assert_eq!(by_admin.len(), 3, "{by_admin:?}");
    let recorded_form = page_all(&app, &format!("actor={admin_actor}"), 1, head).await;
    assert_eq!(positions(&recorded_form), positions(&by_admin));

    // By time: `from` inclusive, `to` exclusive.
    let in_week = |e: &Seen| e.recorded_at >= from_time && e.recorded_at < to_time;
    let week = page_all(&app, &format!("from={from}&to={to}"), 2, head).await;
    assert_eq!(positions(&week), expect(&|e| in_week(e)));
    assert!(types(&week).contains("class.renamed"));
    assert!(types(&week).contains("intervention.started"));
    assert!(
        !week.iter().any(|e| e.payload["name"] == "Biology 2"),
        "the later rename is after `to`"
    );
    let since = page_all(&app, &format!("from={to}"), 2, head).await;
    assert_eq!(positions(&since), expect(&|e| e.recorded_at >= to_time));
    assert!(since.iter().any(|e| e.payload["name"] == "Biology 2"));

    // By class: its own stream, its sessions (every event of them, whoever caused it), the
    // intervention and the notifications about it; nothing of the other classes.
    let class_events = page_all(&app, &format!("class_id={}", f.class), 3, head).await;
    assert_eq!(positions(&class_events), touching(&log, &[&f.class], &[]));
    for expected in [
        "class.created",
        "class.member_added",
        "class.renamed",
        "session.started",
        "session.message_posted",
        "learning.struggle_detected",
        "intervention.started",
        "notification.created",
    ] {
        assert!(
            types(&class_events).contains(expected),
            "{expected} in {:?}",
            types(&class_events)
        );
    }
    assert!(class_events
        .iter()
        .all(|e| e.stream.1 != f.other_class && e.stream.1 != geometry));

    // By group: the school, the department below it and the classes of both, with all
    // that touches them; not the district above, nor the sibling school.
    let school = page_all(&app, &format!("group_id={}", f.school), 3, head).await;
    assert_eq!(
        positions(&school),
        touching(
            &log,
            &[&f.class, &f.other_class, &geometry],
            &[&f.school, &department]
        )
    );
    let streams: HashSet<(String, String)> = school.iter().map(|e| e.stream.clone()).collect();
    for (kind, id) in [
        ("group", &f.school),
        ("group", &department),
        ("class", &f.class),
        ("class", &f.other_class),
        ("class", &geometry),
        ("learning_session", &f.session),
    ] {
        assert!(
            streams.contains(&(kind.to_owned(), id.clone())),
            "{kind} {id} is in the school"
        );
    }
    assert!(
        types(&school).contains("service_account.created"),
        "the school's service account"
    );
    for (kind, id) in [
        ("group", &f.district),
        ("group", &f.sibling),
        ("class", &vale_class),
        ("tool", &f.tool),
    ] {
        assert!(
            !streams.contains(&(kind.to_owned(), id.clone())),
            "{kind} {id} is not in the school"
        );
    }
    let department_only = page_all(&app, &format!("group_id={department}"), 2, head).await;
    assert_eq!(
        positions(&department_only),
        touching(&log, &[&geometry], &[&department])
    );

    // Together: what the student did that week in the school, and what the school admin did.
    let student_actor = format!("user:{}", f.student.id);
    let student_week = page_all(
        &app,
        &format!(
            "actor={}&group_id={}&from={from}&to={to}",
            f.student.id, f.school
        ),
        1,
        head,
    )
    .await;
    let in_school: HashSet<i64> = positions(&school).into_iter().collect();
    let expected_student = expect(&|e| {
        e.actor.as_deref() == Some(student_actor.as_str())
            && in_week(e)
            && in_school.contains(&e.position)
    });
    assert_eq!(positions(&student_week), expected_student);
    assert_eq!(
        student_week
            .iter()
            .map(|e| e.event_type.as_str())
            .collect::<Vec<_>>(),
        ["session.message_posted"]
    );
    let admin_week = page_all(
        &app,
        &format!(
            "actor={}&group_id={}&from={from}&to={to}",
            admin.id, f.school
        ),
        1,
        head,
    )
    .await;
    assert_eq!(
        admin_week
            .iter()
            .map(|e| e.event_type.as_str())
            .collect::<Vec<_>>(),
        ["class.renamed", "class.member_added"]
    );
    assert!(
        page_all(
            &app,
            &format!("actor={}&class_id={vale_class}", admin.id),
            5,
            head
        )
        .await
        .is_empty(),
        "the school admin did nothing in the sibling's class"
    );
}

/// A filter that the server cannot read is a 400 `invalid-parameter` problem, and the
/// filters are for the same callers as the log itself.
#[tokio::test]
async fn bad_log_filters_are_invalid_parameters() {
    let app = spawn_app().await;
    let class = json_id(
        &app.create_class(&json_id(&app.create_group("G", None).await), "C")
            .await,
    );
    let group = json_id(&app.create_group("H", None).await);
    for query in [
        "from=last-week",
        "to=2026-13-01T00:00:00Z",
        "from=2026-12-01",
        "from=2026-12-02T00:00:00Z&to=2026-12-01T00:00:00Z",
        "actor=somebody",
        "actor=user:42",
        "actor=system:",
        &format!("class_id={class}&group_id={group}"),
        "class_id=not-a-uuid",
        "group_id=12",
    ] {
        let response = app.get(&format!("/events?{query}")).await;
        assert_eq!(response.status(), 400, "{query}");
        assert_eq!(
            response.headers()["content-type"],
            "application/problem+json",
            "{query}"
        );
        let problem: Value = response.json().await.unwrap();
        assert_eq!(
            problem["type"], "https://raptscallions.app/problems/invalid-parameter",
            "{query}: {problem}"
        );
    }
    for query in [
        "from=2026-12-01T00:00:00Z&to=2026-12-01T00:00:00Z",
        "from=2026-12-01T00:00:00%2B01:00",
        "actor=anonymous",
        "actor=system:workflows",
        &format!("actor=service:{class}"),
    ] {
        let response = app.get(&format!("/events?{query}")).await;
        assert_eq!(response.status(), 200, "{query}");
    }

    let (token, _) = tests::register(&app, "not-an-auditor@example.org", "long enough").await;
    let refused = app
        .call_as(
            &token,
            reqwest::Method::GET,
            &format!("/events?group_id={group}"),
            None,
        )
        .await;
    assert_eq!(refused.status(), 403);
}

/// Appends one event straight to the log.
async fn append(pool: &PgPool, stream: (&str, Uuid), sequence: i64, payload: Value, actor: &str) {
    sqlx::query(
        "INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type, \
         event_version, payload, metadata) VALUES ($1, $2, $3, $4, '1', $5, $6)",
    )
    .bind(stream.0)
    .bind(stream.1.to_string())
    .bind(sequence)
    .bind(payload["type"].as_str().unwrap())
    .bind(&payload)
    .bind(json!({"actor": actor}))
    .execute(pool)
    .await
    .unwrap();
}

/// Appends 2,500 events of streams of their own, which no filter of the test keeps, in
/// short transactions (a long one would hold back every reader of the cluster's logs).
async fn filler(pool: &PgPool, run: i64) {
    for part in 0..5 {
        sqlx::query(
            "INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type, \
             event_version, payload, metadata) \
             SELECT 'filler', $1 || '-' || i, 1, 'filler.happened', '1', \
                    '{\"type\": \"filler.happened\"}', '{\"actor\": \"system:filler\"}' \
             FROM generate_series(1, 500) AS i",
        )
        .bind(format!("{run}-{part}"))
        .execute(pool)
        .await
        .unwrap();
    }
}

/// Filtered pages are the first matches after `after` however far apart they lie: here
/// between long runs of other events (longer than a read walks in log order before it
/// gathers its matches through the indexes), read straight from the log with pages of
/// several sizes, and compared with the whole log filtered here.
#[tokio::test]
async fn filtered_pages_are_exact_across_long_runs_of_other_events() {
    let db = TestDb::create().await;
    let pool = db.pool().await;
    infrastructure::db::migrate(&pool).await.unwrap();
    let (class, other_class, group) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
    let (session, other_session) = (Uuid::now_v7(), Uuid::now_v7());
    let (person, other_person) = (
        format!("user:{}", Uuid::now_v7()),
        format!("user:{}", Uuid::now_v7()),
    );
    append(
        &pool,
        ("class", class),
        1,
        json!({"type": "class.created", "name": "A", "group_id": group}),
        &other_person,
    )
    .await;
    append(
        &pool,
        ("learning_session", session),
        1,
        json!({"type": "session.started", "class_id": class, "group_id": group}),
        &person,
    )
    .await;
    filler(&pool, 1).await;
    let middle: DateTime<Utc> = sqlx::query_scalar("SELECT clock_timestamp()")
        .fetch_one(&pool)
        .await
        .unwrap();
    append(
        &pool,
        ("learning_session", other_session),
        1,
        json!({"type": "session.started", "class_id": other_class, "group_id": Uuid::now_v7()}),
        &person,
    )
    .await;
    for sequence in 2..=4 {
        append(
            &pool,
            ("learning_session", session),
            sequence,
            json!({"type": "session.message_posted", "content": "…"}),
            if sequence == 3 {
                &other_person
            } else {
                &person
            },
        )
        .await;
        append(
            &pool,
            ("learning_session", other_session),
            sequence,
            json!({"type": "session.message_posted", "content": "…"}),
            &person,
        )
        .await;
    }
    filler(&pool, 2).await;
    append(
        &pool,
        ("tool", Uuid::now_v7()),
        1,
        json!({"type": "tool.created", "name": "T", "description": "", "group_id": group}),
        &other_person,
    )
    .await;
    append(
        &pool,
        ("learning_session", session),
        5,
        json!({"type": "session.completed", "summary": "", "topics_covered": []}),
        &person,
    )
    .await;
    let end: DateTime<Utc> = sqlx::query_scalar("SELECT clock_timestamp()")
        .fetch_one(&pool)
        .await
        .unwrap();
    filler(&pool, 3).await;

    let committed: i64 = sqlx::query_scalar("SELECT count(*) FROM events")
        .fetch_one(&pool)
        .await
        .unwrap();
    let log: Vec<Seen> = tests::eventually("the whole log", Duration::from_secs(30), || {
        let pool = pool.clone();
        async move {
            let all = read_after(&pool, 0, committed, &LogFilter::default())
                .await
                .unwrap();
            (all.len() as i64 == committed).then_some(all)
        }
    })
    .await
    .iter()
    .map(Seen::from_log)
    .collect();
    assert!(committed > 7_500);
    assert!(walk_length(1) < 2_500 && walk_length(1000) > committed);

    let in_class = touching(&log, &[&class.to_string()], &[]);
    let in_group = touching(&log, &[], &[&group.to_string()]);
    let expect = |keep: &dyn Fn(&Seen) -> bool| -> Vec<i64> {
        log.iter().filter(|e| keep(e)).map(|e| e.position).collect()
    };
    let scope = |classes: Vec<Uuid>, groups: Vec<Uuid>| Some(Scope { classes, groups });
    let cases: Vec<(&str, LogFilter, Vec<i64>)> = vec![
        (
            "class",
            LogFilter {
                scope: scope(vec![class], vec![]),
                ..LogFilter::default()
            },
            in_class.clone(),
        ),
        (
            "group",
            LogFilter {
                scope: scope(vec![], vec![group]),
                ..LogFilter::default()
            },
            in_group.clone(),
        ),
        (
            "actor",
            LogFilter {
                actor: Some(person.clone()),
                ..LogFilter::default()
            },
            expect(&|e| e.actor.as_deref() == Some(person.as_str())),
        ),
        (
            "from",
            LogFilter {
                from: Some(middle),
                event_type: Some("session.message_posted".into()),
                ..LogFilter::default()
            },
            expect(&|e| e.recorded_at >= middle && e.event_type == "session.message_posted"),
        ),
        (
            "from and to",
            LogFilter {
                from: Some(middle),
                to: Some(end),
                aggregate_type: Some("learning_session".into()),
                ..LogFilter::default()
            },
            expect(&|e| {
                e.recorded_at >= middle && e.recorded_at < end && e.stream.0 == "learning_session"
            }),
        ),
        (
            "actor, class and time",
            LogFilter {
                actor: Some(person.clone()),
                from: Some(middle),
                to: Some(end),
                scope: scope(vec![class], vec![]),
                ..LogFilter::default()
            },
            expect(&|e| {
                e.actor.as_deref() == Some(person.as_str())
                    && e.recorded_at >= middle
                    && e.recorded_at < end
                    && in_class.contains(&e.position)
            }),
        ),
    ];
    for (name, filter, expected) in cases {
        assert!(!expected.is_empty(), "{name}: something to find");
        for limit in [1, 2, 1000] {
            let mut after = 0;
            let mut found = Vec::new();
            loop {
                let page = read_after(&pool, after, limit, &filter).await.unwrap();
                assert!(page.len() as i64 <= limit);
                let Some(last) = page.last() else { break };
                after = last.position;
                found.extend(page.iter().map(|e| e.position));
            }
            assert_eq!(found, expected, "{name}, pages of {limit}");
        }
    }
    assert_eq!(
        in_class.len(),
        6,
        "the class and its session, not the other session"
    );
    assert_eq!(
        in_group.len(),
        7,
        "the class, its session and the tool, which name the group"
    );
}
