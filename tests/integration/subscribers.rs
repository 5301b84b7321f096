//! Checkpointed subscribers: crash and resume, replay.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use projections::runner::{RunnerSettings, Subscriber};
use projections::{LogSignal, LoggedEvent, Projection, Subscribers};
use sqlx::PgConnection;
use tests::{run_cli, spawn_app, test_env, wait_for_checkpoints, TestOptions};
use tokio::sync::watch;

/// Records every position it applies; the primary key turns a double apply into an error.
struct Counting;

#[async_trait]
impl Projection for Counting {
    fn name(&self) -> &'static str {
        "test-counting"
    }

    fn tables(&self) -> &'static [&'static str] {
        &["test_seen"]
    }

    async fn apply(&self, conn: &mut PgConnection, event: &LoggedEvent) -> anyhow::Result<()> {
        sqlx::query("INSERT INTO test_seen (position) VALUES ($1)")
            .bind(event.position)
            .execute(conn)
            .await?;
        // Slow enough that the test can kill it in the middle of a batch.
        tokio::time::sleep(Duration::from_millis(2)).await;
        Ok(())
    }
}

async fn checkpoint(pool: &sqlx::PgPool, name: &str) -> i64 {
    sqlx::query_scalar(
        "SELECT coalesce((SELECT position FROM subscriber_checkpoints WHERE name = $1), 0)",
    )
    .bind(name)
    .fetch_one(pool)
    .await
    .unwrap()
}

#[tokio::test]
async fn a_killed_subscriber_resumes_without_loss_or_double_apply() {
    let app = spawn_app().await;
    sqlx::query("CREATE TABLE test_seen (position bigint PRIMARY KEY)")
        .execute(&app.pool)
        .await
        .unwrap();
    let services = app.application().services().clone();
    let context = application::CommandContext {
        actor: "test".into(),
        correlation_id: "kill-test".into(),
        causation_id: None,
    };
    for i in 0..150 {
        services
            .groups
            .create(
                &context,
                domain::group::GroupName::parse(&format!("G{i}")).unwrap(),
                None,
            )
            .await
            .unwrap();
    }
    let head = app.log_head().await;

    let settings = RunnerSettings {
        batch_size: 10,
        ..RunnerSettings::default()
    };
    let start = |shutdown: watch::Receiver<bool>| {
        Subscribers::default().spawn(
            Subscriber::Projection(Arc::new(Counting)),
            app.config.database.clone(),
            LogSignal::default(),
            settings,
            shutdown,
        )
    };
    let (_stop, shutdown) = watch::channel(false);
    let first = start(shutdown.clone());
    while checkpoint(&app.pool, "test-counting").await == 0 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    tokio::time::sleep(Duration::from_millis(15)).await;
    first.abort();
    let _ = first.await;
    let at_kill = checkpoint(&app.pool, "test-counting").await;
    assert!(at_kill < head, "killed mid-stream");
    let applied: i64 = sqlx::query_scalar("SELECT count(*) FROM test_seen")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    let expected: i64 = sqlx::query_scalar("SELECT count(*) FROM events WHERE position <= $1")
        .bind(at_kill)
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(applied, expected, "rows and checkpoint moved together");

    let second = start(shutdown.clone());
    wait_for_checkpoints(&app.pool, head, &["test-counting"]).await;
    second.abort();
    let seen: Vec<i64> = sqlx::query_scalar("SELECT position FROM test_seen ORDER BY position")
        .fetch_all(&app.pool)
        .await
        .unwrap();
    let log: Vec<i64> = sqlx::query_scalar("SELECT position FROM events ORDER BY position")
        .fetch_all(&app.pool)
        .await
        .unwrap();
    assert_eq!(seen, log, "every event applied exactly once");
}

async fn groups_snapshot(pool: &sqlx::PgPool) -> Vec<String> {
    sqlx::query_scalar("SELECT row_to_json(g)::text FROM groups g ORDER BY id")
        .fetch_all(pool)
        .await
        .unwrap()
}

#[tokio::test]
async fn replay_all_rebuilds_read_models_identical_to_the_live_ones() {
    let app = spawn_app().await;
    let district = app.create_group("District", None).await;
    let district_id = district["id"].as_str().unwrap();
    let school = app.create_group("School", Some(district_id)).await;
    let school_id = school["id"].as_str().unwrap();
    app.create_group("Dept", Some(school_id)).await;
    app.patch_json(
        &format!("/groups/{school_id}"),
        &serde_json::json!({"name": "School 2"}),
    )
    .await;
    app.post(&format!("/groups/{district_id}/archive")).await;
    app.wait_for_subscribers().await;
    let live = groups_snapshot(&app.pool).await;
    assert_eq!(live.len(), 3);

    // While the server runs (it holds the projection's lock), replay resets the read model
    // and waits for the server to rebuild it.
    let env = test_env(&app.db, &TestOptions::default());
    let (ok, output) = run_cli(&env, &["replay", "--all"]).await;
    assert!(ok, "replay --all failed: {output}");
    assert!(output.contains("groups: rebuilt"), "{output}");
    assert_eq!(groups_snapshot(&app.pool).await, live);

    // And with no server running, replay rebuilds it itself.
    let mut app = app;
    app.stop().await;
    sqlx::query("UPDATE groups SET name = 'tampered'")
        .execute(&app.pool)
        .await
        .unwrap();
    let (ok, output) = run_cli(&env, &["replay", "groups"]).await;
    assert!(ok, "replay groups failed: {output}");
    assert_eq!(groups_snapshot(&app.pool).await, live);

    let (ok, output) = run_cli(&env, &["replay", "nope"]).await;
    assert!(!ok);
    assert!(output.contains("unknown projection"), "{output}");
}

/// How many log listeners (processes) hold the presence lock on this database.
async fn listeners(pool: &sqlx::PgPool) -> i64 {
    sqlx::query_scalar(
        "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted \
         AND database = (SELECT oid FROM pg_database WHERE datname = current_database()) \
         AND classid = x'52415050'::bigint::oid AND objid = 1 AND objsubid = 2",
    )
    .fetch_one(pool)
    .await
    .unwrap()
}

async fn until_listeners(pool: &sqlx::PgPool, n: i64) {
    for _ in 0..200 {
        if listeners(pool).await == n {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    panic!("{n} log listeners never appeared");
}

#[tokio::test]
async fn a_process_alone_sends_no_log_notifications_and_wakes_the_others_once_they_listen() {
    use application::ports::AppendListener as _;
    use projections::LogSignal;

    let db = tests::TestDb::create().await;
    let pool = db.pool().await;
    let (_stop, shutdown) = tokio::sync::watch::channel(false);
    let a = LogSignal::default();
    tokio::spawn(a.clone().run(pool.clone(), shutdown.clone()));
    until_listeners(&pool, 1).await;
    // A plain listener (not a process of ours: no presence lock) hears every NOTIFY.
    let mut spy = sqlx::postgres::PgListener::connect_with(&pool)
        .await
        .unwrap();
    spy.listen(projections::signal::CHANNEL).await.unwrap();

    // Alone: nothing is sent.
    a.appended("group");
    let heard = tokio::time::timeout(std::time::Duration::from_millis(500), spy.recv()).await;
    assert!(
        heard.is_err(),
        "a lone process sent a notification: {heard:?}"
    );

    // A second process listens: within the presence check interval the first one notifies
    // it, and it wakes its subscribers of that type.
    let b = LogSignal::default();
    let mut b_groups = b.subscribe_to(Some(&["group"]));
    tokio::spawn(b.clone().run(pool.clone(), shutdown.clone()));
    until_listeners(&pool, 2).await;
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    b_groups.borrow_and_update();
    a.appended("group");
    let notification = tokio::time::timeout(std::time::Duration::from_secs(5), spy.recv())
        .await
        .expect("a notification once another process listens")
        .unwrap();
    assert!(notification.payload().ends_with(":group"));
    tokio::time::timeout(std::time::Duration::from_secs(5), b_groups.changed())
        .await
        .expect("the other process woke its subscribers")
        .unwrap();
}

/// Writes that wait for their read model (issue #24): a subscriber that nothing wakes (its
/// events appended elsewhere, or other aggregates' appends holding the log's safe bound back
/// while it backs off) looks at the log as soon as somebody waits for it, not at its next
/// poll.
#[tokio::test]
async fn a_waiting_write_makes_an_unwoken_subscriber_look_at_once() {
    let app = spawn_app().await;
    sqlx::query("CREATE TABLE test_seen (position bigint PRIMARY KEY)")
        .execute(&app.pool)
        .await
        .unwrap();
    let local = Subscribers::default();
    let (_stop, shutdown) = watch::channel(false);
    // Its own signal, which no append bumps, and a poll far longer than the wait below.
    let runner = local.spawn(
        Subscriber::Projection(Arc::new(Counting)),
        app.config.database.clone(),
        LogSignal::default(),
        RunnerSettings {
            poll_interval: Duration::from_secs(30),
            ..RunnerSettings::default()
        },
        shutdown,
    );
    let head = app.log_head().await;
    wait_for_checkpoints(&app.pool, head, &["test-counting"]).await;
    // Its idle checkpoint write is behind it; it sleeps until the next poll.
    tokio::time::sleep(Duration::from_millis(200)).await;

    let group = app.create_group("Unwoken", None).await;
    let position = app.log_head().await;
    assert!(group["id"].is_string());
    let checkpoints = projections::Checkpoints::new(app.pool.clone(), local);
    let started = std::time::Instant::now();
    checkpoints
        .wait_for("test-counting", position, Duration::from_secs(5))
        .await
        .expect("the waiter made it look");
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "waited {:?}",
        started.elapsed()
    );
    runner.abort();
}
