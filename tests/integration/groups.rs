//! The groups slice end to end.

use serde_json::{json, Value};
use tests::spawn_app;

#[tokio::test]
async fn create_get_rename_archive_and_read_your_writes() {
    let app = spawn_app().await;

    let response = app
        .post_json("/groups", &json!({"name": "  District 9 "}))
        .await;
    assert_eq!(response.status(), 201);
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    let group: Value = response.json().await.unwrap();
    let id = group["id"].as_str().unwrap().to_owned();
    assert_eq!(location, format!("/groups/{id}"));
    assert_eq!(group["name"], "District 9");
    assert_eq!(group["parent_id"], Value::Null);
    assert_eq!(group["path"], json!([id]));
    assert_eq!(group["archived"], false);
    assert_eq!(group["version"], 1);

    // The very next read reflects the write.
    let fetched: Value = app.get(&location).await.json().await.unwrap();
    assert_eq!(fetched, group);

    let renamed = app
        .patch_json(&location, &json!({"name": "District 10"}))
        .await;
    assert_eq!(renamed.status(), 200);
    let renamed: Value = renamed.json().await.unwrap();
    assert_eq!(renamed["name"], "District 10");
    assert_eq!(renamed["version"], 2);
    let fetched: Value = app.get(&location).await.json().await.unwrap();
    assert_eq!(fetched["name"], "District 10");

    // Renaming to the same name records nothing.
    let same = app
        .patch_json(&location, &json!({"name": "District 10"}))
        .await;
    assert_eq!(same.status(), 200);
    assert_eq!(app.count_events("group").await, 2);

    let archived = app.post(&format!("{location}/archive")).await;
    assert_eq!(archived.status(), 200);
    let archived: Value = archived.json().await.unwrap();
    assert_eq!(archived["archived"], true);
    assert_eq!(archived["version"], 3);

    // Archiving again is not an error and records nothing.
    let again = app.post(&format!("{location}/archive")).await;
    assert_eq!(again.status(), 200);
    assert_eq!(app.count_events("group").await, 3);

    // An archived group cannot be renamed or receive subgroups.
    let refused = app.patch_json(&location, &json!({"name": "X"})).await;
    assert_eq!(refused.status(), 409);
    let problem: Value = refused.json().await.unwrap();
    assert_eq!(
        problem["type"],
        "https://raptscallions.app/problems/group-archived"
    );
    let child = app
        .post_json("/groups", &json!({"name": "School", "parent_id": id}))
        .await;
    assert_eq!(child.status(), 422);
    let problem: Value = child.json().await.unwrap();
    assert_eq!(
        problem["type"],
        "https://raptscallions.app/problems/parent-archived"
    );
    assert_eq!(app.count_events("group").await, 3);
}

#[tokio::test]
async fn subgroups_have_paths_and_subtree_listing() {
    let app = spawn_app().await;
    let district = app.create_group("District", None).await;
    let district_id = district["id"].as_str().unwrap();
    let school = app.create_group("School", Some(district_id)).await;
    let school_id = school["id"].as_str().unwrap();
    let dept = app.create_group("Math", Some(school_id)).await;
    let other = app.create_group("Other district", None).await;

    assert_eq!(dept["parent_id"], school_id);
    assert_eq!(dept["path"], json!([district_id, school_id, dept["id"]]));

    let subtree: Value = app
        .get(&format!("/groups?within={district_id}"))
        .await
        .json()
        .await
        .unwrap();
    let names: Vec<&str> = subtree["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["District", "School", "Math"]);

    let children: Value = app
        .get(&format!("/groups?parent_id={district_id}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(children["items"].as_array().unwrap().len(), 1);
    assert_eq!(children["items"][0]["id"], school["id"]);

    let missing_parent = app
        .post_json(
            "/groups",
            &json!({"name": "Orphan", "parent_id": "0195a3a0-0000-7000-8000-000000000001"}),
        )
        .await;
    assert_eq!(missing_parent.status(), 422);
    let problem: Value = missing_parent.json().await.unwrap();
    assert_eq!(
        problem["type"],
        "https://raptscallions.app/problems/parent-not-found"
    );
    assert!(other["id"].is_string());
}

#[tokio::test]
async fn listing_pages_with_a_cursor_and_hides_archived_groups() {
    let app = spawn_app().await;
    let mut ids = Vec::new();
    for i in 0..7 {
        let group = app.create_group(&format!("G{i}"), None).await;
        ids.push(group["id"].as_str().unwrap().to_owned());
    }
    let archived = &ids[3];
    let response = app.post(&format!("/groups/{archived}/archive")).await;
    assert_eq!(response.status(), 200);

    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/groups?limit=2&cursor={c}"),
            None => "/groups?limit=2".to_owned(),
        };
        let page: Value = app.get(&path).await.json().await.unwrap();
        let items = page["items"].as_array().unwrap();
        assert!(items.len() <= 2);
        seen.extend(items.iter().map(|g| g["id"].as_str().unwrap().to_owned()));
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    let expected: Vec<String> = ids.iter().filter(|id| *id != archived).cloned().collect();
    assert_eq!(seen, expected);

    let all: Value = app
        .get("/groups?limit=200&include_archived=true")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(all["items"].as_array().unwrap().len(), 7);
    assert_eq!(all["next_cursor"], Value::Null);
}

/// `POST /groups` answers from its own event without waiting for the projection (ADR 0007);
/// reads wait instead. The projection is held back by locking its checkpoint row.
#[tokio::test]
async fn a_new_group_is_read_back_even_before_the_projection_has_it() {
    let app = spawn_app().await;
    let parent = app.create_group("Parent", None).await;
    let parent_id = parent["id"].as_str().unwrap().to_owned();
    // A read waits until the projection has the parent.
    assert_eq!(app.get(&format!("/groups/{parent_id}")).await.status(), 200);
    let hold = app.hold_projection("groups").await;

    let response = app
        .post_json("/groups", &json!({"name": "Child", "parent_id": parent_id}))
        .await;
    assert_eq!(response.status(), 201);
    let created: Value = response.json().await.unwrap();
    let id = created["id"].as_str().unwrap().to_owned();
    assert_eq!(created["path"], json!([parent_id, id]));
    assert_eq!(created["version"], 1);
    let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM groups WHERE id = $1::uuid")
        .bind(&id)
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(rows, 0, "the projection was held back");

    let (get, list) = {
        let get = app.request(reqwest::Method::GET, &format!("/groups/{id}"));
        let list = app.request(
            reqwest::Method::GET,
            &format!("/groups?parent_id={parent_id}"),
        );
        (
            tokio::spawn(async move { get.send().await.unwrap() }),
            tokio::spawn(async move { list.send().await.unwrap() }),
        )
    };
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    hold.commit().await.unwrap();
    let get = get.await.unwrap();
    assert_eq!(get.status(), 200);
    assert_eq!(get.json::<Value>().await.unwrap(), created);
    let list: Value = list.await.unwrap().json().await.unwrap();
    assert_eq!(list["items"], json!([created]));
}

#[tokio::test]
async fn a_write_recorded_before_its_read_model_caught_up_is_202_with_what_was_committed() {
    let app = tests::spawn_app_with(tests::TestOptions {
        env: vec![("READ_YOUR_WRITES_TIMEOUT_MS".into(), "300".into())],
        ..tests::TestOptions::default()
    })
    .await;
    let group = app.create_group("Hill School", None).await;
    let id = group["id"].as_str().unwrap().to_owned();
    app.wait_for_subscribers().await;

    // The directory projection is held: the rename is recorded, its read model cannot follow.
    let hold = app.hold_projection("groups").await;
    let response = app
        .patch_json(&format!("/groups/{id}"), &json!({"name": "Hill Academy"}))
        .await;
    let status = response.status();
    let headers = response.headers().clone();
    let body: Value = response.json().await.unwrap();
    assert_eq!(status, 202, "a recorded write does not look failed: {body}");
    let position: i64 = headers["rapt-position"].to_str().unwrap().parse().unwrap();
    assert_eq!(headers["location"], format!("/groups/{id}").as_str());
    assert_eq!(body["position"], position);
    assert_eq!(body["location"], format!("/groups/{id}").as_str());
    // It was recorded: the group's stream ends at that position.
    let newest: i64 = sqlx::query_scalar(
        "SELECT max(position) FROM events WHERE aggregate_type = 'group' AND aggregate_id = $1",
    )
    .bind(&id)
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(newest, position);

    // Once the read model moves on, the location has the change.
    hold.commit().await.unwrap();
    app.wait_for_subscribers().await;
    let read: Value = app
        .get(&format!("/groups/{id}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(read["name"], "Hill Academy");
}
