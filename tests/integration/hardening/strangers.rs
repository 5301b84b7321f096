//! Emails of strangers: who may be added to a group or class (`account.add_to_roster`). An
//! admin or teacher may add only someone they can already see in a member list (a role in
//! the subtree of a group they administer, or in a class they teach), or someone who belongs
//! nowhere yet; an account of another district gets the 422 of an unknown account, and its
//! email never reaches their member lists.

use reqwest::Method;
use serde_json::{json, Value};
use tests::{json_id, register, spawn_app, SchoolFixture, TestApp};

const USER_NOT_FOUND: &str = "https://raptscallions.app/problems/user-not-found";

async fn add(app: &TestApp, token: &str, roster: &str, user: &str, role: &str) -> (u16, Value) {
    let response = app
        .call_as(
            token,
            Method::PUT,
            &format!("{roster}/members/{user}"),
            Some(json!({"role": role})),
        )
        .await;
    let status = response.status().as_u16();
    (status, response.json().await.unwrap())
}

async fn members(app: &TestApp, token: &str, roster: &str) -> Vec<Value> {
    let response = app
        .call_as(token, Method::GET, &format!("{roster}/members"), None)
        .await;
    assert_eq!(response.status(), 200, "{roster}");
    let body: Value = response.json().await.unwrap();
    body["items"].as_array().unwrap().clone()
}

#[tokio::test]
async fn members_come_from_what_the_adder_can_already_see() {
    let app = spawn_app().await;
    let f = SchoolFixture::build(&app).await;
    let school = format!("/groups/{}", f.school);
    let class = format!("/classes/{}", f.class);
    let admin = f.school_admin.token.clone();
    let teacher = f.teachers[0].token.clone();

    // Someone of another district.
    let eastside = json_id(&app.create_group("Eastside District", None).await);
    let (_, stranger) = register(&app, "stranger@eastside.example", "stranger password").await;
    let stranger = json_id(&stranger);
    app.put_role(&format!("/groups/{eastside}/members/{stranger}"), "member")
        .await;

    // The school's admin and the class's teacher cannot pull them in: the same answer as
    // for an id that names no account.
    let unknown = uuid::Uuid::now_v7().to_string();
    for (who, token, roster, role) in [
        ("school admin", &admin, &school, "member"),
        ("school admin", &admin, &class, "student"),
        ("teacher", &teacher, &class, "student"),
    ] {
        let (status, problem) = add(&app, token, roster, &stranger, role).await;
        assert_eq!(status, 422, "{who} adds a stranger to {roster}: {problem}");
        assert_eq!(problem["type"], USER_NOT_FOUND, "{who}");
        let (status, missing) = add(&app, token, roster, &unknown, role).await;
        assert_eq!(
            (status, &missing),
            (422, &problem),
            "{who}: as an unknown id"
        );
        let listed = members(&app, token, roster).await;
        assert!(
            listed
                .iter()
                .all(|m| m["user_id"] != stranger.as_str()
                    && m["email"] != "stranger@eastside.example"),
            "{who}: {listed:?}"
        );
    }

    // Someone who belongs nowhere yet may be added: only its owner can give its id.
    let (_, newcomer) = register(&app, "newcomer@school.example", "newcomer password").await;
    let newcomer = json_id(&newcomer);
    assert_eq!(add(&app, &admin, &school, &newcomer, "member").await.0, 200);
    let listed = members(&app, &admin, &school).await;
    assert!(listed
        .iter()
        .any(|m| m["user_id"] == newcomer.as_str() && m["email"] == "newcomer@school.example"));

    // The newcomer is now in the school: its admin sees them and may put them in a class;
    // the teacher, who sees only their class, may not.
    let (status, _) = add(&app, &teacher, &class, &newcomer, "student").await;
    assert_eq!(status, 422, "the teacher does not see the school's members");
    assert_eq!(add(&app, &admin, &class, &newcomer, "student").await.0, 200);

    // A teacher may add the people of the classes they teach to another of theirs, but not
    // a colleague's class's teacher.
    let geometry = json_id(&app.create_class(&f.school, "Geometry").await);
    app.put_role(
        &format!("/classes/{geometry}/members/{}", f.teachers[0].id),
        "teacher",
    )
    .await;
    let geometry = format!("/classes/{geometry}");
    assert_eq!(
        add(&app, &teacher, &geometry, &f.student.id, "student")
            .await
            .0,
        200
    );
    assert_eq!(
        add(&app, &teacher, &geometry, &f.other_teacher.id, "student")
            .await
            .0,
        422
    );

    // Changing the role of someone already there is not adding a stranger.
    assert_eq!(
        add(&app, &teacher, &class, &f.student.id, "student")
            .await
            .0,
        200
    );

    // Once a system admin has put the stranger in the school, its admin sees them there.
    app.put_role(&format!("{school}/members/{stranger}"), "member")
        .await;
    assert_eq!(add(&app, &admin, &class, &stranger, "student").await.0, 200);
}
