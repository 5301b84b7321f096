//! Live updates: what each audience topic is told on core NATS, stitched to the REST reads by
//! position (no gap, no double), caught up over REST in the same order, authorized like the
//! REST reads, and neither lost while NATS is down nor published again by a rebuild.

use std::time::Duration;

use reqwest::Method;
use serde_json::{json, Value};
use tests::{
    assert_statuses, detect, eventually, nats_url, send, spawn_app, spawn_app_with,
    wait_for_checkpoints, NatsServer, Received, SchoolFixture, TestApp, TestOptions, TopicWatcher,
};

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
        "indicators": ["repeated errors"],
        "duration_seconds": 300
    })
}

async fn get(app: &TestApp, token: &str, path: &str) -> Value {
    let (status, body) = send(app, token, Method::GET, path, None).await;
    assert_eq!(status, 200, "GET {path}: {body}");
    body
}

/// Every stored update of `topic` above `after`, through the catch-up endpoint, two at a
/// time.
async fn catch_up(app: &TestApp, token: &str, topic: &str, mut after: i64) -> Vec<Value> {
    let mut items = Vec::new();
    loop {
        let page = get(
            app,
            token,
            &format!("/realtime/updates?topic={topic}&after={after}&limit=2"),
        )
        .await;
        assert_eq!(page["topic"], topic);
        let batch = page["items"].as_array().unwrap();
        assert!(batch.len() <= 2);
        if let Some(last) = batch.last() {
            assert_eq!(page["next_after"], last["position"]);
        } else {
            assert_eq!(page["next_after"], after);
        }
        items.extend(batch.iter().cloned());
        after = page["next_after"].as_i64().unwrap();
        if page["more"] == false {
            return items;
        }
        assert_eq!(batch.len(), 2, "a page with more after it is full");
    }
}

/// The next update above `after` (earlier ones are what the snapshot already holds).
async fn next_above(watcher: &mut TopicWatcher, after: i64) -> Received {
    loop {
        let update = watcher.next().await;
        if update.position > after {
            return update;
        }
    }
}

const COUNTERS: [&str; 6] = [
    "active_sessions",
    "misbehavior",
    "struggling_students",
    "open_safety_concerns",
    "assessments_awaiting_review",
    "submissions_awaiting_grade",
];

#[tokio::test]
async fn a_detection_reaches_the_class_dashboard_after_the_rest_snapshot() {
    let app = spawn_app().await;
    let f = SchoolFixture::build(&app).await;
    let teacher = &f.teachers[0].token;
    let path = format!("/classes/{}/dashboard", f.class);
    let mut watcher = app
        .watch(&nats_url(), &format!("class.{}.dashboard", f.class))
        .await;
    app.wait_for_subscribers().await;
    let before = get(&app, teacher, &path).await;
    let snapshot = before["position"].as_i64().unwrap();
    assert!(
        snapshot > 0,
        "the session's start is in the snapshot: {before}"
    );
    assert_eq!(before["active_sessions"], 1);

    detect(&app, &f.service, &f.session, misbehavior("high")).await;
    let update = next_above(&mut watcher, snapshot).await;
    let body = &update.body;
    assert_eq!(body["class_id"], f.class.as_str());
    assert_eq!(
        body["dashboard"]["misbehavior"]["total"]["high"],
        before["misbehavior"]["total"]["high"].as_i64().unwrap() + 1,
        "{body}"
    );
    let added = body["events"].as_array().unwrap();
    let newest = added.last().unwrap();
    assert_eq!(newest["position"], update.position);
    assert_eq!(newest["learning_session_id"], f.session.as_str());

    // A REST read after it has the same counters, and the update's event on top.
    let after = get(&app, teacher, &path).await;
    assert!(after["position"].as_i64().unwrap() >= update.position);
    for key in COUNTERS {
        assert_eq!(after[key], body["dashboard"][key], "{key}");
    }
    assert_eq!(&after["recent_events"][0], newest);
    assert!(watcher
        .next_within(Duration::from_millis(300))
        .await
        .is_none_or(|u| u.position > update.position));
}

#[tokio::test]
async fn notifications_created_and_read_reach_their_recipient_with_the_unread_count() {
    let app = spawn_app().await;
    let f = SchoolFixture::build(&app).await;
    let teacher = &f.teachers[0];
    let mut watcher = app
        .watch(&nats_url(), &format!("user.{}.notifications", teacher.id))
        .await;
    app.wait_for_subscribers().await;
    let page = get(&app, &teacher.token, "/notifications").await;
    assert_eq!(page["items"], json!([]));
    let snapshot = page["position"].as_i64().unwrap();

    detect(&app, &f.service, &f.session, misbehavior("high")).await;
    let created = next_above(&mut watcher, snapshot).await;
    assert_eq!(created.body["change"], "created", "{}", created.body);
    assert_eq!(created.body["unread_count"], 1);
    let notification = &created.body["notification"];
    assert_eq!(notification["kind"], "misbehavior");
    assert!(notification["read_at"].is_null());
    let page = eventually(
        "the notification over REST",
        Duration::from_secs(10),
        || {
            let app = &app;
            async move {
                let page = get(app, &teacher.token, "/notifications").await;
                (!page["items"].as_array().unwrap().is_empty()).then_some(page)
            }
        },
    )
    .await;
    assert!(page["position"].as_i64().unwrap() >= created.position);
    assert_eq!(
        &page["items"][0], notification,
        "the same item as the list's"
    );

    let id = notification["id"].as_str().unwrap();
    let (status, body) = send(
        &app,
        &teacher.token,
        Method::POST,
        &format!("/notifications/{id}/read"),
        None,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let read = next_above(&mut watcher, created.position).await;
    assert_eq!(read.body["change"], "read");
    assert_eq!(read.body["unread_count"], 0);
    assert_eq!(read.body["notification"], body, "as POST …/read answered");
    let page = get(&app, &teacher.token, "/notifications").await;
    assert_eq!(page["items"][0], read.body["notification"]);

    // The other teacher was told on their own topic, not this one.
    let other = &f.teachers[1];
    let theirs = catch_up(
        &app,
        &other.token,
        &format!("user.{}.notifications", other.id),
        snapshot,
    )
    .await;
    assert_eq!(theirs.len(), 1);
    assert_eq!(theirs[0]["change"], "created");
    assert_ne!(theirs[0]["notification"]["id"], id);
}

#[tokio::test]
async fn catch_up_returns_exactly_the_published_sequence_in_order() {
    let app = spawn_app().await;
    let f = SchoolFixture::build(&app).await;
    let teacher = &f.teachers[0].token;
    let topic = format!("class.{}.dashboard", f.class);
    let mut watcher = app.watch(&nats_url(), &topic).await;
    app.wait_for_subscribers().await;
    let snapshot = get(&app, teacher, &format!("/classes/{}/dashboard", f.class)).await;
    let snapshot = snapshot["position"].as_i64().unwrap();

    let second = f.add_student(&app, "sue.second", "Sue Second").await;
    let second_session = f.start_session(&app, &second).await;
    for (session, detection) in [
        (&f.session, misbehavior("low")),
        (&second_session, struggle("fractions")),
        (&f.session, misbehavior("medium")),
        (&second_session, misbehavior("critical")),
        (&f.session, struggle("decimals")),
    ] {
        detect(&app, &f.service, session, detection).await;
    }
    app.wait_for_subscribers().await;
    app.wait_for_realtime().await;

    let stored = catch_up(&app, teacher, &topic, snapshot).await;
    let positions: Vec<i64> = stored
        .iter()
        .map(|u| u["position"].as_i64().unwrap())
        .collect();
    assert!(
        positions.windows(2).all(|w| w[0] < w[1]),
        "in log order, no doubles: {positions:?}"
    );
    // The second session's start and five detections, each once, in order, whether they came
    // one per update or several in one (a batch of the projection); each update is at its
    // last event.
    let events: Vec<i64> = stored
        .iter()
        .flat_map(|u| u["events"].as_array().unwrap().iter())
        .map(|e| e["position"].as_i64().unwrap())
        .collect();
    assert_eq!(events.len(), 6, "{stored:#?}");
    assert!(events.windows(2).all(|w| w[0] < w[1]), "{events:?}");
    for update in &stored {
        assert_eq!(
            update["events"].as_array().unwrap().last().unwrap()["position"],
            update["position"]
        );
    }
    let received = watcher.until(*positions.last().unwrap(), snapshot).await;
    let received: Vec<&Value> = received.iter().map(|r| &r.body).collect();
    let stored: Vec<&Value> = stored.iter().collect();
    assert_eq!(received, stored, "NATS and the catch-up tell the same");
    // The last one holds the dashboard as a REST read has it.
    let now = get(&app, teacher, &format!("/classes/{}/dashboard", f.class)).await;
    for key in COUNTERS {
        assert_eq!(now[key], stored.last().unwrap()["dashboard"][key], "{key}");
    }
    assert_eq!(now["struggling_students"].as_array().unwrap().len(), 2);
    // Nothing after the last.
    let last = *positions.last().unwrap();
    assert_eq!(
        catch_up(&app, teacher, &topic, last).await,
        Vec::<Value>::new()
    );
    // Part of the way: the rest.
    assert_eq!(
        catch_up(&app, teacher, &topic, positions[0]).await.len(),
        positions.len() - 1
    );
}

#[tokio::test]
async fn events_applied_in_one_batch_reach_the_class_in_one_update() {
    let app = spawn_app().await;
    let f = SchoolFixture::build(&app).await;
    let teacher = &f.teachers[0].token;
    let topic = format!("class.{}.dashboard", f.class);
    app.wait_for_subscribers().await;
    let before = get(&app, teacher, &format!("/classes/{}/dashboard", f.class)).await;
    let snapshot = before["position"].as_i64().unwrap();

    // The projection is held while three detections are recorded: its next batch has them all.
    let hold = app.hold_projection("dashboards").await;
    for severity in ["low", "high", "high"] {
        detect(&app, &f.service, &f.session, misbehavior(severity)).await;
    }
    hold.commit().await.unwrap();
    app.wait_for_subscribers().await;
    app.wait_for_realtime().await;

    let updates = catch_up(&app, teacher, &topic, snapshot).await;
    assert_eq!(updates.len(), 1, "one update for the batch: {updates:#?}");
    let update = &updates[0];
    let events = update["events"].as_array().unwrap();
    assert_eq!(events.len(), 3, "{update}");
    assert!(events
        .iter()
        .all(|e| e["type"] == "behavior.misbehavior_detected"));
    assert_eq!(events[2]["position"], update["position"]);
    // The counters after the last of them, as a REST read has them.
    let after = get(&app, teacher, &format!("/classes/{}/dashboard", f.class)).await;
    for key in COUNTERS {
        assert_eq!(after[key], update["dashboard"][key], "{key}");
    }
    assert_eq!(
        after["misbehavior"]["total"]["high"],
        before["misbehavior"]["total"]["high"].as_i64().unwrap() + 2
    );
}

#[tokio::test]
async fn catch_up_is_authorized_like_the_rest_reads() {
    let app = spawn_app().await;
    let f = SchoolFixture::build(&app).await;
    let (class, other_class) = (&f.class, &f.other_class);
    let updates = |topic: String| format!("/realtime/updates?topic={topic}&after=0");
    let [teacher, _] = [&f.teachers[0].token, &f.teachers[1].token];
    let (student, other_teacher) = (&f.student.token, &f.other_teacher.token);
    let (counselor, admin, member) = (&f.counselor.token, &f.school_admin.token, &f.member.token);
    let sibling = &f.sibling_admin.token;
    let system = &app.token;
    let expect = |statuses: [u16; 8]| {
        [
            ("teacher", teacher, statuses[0]),
            ("student", student, statuses[1]),
            ("teacher of another class", other_teacher, statuses[2]),
            ("district counselor", counselor, statuses[3]),
            ("school admin", admin, statuses[4]),
            ("school member", member, statuses[5]),
            ("sibling admin", sibling, statuses[6]),
            ("system admin", system, statuses[7]),
        ]
    };
    for (topic, statuses) in [
        (
            format!("class.{class}.dashboard"),
            [200, 403, 404, 200, 200, 404, 404, 200],
        ),
        (
            format!("class.{class}.interventions"),
            [200, 403, 404, 200, 200, 404, 404, 200],
        ),
        (
            format!("class.{class}.safety_concerns"),
            [403, 403, 404, 200, 200, 404, 404, 200],
        ),
        // The teacher of class A may not watch class B; its own teacher may.
        (
            format!("class.{other_class}.dashboard"),
            [404, 404, 200, 200, 200, 404, 404, 200],
        ),
        // Only the user watches their notifications: not another student, not an admin.
        (
            format!("user.{}.notifications", f.student.id),
            [403, 200, 403, 403, 403, 403, 403, 403],
        ),
    ] {
        let rows = expect(statuses);
        let rows: Vec<(&str, &String, u16)> =
            rows.iter().map(|(who, t, s)| (*who, *t, *s)).collect();
        assert_statuses(&app, Method::GET, &updates(topic), None, &rows).await;
    }
    let anonymous = app
        .http
        .get(app.url(&updates(format!("class.{class}.dashboard"))))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), 401);

    // Malformed requests: 400 invalid-parameter, before anything is read.
    for query in [
        format!("topic=class.{class}.grades&after=0"),
        format!("topic=class.{}.dashboard&after=0", class.to_uppercase()),
        format!("topic=rapt.class.{class}.dashboard&after=0"),
        format!("topic=class.{class}.dashboard&after=-1"),
        format!("topic=class.{class}.dashboard&after=0&limit=0"),
        format!("topic=class.{class}.dashboard&after=0&limit=501"),
        format!("topic=class.{class}.dashboard"),
        "after=0".to_owned(),
    ] {
        let (status, body) = send(
            &app,
            teacher,
            Method::GET,
            &format!("/realtime/updates?{query}"),
            None,
        )
        .await;
        assert_eq!(status, 400, "{query}: {body}");
        assert_eq!(
            body["type"],
            "https://raptscallions.app/problems/invalid-parameter"
        );
    }
}

#[tokio::test]
async fn workflow_changes_reach_the_class_s_interventions_and_safety_concerns() {
    let app = spawn_app().await;
    let f = SchoolFixture::build(&app).await;
    let (teacher, counselor) = (&f.teachers[0].token, &f.counselor.token);
    let mut interventions = app
        .watch(&nats_url(), &format!("class.{}.interventions", f.class))
        .await;
    let mut concerns = app
        .watch(&nats_url(), &format!("class.{}.safety_concerns", f.class))
        .await;
    app.wait_for_subscribers().await;
    let list = get(
        &app,
        teacher,
        &format!("/classes/{}/interventions", f.class),
    )
    .await;
    let snapshot = list["position"].as_i64().unwrap();
    let concern_list = get(&app, counselor, "/safety-concerns").await;
    let concern_snapshot = concern_list["position"].as_i64().unwrap();

    detect(&app, &f.service, &f.session, struggle("fractions")).await;
    let started = next_above(&mut interventions, snapshot).await;
    assert_eq!(started.body["class_id"], f.class.as_str());
    assert_eq!(started.body["intervention"]["topic"], "fractions");
    assert_eq!(
        started.body["intervention"]["learning_session_id"],
        f.session.as_str()
    );
    // It moves on (teachers told, recheck scheduled): each step is an update, in order.
    let notified = next_above(&mut interventions, started.position).await;
    assert_eq!(
        notified.body["intervention"]["id"],
        started.body["intervention"]["id"]
    );
    app.wait_for_subscribers().await;
    app.wait_for_realtime().await;
    let stored = catch_up(
        &app,
        teacher,
        &format!("class.{}.interventions", f.class),
        snapshot,
    )
    .await;
    let last = stored.last().unwrap();
    let list = get(
        &app,
        teacher,
        &format!("/classes/{}/interventions", f.class),
    )
    .await;
    assert!(list["position"].as_i64().unwrap() >= last["position"].as_i64().unwrap());
    assert_eq!(list["items"][0], last["intervention"], "the list's item");

    detect(
        &app,
        &f.service,
        &f.session,
        json!({"type": "safety_concern", "concern_type": "distress", "urgency": "monitor"}),
    )
    .await;
    let opened = next_above(&mut concerns, concern_snapshot).await;
    assert_eq!(opened.body["concern"]["status"], "open");
    let id = opened.body["concern"]["id"].as_str().unwrap().to_owned();
    let (status, body) = send(
        &app,
        counselor,
        Method::POST,
        &format!("/safety-concerns/{id}/acknowledge"),
        None,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    // Each change of the concern is an update; the acknowledgement comes within a few.
    let mut acknowledged = next_above(&mut concerns, opened.position).await;
    while acknowledged.body["concern"]["status"] != "acknowledged" {
        acknowledged = next_above(&mut concerns, acknowledged.position).await;
    }
    assert_eq!(
        acknowledged.body["concern"]["acknowledged_by"],
        f.counselor.id.as_str()
    );
    let list = get(
        &app,
        counselor,
        &format!("/safety-concerns?class_id={}", f.class),
    )
    .await;
    assert!(list["position"].as_i64().unwrap() >= acknowledged.position);
    assert_eq!(list["items"][0], acknowledged.body["concern"]);
}

#[tokio::test]
async fn nothing_is_lost_while_nats_is_down() {
    let mut nats = NatsServer::start().await;
    let app = spawn_app_with(TestOptions {
        nats_url: Some(nats.url()),
        ..TestOptions::default()
    })
    .await;
    let f = SchoolFixture::build(&app).await;
    let teacher = &f.teachers[0].token;
    let topic = format!("class.{}.dashboard", f.class);
    let mut watcher = app.watch(&nats.url(), &topic).await;
    app.wait_for_subscribers().await;
    let snapshot = get(&app, teacher, &format!("/classes/{}/dashboard", f.class)).await;
    let snapshot = snapshot["position"].as_i64().unwrap();
    detect(&app, &f.service, &f.session, misbehavior("low")).await;
    let first = next_above(&mut watcher, snapshot).await;
    app.wait_for_realtime().await;

    nats.stop().await;
    // REST and the log go on; the updates wait in the outbox.
    for severity in ["low", "medium", "high", "critical", "low"] {
        detect(&app, &f.service, &f.session, misbehavior(severity)).await;
    }
    let head = app.log_head().await;
    wait_for_checkpoints(&app.pool, head, &["dashboards"]).await;
    let stored = catch_up(&app, teacher, &topic, first.position).await;
    let told: usize = stored
        .iter()
        .map(|u| u["events"].as_array().unwrap().len())
        .sum();
    assert_eq!(told, 5, "{stored:#?}");
    // Given a poll's time, the publisher still has not moved past them.
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let cursor: i64 =
        sqlx::query_scalar("SELECT position FROM realtime_cursors WHERE source = 'dashboards'")
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert!(
        cursor < stored[0]["position"].as_i64().unwrap(),
        "nothing was sent into the outage"
    );

    // Hold the publisher back until a dashboard is subscribed to the restarted server.
    let mut hold = app.pool.begin().await.unwrap();
    sqlx::query("LOCK TABLE realtime_updates IN ACCESS EXCLUSIVE MODE")
        .execute(&mut *hold)
        .await
        .unwrap();
    nats.restart().await;
    let mut watcher = app.watch(&nats.url(), &topic).await;
    hold.commit().await.unwrap();

    let last = stored.last().unwrap()["position"].as_i64().unwrap();
    let received = watcher.until(last, first.position).await;
    let received: Vec<&Value> = received.iter().map(|r| &r.body).collect();
    let stored: Vec<&Value> = stored.iter().collect();
    assert_eq!(received, stored, "every update arrives, in order");
}

#[tokio::test]
async fn a_rebuild_publishes_nothing_again() {
    let app = spawn_app().await;
    let f = SchoolFixture::build(&app).await;
    let teacher = &f.teachers[0];
    let mut dashboard = app
        .watch(&nats_url(), &format!("class.{}.dashboard", f.class))
        .await;
    let mut inbox = app
        .watch(&nats_url(), &format!("user.{}.notifications", teacher.id))
        .await;
    detect(&app, &f.service, &f.session, misbehavior("high")).await;
    detect(&app, &f.service, &f.session, struggle("fractions")).await;
    app.wait_for_all_subscribers().await;
    app.wait_for_realtime().await;
    let stored: i64 = sqlx::query_scalar("SELECT count(*) FROM realtime_updates")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    let last = |topic: String| {
        let pool = app.pool.clone();
        async move {
            sqlx::query_scalar::<_, i64>(
                "SELECT max(position) FROM realtime_updates WHERE topic = $1",
            )
            .bind(topic)
            .fetch_one(&pool)
            .await
            .unwrap()
        }
    };
    let last_dashboard = last(format!("class.{}.dashboard", f.class)).await;
    let last_notification = last(format!("user.{}.notifications", teacher.id)).await;
    // Everything so far has arrived.
    dashboard.until(last_dashboard, 0).await;
    inbox.until(last_notification, 0).await;

    for projection in projections::all_projections() {
        projections::replay::rebuild(
            &app.pool,
            &app.config.database,
            projection.as_ref(),
            500,
            &|_| {},
        )
        .await
        .unwrap_or_else(|e| panic!("a rebuild: {e:#}"));
    }
    app.wait_for_realtime().await;
    let after: i64 = sqlx::query_scalar("SELECT count(*) FROM realtime_updates")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(
        after, stored,
        "the rebuilt read models wrote no update again"
    );

    // The next update on each topic is the new one: nothing old was published in between.
    detect(&app, &f.service, &f.session, misbehavior("critical")).await;
    let next = dashboard.next().await;
    assert!(next.position > last_dashboard, "{next:?}");
    assert_eq!(
        next.body["events"].as_array().unwrap().last().unwrap()["position"],
        next.position
    );
    let next = inbox.next().await;
    assert!(next.position > last_notification, "{next:?}");
    assert_eq!(next.body["change"], "created");
}

#[tokio::test]
async fn updates_older_than_the_retention_are_gone() {
    let app = spawn_app_with(TestOptions {
        env: vec![("REALTIME_RETENTION_MS".into(), "1".into())],
        ..TestOptions::default()
    })
    .await;
    let f = SchoolFixture::build(&app).await;
    let teacher = &f.teachers[0].token;
    let topic = format!("class.{}.dashboard", f.class);
    detect(&app, &f.service, &f.session, misbehavior("low")).await;
    app.wait_for_subscribers().await;
    app.wait_for_realtime().await;
    let last: i64 =
        sqlx::query_scalar("SELECT position FROM realtime_cursors WHERE source = 'dashboards'")
            .fetch_one(&app.pool)
            .await
            .unwrap();
    // Published and older than a millisecond: pruned at the publisher's next round.
    let pruned = eventually("the pruning", Duration::from_secs(10), || async {
        let pruned: i64 = sqlx::query_scalar(
            "SELECT pruned_below FROM realtime_cursors WHERE source = 'dashboards'",
        )
        .fetch_one(&app.pool)
        .await
        .unwrap();
        (pruned == last).then_some(pruned)
    })
    .await;
    let (status, body) = send(
        &app,
        teacher,
        Method::GET,
        &format!("/realtime/updates?topic={topic}&after={}", pruned - 1),
        None,
    )
    .await;
    assert_eq!(status, 410, "{body}");
    assert_eq!(
        body["type"],
        "https://raptscallions.app/problems/realtime-history-gone"
    );
    // A fresh snapshot is never below what was pruned: its catch-up works.
    let snapshot = get(&app, teacher, &format!("/classes/{}/dashboard", f.class)).await;
    let position = snapshot["position"].as_i64().unwrap();
    assert!(position >= pruned);
    assert_eq!(
        catch_up(&app, teacher, &topic, position).await,
        Vec::<Value>::new()
    );

    // A rebuild does not bring the pruned updates back.
    let dashboards = projections::dashboards::DashboardsProjection;
    projections::replay::rebuild(&app.pool, &app.config.database, &dashboards, 500, &|_| {})
        .await
        .unwrap();
    let kept: i64 =
        sqlx::query_scalar("SELECT count(*) FROM realtime_updates WHERE source = 'dashboards'")
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert_eq!(kept, 0);
}
