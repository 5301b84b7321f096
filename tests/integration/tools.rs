//! Tools: managed by group admins, readable by group members.

use reqwest::Method;
use serde_json::{json, Value};
use tests::{register, spawn_app};

#[tokio::test]
async fn group_admins_manage_tools_and_members_read_them() {
    let app = spawn_app().await;
    let district = app.create_group("District", None).await;
    let d = district["id"].as_str().unwrap();
    let school = app.create_group("School", Some(d)).await;
    let g = school["id"].as_str().unwrap();
    let (admin, admin_user) = register(&app, "tool-admin@example.org", "password tools").await;
    let (member, member_user) = register(&app, "tool-member@example.org", "password tools").await;
    let (outsider, _) = register(&app, "tool-outsider@example.org", "password tools").await;
    for (user, role) in [(&admin_user, "admin"), (&member_user, "member")] {
        let id = user["id"].as_str().unwrap();
        let response = app
            .request(Method::PUT, &format!("/groups/{g}/members/{id}"))
            .json(&json!({"role": role}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
    }

    let created = app
        .call_as(
            &admin,
            Method::POST,
            &format!("/groups/{g}/tools"),
            Some(json!({"name": "Socratic tutor", "description": "Asks, never tells"})),
        )
        .await;
    assert_eq!(created.status(), 201);
    let tool: Value = created.json().await.unwrap();
    let t = tool["id"].as_str().unwrap();
    assert_eq!(tool["group_id"], g);

    let refused = app
        .call_as(
            &member,
            Method::POST,
            &format!("/groups/{g}/tools"),
            Some(json!({"name": "Mine"})),
        )
        .await;
    assert_eq!(refused.status(), 403);
    let listed: Value = app
        .call_as(&member, Method::GET, &format!("/groups/{g}/tools"), None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(listed["items"].as_array().unwrap().len(), 1);
    assert_eq!(
        app.call_as(&member, Method::GET, &format!("/tools/{t}"), None)
            .await
            .status(),
        200
    );
    assert_eq!(
        app.call_as(&outsider, Method::GET, &format!("/tools/{t}"), None)
            .await
            .status(),
        404
    );
    assert_eq!(
        app.call_as(&outsider, Method::GET, &format!("/groups/{g}/tools"), None)
            .await
            .status(),
        404
    );
    assert_eq!(
        app.call_as(
            &member,
            Method::PATCH,
            &format!("/tools/{t}"),
            Some(json!({"name": "Hacked"}))
        )
        .await
        .status(),
        403
    );

    let updated = app
        .call_as(
            &admin,
            Method::PATCH,
            &format!("/tools/{t}"),
            Some(json!({"description": "Guides"})),
        )
        .await;
    assert_eq!(updated.status(), 200);
    let updated: Value = updated.json().await.unwrap();
    assert_eq!(updated["description"], "Guides");
    assert_eq!(updated["name"], "Socratic tutor");

    // Bad input changes nothing.
    let before = app.count_events("tool").await;
    let too_long = app
        .call_as(
            &admin,
            Method::PATCH,
            &format!("/tools/{t}"),
            Some(json!({"description": "d".repeat(2001)})),
        )
        .await;
    assert_eq!(too_long.status(), 422);
    let unknown = app
        .call_as(
            &admin,
            Method::POST,
            &format!("/groups/{g}/tools"),
            Some(json!({"name": "X", "colour": 1})),
        )
        .await;
    assert_eq!(unknown.status(), 422);
    assert_eq!(app.count_events("tool").await, before);

    let archived = app
        .call_as(&admin, Method::POST, &format!("/tools/{t}/archive"), None)
        .await;
    assert_eq!(archived.status(), 200);
    let after = app
        .call_as(
            &admin,
            Method::PATCH,
            &format!("/tools/{t}"),
            Some(json!({"name": "Late"})),
        )
        .await;
    assert_eq!(after.status(), 409);
    let problem: Value = after.json().await.unwrap();
    assert_eq!(
        problem["type"],
        "https://raptscallions.app/problems/tool-archived"
    );
    let listed: Value = app
        .call_as(&member, Method::GET, &format!("/groups/{g}/tools"), None)
        .await
        .json()
        .await
        .unwrap();
    assert!(
        listed["items"].as_array().unwrap().is_empty(),
        "archived tools are hidden by default"
    );
}
