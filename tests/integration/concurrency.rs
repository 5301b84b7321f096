//! Optimistic concurrency and exactly-once projection under concurrent load.

use std::sync::Arc;

use domain::group::{Group, GroupEvent};
use domain::Aggregate as _;
use futures::future::join_all;
use serde_json::{json, Value};
use tests::spawn_app;

/// Folds a group's stream from the log.
async fn fold_stream(pool: &sqlx::PgPool, id: &str) -> (Group, i64) {
    let events = projections::log::read_stream(pool, "group", id)
        .await
        .unwrap();
    let count = events.len() as i64;
    let state = Group::fold(
        events
            .into_iter()
            .map(|e| serde_json::from_value::<GroupEvent>(e.payload).unwrap()),
    );
    (state, count)
}

#[tokio::test]
async fn fifty_concurrent_renames_are_200_or_409_and_the_read_model_equals_the_fold() {
    let app = Arc::new(spawn_app().await);
    let group = app.create_group("Start", None).await;
    let id = group["id"].as_str().unwrap().to_owned();

    let renames = (0..50).map(|i| {
        let app = app.clone();
        let id = id.clone();
        async move {
            app.patch_json(
                &format!("/groups/{id}"),
                &json!({"name": format!("Name {i}")}),
            )
            .await
        }
    });
    let responses = join_all(renames).await;
    let mut ok = 0;
    for response in responses {
        match response.status().as_u16() {
            200 => ok += 1,
            409 => {
                let content_type = response.headers()["content-type"].to_str().unwrap();
                assert!(content_type.starts_with("application/problem+json"));
                let problem: Value = response.json().await.unwrap();
                assert_eq!(
                    problem["type"],
                    "https://raptscallions.app/problems/conflict"
                );
            }
            other => panic!("unexpected status {other}"),
        }
    }
    assert!(ok >= 1, "at least one rename wins");

    let (state, count) = fold_stream(&app.pool, &id).await;
    assert_eq!(count, 1 + ok, "one event per 200");
    app.wait_for_subscribers().await;
    let read: Value = app
        .get(&format!("/groups/{id}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(read["name"], state.name.unwrap().as_str());
    assert_eq!(read["version"], count);
    assert_eq!(read["archived"], state.archived);
}

#[tokio::test]
async fn eight_concurrent_membership_changes_on_one_group_all_go_through() {
    let app = Arc::new(spawn_app().await);
    let group = app.create_group("Busy School", None).await;
    let id = group["id"].as_str().unwrap().to_owned();
    let mut people = Vec::new();
    for n in 0..8 {
        let email = format!("member{n}@school.example");
        let (_, user) =
            tests::register_named(&app, &email, "Member", tests::FIXTURE_PASSWORD).await;
        people.push(user["id"].as_str().unwrap().to_owned());
    }
    // Each one safe to re-run: the server decides a loser again on the new state.
    let puts = people.iter().map(|user| {
        let app = app.clone();
        let path = format!("/groups/{id}/members/{user}");
        async move {
            app.request(reqwest::Method::PUT, &path)
                .json(&json!({"role": "member"}))
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    });
    let statuses = join_all(puts).await;
    assert!(statuses.iter().all(|s| *s == 200), "{statuses:?}");
    let (state, count) = fold_stream(&app.pool, &id).await;
    assert_eq!(count, 1 + 8, "one event per change");
    assert_eq!(state.members.len(), 8);
}

#[tokio::test]
async fn eight_writers_times_500_commands_are_each_applied_exactly_once() {
    let app = Arc::new(spawn_app().await);
    let writers = (0..8).map(|w| {
        let app = app.clone();
        async move {
            let group = app.create_group(&format!("Writer {w}"), None).await;
            let id = group["id"].as_str().unwrap().to_owned();
            for i in 1..500 {
                let response = app
                    .patch_json(
                        &format!("/groups/{id}"),
                        &json!({"name": format!("W{w} #{i}")}),
                    )
                    .await;
                let status = response.status();
                let body: Value = response.json().await.unwrap();
                assert_eq!(status, 200, "{body}");
                // Read-your-writes on every command.
                assert_eq!(body["version"], i + 1);
            }
            id
        }
    });
    let ids = join_all(writers).await;
    assert_eq!(app.count_events("group").await, 8 * 500);
    app.wait_for_subscribers().await;
    for id in ids {
        let (state, count) = fold_stream(&app.pool, &id).await;
        assert_eq!(count, 500);
        let (name, version): (String, i64) =
            sqlx::query_as("SELECT name, version FROM groups WHERE id = $1::uuid")
                .bind(&id)
                .fetch_one(&app.pool)
                .await
                .unwrap();
        assert_eq!(version, 500, "every event of {id} applied once");
        assert_eq!(name, state.name.unwrap().as_str());
    }
    let checkpoint: i64 =
        sqlx::query_scalar("SELECT position FROM subscriber_checkpoints WHERE name = 'groups'")
            .fetch_one(&app.pool)
            .await
            .unwrap();
    // The checkpoint says how far the log has been considered; it may lie past the newest
    // event (a stretch with no events for this projection), never before it.
    assert!(checkpoint >= app.log_head().await);
}

#[tokio::test]
async fn a_batch_append_whose_one_stream_changed_meanwhile_appends_nothing() {
    use application::{CommandContext, CommandError, CommandRunner};
    use domain::group::{GroupCommand, GroupName};

    let app = spawn_app().await;
    let ids: Vec<String> =
        futures::future::join_all(["First", "Second"].map(|name| app.create_group(name, None)))
            .await
            .iter()
            .map(|g| g["id"].as_str().unwrap().to_owned())
            .collect();
    let runner: CommandRunner<Group> =
        CommandRunner::new(app.pool.clone(), Arc::new(application::ports::NoListener));
    let context = CommandContext {
        actor: "test".into(),
        correlation_id: "batch".into(),
        causation_id: None,
    };
    let rename = |name: &str| GroupCommand::Rename {
        name: GroupName::parse(name).unwrap(),
    };
    let mut batch = Vec::new();
    for id in &ids {
        let decided = runner
            .decide(id.parse().unwrap(), [rename("Batched")])
            .await
            .unwrap();
        batch.push((decided, context.clone()));
    }
    // The second group changes between the decision and the append.
    let response = app
        .patch_json(
            &format!("/groups/{}", ids[1]),
            &json!({"name": "Meanwhile"}),
        )
        .await;
    assert_eq!(response.status(), 200);
    let before = [
        fold_stream(&app.pool, &ids[0]).await.1,
        fold_stream(&app.pool, &ids[1]).await.1,
    ];

    let mut tx = app.pool.begin().await.unwrap();
    let outcome = runner.append_all_in(&mut tx, batch).await;
    assert!(
        matches!(outcome, Err(CommandError::Conflict)),
        "{outcome:?}"
    );
    drop(tx);

    let after = [
        fold_stream(&app.pool, &ids[0]).await,
        fold_stream(&app.pool, &ids[1]).await,
    ];
    assert_eq!([after[0].1, after[1].1], before, "nothing appended");
    assert_eq!(after[0].0.name.as_ref().map(|n| n.as_str()), Some("First"));
}

#[tokio::test]
async fn a_student_s_messages_and_the_service_s_detections_on_one_session_all_go_through() {
    let app = Arc::new(spawn_app().await);
    let f = tests::SchoolFixture::build(&app).await;
    let path = format!("/learning-sessions/{}", f.session);
    // Nobody here pins a version: a writer that loses the race is decided again on the new
    // state instead of answering 409 (the process manager writes to the same stream, too).
    let messages = (0..8).map(|n| {
        let (app, path, token) = (app.clone(), path.clone(), f.student.token.clone());
        async move {
            app.call_as(
                &token,
                reqwest::Method::POST,
                &format!("{path}/messages"),
                Some(json!({"role": "student", "content": format!("question {n}")})),
            )
            .await
            .status()
            .as_u16()
        }
    });
    let detections = (0..4).map(|n| {
        let (app, path, token) = (app.clone(), path.clone(), f.service.clone());
        async move {
            app.call_as(
                &token,
                reqwest::Method::POST,
                &format!("{path}/detections"),
                Some(json!({"type": "misbehavior", "category": "off_topic",
                            "severity": "low", "evidence": format!("aside {n}")})),
            )
            .await
            .status()
            .as_u16()
        }
    });
    let (messages, detections) = futures::join!(join_all(messages), join_all(detections));
    assert!(messages.iter().all(|s| *s == 200), "{messages:?}");
    assert!(detections.iter().all(|s| *s == 200), "{detections:?}");
    let stored: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM events WHERE aggregate_type = 'learning_session' \
         AND aggregate_id = $1 AND event_type IN ('session.message_posted', 'behavior.misbehavior_detected')",
    )
    .bind(&f.session)
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(stored, 12, "one event per request");
}
