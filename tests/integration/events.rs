//! The event history API.

use serde_json::{json, Value};
use tests::spawn_app;

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
