//! Permissions: the authorization matrix (every endpoint × every kind of caller), the group
//! hierarchy, cycles, the last-admin rule and the immediate effect of membership changes.

use std::collections::HashMap;
use std::time::Duration;

use reqwest::Method;
use serde_json::{json, Value};
use tests::{detect, eventually, register, spawn_app, TestApp};

/// The callers of the matrix, in column order.
const CALLERS: [&str; 13] = [
    "anonymous",
    "unrelated",
    "student",
    "teacher",
    "other_teacher",
    "member",
    "counselor",
    "group_admin",
    "parent_admin",
    "sibling_admin",
    "sibling_counselor",
    "auditor",
    "system_admin",
];

/// The world the matrix runs in:
///
/// ```text
/// District (parent_admin)
/// ├── School G (group_admin, counselor, member)
/// │   ├── Class C (teacher, student)
/// │   └── Class C2 (other_teacher)
/// └── Sibling school (sibling_admin, sibling_counselor, outsider)
/// ```
///
/// `target` and `victim` belong nowhere; `outsider` is a member of the sibling school only.
struct World {
    tokens: HashMap<&'static str, String>,
    ids: HashMap<&'static str, String>,
}

async fn put(app: &TestApp, path: &str, body: Value) -> u16 {
    app.request(Method::PUT, path)
        .json(&body)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

async fn world(app: &TestApp) -> World {
    let mut tokens = HashMap::new();
    let mut ids = HashMap::new();
    for caller in &CALLERS[1..12] {
        let (token, user) =
            register(app, &format!("{caller}@example.org"), "matrix password").await;
        tokens.insert(*caller, token);
        ids.insert(*caller, user["id"].as_str().unwrap().to_owned());
    }
    tokens.insert("system_admin", app.token.clone());
    for extra in ["target", "victim", "outsider"] {
        let (_, user) = register(app, &format!("{extra}@example.org"), "matrix password").await;
        ids.insert(extra, user["id"].as_str().unwrap().to_owned());
    }
    let id = |v: Value| v["id"].as_str().unwrap().to_owned();
    let district = id(app.create_group("District", None).await);
    let school = id(app.create_group("School", Some(&district)).await);
    let sibling = id(app.create_group("Sibling", Some(&district)).await);
    let class = |name: &'static str, group: String| async move {
        let response = app
            .post_json(&format!("/groups/{group}/classes"), &json!({"name": name}))
            .await;
        assert_eq!(response.status(), 201);
        id(response.json().await.unwrap())
    };
    let c = class("Algebra", school.clone()).await;
    let c2 = class("Biology", school.clone()).await;
    for (group, who, role) in [
        (&district, "parent_admin", "admin"),
        (&school, "group_admin", "admin"),
        (&school, "counselor", "counselor"),
        (&school, "member", "member"),
        (&sibling, "sibling_admin", "admin"),
        (&sibling, "sibling_counselor", "counselor"),
        (&sibling, "outsider", "member"),
    ] {
        let user = &ids[who];
        assert_eq!(
            put(
                app,
                &format!("/groups/{group}/members/{user}"),
                json!({"role": role})
            )
            .await,
            200
        );
    }
    for (class, who, role) in [
        (&c, "teacher", "teacher"),
        (&c, "student", "student"),
        (&c2, "other_teacher", "teacher"),
    ] {
        let user = &ids[who];
        assert_eq!(
            put(
                app,
                &format!("/classes/{class}/members/{user}"),
                json!({"role": role})
            )
            .await,
            200
        );
    }
    let auditor = &ids["auditor"];
    let granted = app
        .post_json(
            &format!("/users/{auditor}/auditor"),
            &json!({"auditor": true}),
        )
        .await;
    assert_eq!(granted.status(), 200);
    ids.insert("district", district);
    ids.insert("school", school);
    ids.insert("sibling", sibling);
    ids.insert("class", c);
    ids.insert("class2", c2);
    World { tokens, ids }
}

/// What to do before each cell (as the system admin), so that destructive calls have a fresh
/// target: `{fresh_group}` / `{fresh_class}` in the path, or a membership to remove.
#[derive(Clone, Copy, PartialEq)]
enum Setup {
    None,
    FreshSubgroup,
    FreshClass,
    TargetInGroup,
    TargetInClass,
    /// `outsider` back to the sibling school only (out of School G and Class C).
    OutsiderAway,
    /// A new safety concern in Class C: `{fresh_concern}` in the path.
    FreshConcern,
}

/// The id of the newest instance of a workflow, once its `event_type` (its first event) is
/// in the log more than `before` times.
async fn newest_workflow(app: &TestApp, event_type: &str, before: i64) -> String {
    eventually(event_type, Duration::from_secs(15), || async {
        let (count, newest): (i64, Option<String>) = sqlx::query_as(
            "SELECT count(*), (array_agg(aggregate_id ORDER BY position DESC))[1] \
             FROM events WHERE event_type = $1",
        )
        .bind(event_type)
        .fetch_one(&app.pool)
        .await
        .unwrap();
        newest.filter(|_| count > before)
    })
    .await
}

async fn count_events(app: &TestApp, event_type: &str) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM events WHERE event_type = $1")
        .bind(event_type)
        .fetch_one(&app.pool)
        .await
        .unwrap()
}

/// Records a detection in `session` as the system admin and returns the id of the workflow
/// instance it starts (`first_event`: `safety_concern.opened` or `intervention.started`).
async fn start_workflow(
    app: &TestApp,
    session: &str,
    detection: Value,
    first_event: &str,
) -> String {
    let before = count_events(app, first_event).await;
    detect(app, &app.token, session, detection).await;
    newest_workflow(app, first_event, before).await
}

/// A `monitor` concern: it alerts nobody and pauses nothing (its follow-up waits a day).
fn monitor_concern() -> Value {
    json!({"type": "safety_concern", "concern_type": "distress", "urgency": "monitor",
           "evidence": "matrix"})
}

/// One row of the matrix: a request and the expected status for each caller.
type Row = (Method, String, Option<Value>, Setup, [u16; 13]);

#[tokio::test]
async fn authorization_matrix() {
    let app = spawn_app().await;
    let w = world(&app).await;
    let (g, d, c, t) = (
        &w.ids["school"],
        &w.ids["district"],
        &w.ids["class"],
        &w.ids["target"],
    );
    let victim = &w.ids["victim"];
    let o = &w.ids["outsider"];
    let student = &w.ids["student"];
    // A published assignment with the student's submitted submission, and another published
    // one without submissions.
    let publish = |title: &'static str| {
        let app = &app;
        async move {
            let created: Value = app
                .post_json(
                    &format!("/classes/{c}/assignments"),
                    &json!({"title": title}),
                )
                .await
                .json()
                .await
                .unwrap();
            let id = created["id"].as_str().unwrap().to_owned();
            let published = app
                .request(Method::POST, &format!("/assignments/{id}/publish"))
                .send()
                .await
                .unwrap();
            assert_eq!(published.status(), 200);
            id
        }
    };
    let a1 = publish("Essay").await;
    let a2 = publish("Quiz").await;
    let (status, submission) = tests::send(
        &app,
        &w.tokens["student"],
        Method::POST,
        &format!("/assignments/{a1}/submissions"),
        Some(json!({"content": "my essay"})),
    )
    .await;
    assert_eq!(status, 201, "{submission}");
    let s1 = submission["id"].as_str().unwrap().to_owned();
    let (status, _) = tests::send(
        &app,
        &w.tokens["student"],
        Method::POST,
        &format!("/submissions/{s1}/submit"),
        Some(json!({})),
    )
    .await;
    assert_eq!(status, 200);
    // The student's learning session, with a safety concern and a struggle intervention.
    let tool: Value = app
        .post_json(&format!("/groups/{d}/tools"), &json!({"name": "Tutor"}))
        .await
        .json()
        .await
        .unwrap();
    let (status, session) = tests::send(
        &app,
        &w.tokens["student"],
        Method::POST,
        "/learning-sessions",
        Some(json!({"class_id": c, "tool_id": tool["id"]})),
    )
    .await;
    assert_eq!(status, 201, "{session}");
    let session = session["id"].as_str().unwrap().to_owned();
    let k = &start_workflow(&app, &session, monitor_concern(), "safety_concern.opened").await;
    let struggle = json!({"type": "struggle", "topic": "fractions", "indicators": [],
                          "duration_seconds": 60});
    let i = &start_workflow(&app, &session, struggle, "intervention.started").await;
    use Method as M;
    use Setup as S;

    #[rustfmt::skip]
    let rows: Vec<Row> = vec![
        //                                                                         anon unrel stud teach oteach memb couns gadm padm sibad sibco audit sys
        (M::GET,    format!("/groups/{g}"), None, S::None,                         [401, 404, 404, 404, 404, 200, 200, 200, 200, 404, 404, 404, 200]),
        (M::PATCH,  format!("/groups/{g}"), Some(json!({"name": "School"})), S::None,
                                                                                   [401, 404, 404, 404, 404, 403, 403, 200, 200, 404, 404, 404, 200]),
        (M::POST,   "/groups/{fresh_group}/archive".into(), None, S::FreshSubgroup,[401, 404, 404, 404, 404, 404, 403, 200, 200, 404, 404, 404, 200]),
        (M::POST,   format!("/groups/{g}/move"), Some(json!({"parent_id": d})), S::None,
                                                                                   [401, 404, 404, 404, 404, 403, 403, 422, 200, 404, 404, 404, 200]),
        (M::POST,   "/groups".into(), Some(json!({"name": "Top"})), S::None,       [401, 403, 403, 403, 403, 403, 403, 403, 403, 403, 403, 403, 201]),
        (M::POST,   "/groups".into(), Some(json!({"name": "Sub", "parent_id": g})), S::None,
                                                                                   [401, 422, 422, 422, 422, 403, 403, 201, 201, 422, 422, 422, 201]),
        (M::GET,    "/groups".into(), None, S::None,                               [401, 200, 200, 200, 200, 200, 200, 200, 200, 200, 200, 200, 200]),
        (M::GET,    format!("/groups/{g}/members"), None, S::None,                 [401, 404, 404, 404, 404, 403, 403, 200, 200, 404, 404, 404, 200]),
        (M::PUT,    format!("/groups/{g}/members/{t}"), Some(json!({"role": "member"})), S::None,
                                                                                   [401, 404, 404, 404, 404, 403, 403, 200, 200, 404, 404, 404, 200]),
        (M::DELETE, format!("/groups/{g}/members/{t}"), None, S::TargetInGroup,    [401, 404, 404, 404, 404, 403, 403, 204, 204, 404, 404, 404, 204]),
        (M::GET,    format!("/groups/{g}/classes"), None, S::None,                 [401, 404, 404, 404, 404, 403, 200, 200, 200, 404, 404, 404, 200]),
        (M::GET,    format!("/groups/{g}/usage"), None, S::None,                   [401, 404, 404, 404, 404, 403, 403, 200, 200, 404, 404, 404, 200]),
        (M::GET,    format!("/groups/{d}/usage"), None, S::None,                   [401, 404, 404, 404, 404, 404, 404, 404, 200, 404, 404, 404, 200]),
        (M::POST,   format!("/groups/{g}/classes"), Some(json!({"name": "New"})), S::None,
                                                                                   [401, 404, 404, 404, 404, 403, 403, 201, 201, 404, 404, 404, 201]),
        (M::GET,    format!("/classes/{c}"), None, S::None,                        [401, 404, 200, 200, 404, 404, 200, 200, 200, 404, 404, 404, 200]),
        (M::PATCH,  format!("/classes/{c}"), Some(json!({"name": "Algebra"})), S::None,
                                                                                   [401, 404, 403, 200, 404, 404, 403, 200, 200, 404, 404, 404, 200]),
        (M::POST,   "/classes/{fresh_class}/archive".into(), None, S::FreshClass,  [401, 404, 404, 404, 404, 404, 403, 200, 200, 404, 404, 404, 200]),
        (M::POST,   format!("/classes/{c}/move"), Some(json!({"group_id": g})), S::None,
                                                                                   [401, 404, 403, 403, 404, 404, 403, 200, 200, 404, 404, 404, 200]),
        (M::GET,    format!("/classes/{c}/members"), None, S::None,                [401, 404, 403, 200, 404, 404, 403, 200, 200, 404, 404, 404, 200]),
        (M::PUT,    format!("/classes/{c}/members/{t}"), Some(json!({"role": "student"})), S::None,
                                                                                   [401, 404, 403, 200, 404, 404, 403, 200, 200, 404, 404, 404, 200]),
        (M::DELETE, format!("/classes/{c}/members/{t}"), None, S::TargetInClass,   [401, 404, 403, 204, 404, 404, 403, 204, 204, 404, 404, 404, 204]),
        // Adding someone of another school (outsider, a member of the sibling school): only
        // who can already see them (the district's admin) or a system admin; anyone else who
        // manages the members gets the 422 of an unknown account (account.add_to_roster).
        (M::PUT,    format!("/groups/{g}/members/{o}"), Some(json!({"role": "member"})), S::OutsiderAway,
                                                                                   [401, 404, 404, 404, 404, 403, 403, 422, 200, 404, 404, 404, 200]),
        (M::PUT,    format!("/classes/{c}/members/{o}"), Some(json!({"role": "student"})), S::OutsiderAway,
                                                                                   [401, 404, 403, 422, 404, 404, 403, 422, 200, 404, 404, 404, 200]),
        // Assignments: managed by the class's teachers and the admins above; read by its
        // students too (published ones); submissions made by students, seen by teachers and
        // admins above, graded by teachers (admins above see but do not grade).
        (M::GET,    format!("/classes/{c}/assignments"), None, S::None,            [401, 404, 200, 200, 404, 404, 403, 200, 200, 404, 404, 404, 200]),
        (M::POST,   format!("/classes/{c}/assignments"), Some(json!({"title": "Matrix"})), S::None,
                                                                                   [401, 404, 403, 201, 404, 404, 403, 201, 201, 404, 404, 404, 201]),
        (M::GET,    format!("/assignments/{a1}"), None, S::None,                   [401, 404, 200, 200, 404, 404, 404, 200, 200, 404, 404, 404, 200]),
        (M::PATCH,  format!("/assignments/{a1}"), Some(json!({"instructions": "Read"})), S::None,
                                                                                   [401, 404, 403, 200, 404, 404, 404, 200, 200, 404, 404, 404, 200]),
        (M::POST,   format!("/assignments/{a1}/publish"), None, S::None,           [401, 404, 403, 200, 404, 404, 404, 200, 200, 404, 404, 404, 200]),
        (M::GET,    format!("/assignments/{a1}/submissions"), None, S::None,       [401, 404, 403, 200, 404, 404, 404, 200, 200, 404, 404, 404, 200]),
        (M::POST,   format!("/assignments/{a2}/submissions"), Some(json!({"content": "x"})), S::None,
                                                                                   [401, 404, 201, 403, 404, 404, 404, 403, 403, 404, 404, 404, 403]),
        (M::GET,    format!("/submissions/{s1}"), None, S::None,                   [401, 404, 200, 200, 404, 404, 404, 200, 200, 404, 404, 404, 200]),
        (M::POST,   format!("/submissions/{s1}/grade"), Some(json!({"feedback": "Good"})), S::None,
                                                                                   [401, 404, 403, 200, 404, 404, 404, 403, 403, 404, 404, 404, 200]),
        (M::GET,    "/me/assignments".into(), None, S::None,                       [401, 200, 200, 200, 200, 200, 200, 200, 200, 200, 200, 200, 200]),
        // Themes: read with the group or class, set by the admins above (not by teachers).
        (M::GET,    format!("/groups/{g}/theme"), None, S::None,                   [401, 404, 404, 404, 404, 200, 200, 200, 200, 404, 404, 404, 200]),
        (M::PUT,    format!("/groups/{g}/theme"), Some(json!({"accent_color": "#16a34a"})), S::None,
                                                                                   [401, 404, 404, 404, 404, 403, 403, 200, 200, 404, 404, 404, 200]),
        (M::GET,    format!("/classes/{c}/theme"), None, S::None,                  [401, 404, 200, 200, 404, 404, 200, 200, 200, 404, 404, 404, 200]),
        (M::PUT,    format!("/classes/{c}/theme"), Some(json!({"primary_color": "#1d4ed8"})), S::None,
                                                                                   [401, 404, 403, 403, 404, 404, 403, 200, 200, 404, 404, 404, 200]),
        (M::GET,    "/events?limit=1".into(), None, S::None,                       [401, 403, 403, 403, 403, 403, 403, 403, 403, 403, 403, 200, 200]),
        (M::GET,    format!("/streams/group/{g}"), None, S::None,                  [401, 403, 403, 403, 403, 403, 403, 403, 403, 403, 403, 200, 200]),
        (M::GET,    format!("/streams/group/{g}/state"), None, S::None,            [401, 403, 403, 403, 403, 403, 403, 403, 403, 403, 403, 200, 200]),
        (M::GET,    "/audit/verify".into(), None, S::None,                         [401, 403, 403, 403, 403, 403, 403, 403, 403, 403, 403, 200, 200]),
        (M::GET,    "/audit/verify/stream".into(), None, S::None,                  [401, 403, 403, 403, 403, 403, 403, 403, 403, 403, 403, 200, 200]),
        (M::GET,    "/audit/checkpoints".into(), None, S::None,                    [401, 403, 403, 403, 403, 403, 403, 403, 403, 403, 403, 200, 200]),
        (M::GET,    "/audit/public-key".into(), None, S::None,                     [200, 200, 200, 200, 200, 200, 200, 200, 200, 200, 200, 200, 200]),
        (M::GET,    "/me/memberships".into(), None, S::None,                       [401, 200, 200, 200, 200, 200, 200, 200, 200, 200, 200, 200, 200]),
        (M::GET,    "/me/abilities".into(), None, S::None,                         [401, 200, 200, 200, 200, 200, 200, 200, 200, 200, 200, 200, 200]),
        (M::GET,    "/auth/me".into(), None, S::None,                              [401, 200, 200, 200, 200, 200, 200, 200, 200, 200, 200, 200, 200]),
        (M::POST,   format!("/users/{victim}/disable"), None, S::None,             [401, 403, 403, 403, 403, 403, 403, 403, 403, 403, 403, 403, 200]),
        (M::GET,    format!("/realtime/updates?topic=class.{c}.dashboard&after=0"), None, S::None,
                                                                                   [401, 404, 403, 200, 404, 404, 200, 200, 200, 404, 404, 404, 200]),
        (M::GET,    format!("/realtime/updates?topic=class.{c}.interventions&after=0"), None, S::None,
                                                                                   [401, 404, 403, 200, 404, 404, 200, 200, 200, 404, 404, 200, 200]),
        (M::GET,    format!("/realtime/updates?topic=class.{c}.safety_concerns&after=0"), None, S::None,
                                                                                   [401, 404, 403, 403, 404, 404, 200, 200, 200, 404, 404, 404, 200]),
        (M::GET,    format!("/realtime/updates?topic=user.{student}.notifications&after=0"), None, S::None,
                                                                                   [401, 403, 200, 403, 403, 403, 403, 403, 403, 403, 403, 403, 403]),
        // Workflows. Safety concerns: read by the counselors and admins above the class, auditors
        // and system admins; acknowledged and resolved by the same but auditors (who cannot
        // read the class: 404 as for any write there). Everyone signed in may list the
        // concerns they may handle (maybe none). The intervention log and a struggle
        // intervention: also the class's teachers.
        (M::GET,    "/safety-concerns".into(), None, S::None,                      [401, 200, 200, 200, 200, 200, 200, 200, 200, 200, 200, 200, 200]),
        (M::GET,    format!("/safety-concerns?class_id={c}"), None, S::None,       [401, 404, 403, 403, 404, 404, 200, 200, 200, 404, 404, 200, 200]),
        (M::GET,    format!("/safety-concerns/{k}"), None, S::None,               [401, 404, 403, 403, 404, 404, 200, 200, 200, 404, 404, 200, 200]),
        (M::POST,   "/safety-concerns/{fresh_concern}/acknowledge".into(), None, S::FreshConcern,
                                                                                   [401, 404, 403, 403, 404, 404, 200, 200, 200, 404, 404, 404, 200]),
        (M::POST,   "/safety-concerns/{fresh_concern}/resolve".into(),
                    Some(json!({"outcome": "addressed", "notes": "Spoke with them."})), S::FreshConcern,
                                                                                   [401, 404, 403, 403, 404, 404, 200, 200, 200, 404, 404, 404, 200]),
        (M::GET,    format!("/workflows/{k}"), None, S::None,                      [401, 404, 403, 403, 404, 404, 200, 200, 200, 404, 404, 200, 200]),
        (M::GET,    format!("/classes/{c}/interventions"), None, S::None,          [401, 404, 403, 200, 404, 404, 200, 200, 200, 404, 404, 200, 200]),
        (M::GET,    format!("/workflows/{i}"), None, S::None,                      [401, 404, 403, 200, 404, 404, 200, 200, 200, 404, 404, 200, 200]),
    ];

    let mut failures = Vec::new();
    for (method, path, body, setup, expected) in &rows {
        for (column, caller) in CALLERS.iter().enumerate() {
            let mut path = path.clone();
            match setup {
                S::None => {}
                S::FreshSubgroup => {
                    let fresh = app.create_group("Fresh", Some(g)).await;
                    path = path.replace("{fresh_group}", fresh["id"].as_str().unwrap());
                }
                S::FreshClass => {
                    let fresh: Value = app
                        .post_json(&format!("/groups/{g}/classes"), &json!({"name": "Fresh"}))
                        .await
                        .json()
                        .await
                        .unwrap();
                    path = path.replace("{fresh_class}", fresh["id"].as_str().unwrap());
                }
                S::TargetInGroup => {
                    assert_eq!(
                        put(
                            &app,
                            &format!("/groups/{g}/members/{t}"),
                            json!({"role": "member"})
                        )
                        .await,
                        200
                    );
                }
                S::OutsiderAway => {
                    for roster in [format!("/groups/{g}"), format!("/classes/{c}")] {
                        let status = app
                            .request(Method::DELETE, &format!("{roster}/members/{o}"))
                            .send()
                            .await
                            .unwrap()
                            .status()
                            .as_u16();
                        assert!(status == 204 || status == 404, "{roster}: {status}");
                    }
                }
                S::FreshConcern => {
                    let fresh =
                        start_workflow(&app, &session, monitor_concern(), "safety_concern.opened")
                            .await;
                    path = path.replace("{fresh_concern}", &fresh);
                }
                S::TargetInClass => {
                    assert_eq!(
                        put(
                            &app,
                            &format!("/classes/{c}/members/{t}"),
                            json!({"role": "student"})
                        )
                        .await,
                        200
                    );
                }
            }
            let mut request = app.http.request(method.clone(), app.url(&path));
            if let Some(token) = w.tokens.get(caller) {
                request = request.bearer_auth(token);
            }
            if let Some(body) = body {
                request = request.json(body);
            }
            let status = request.send().await.unwrap().status().as_u16();
            if status != expected[column] {
                failures.push(format!(
                    "{method} {path} as {caller}: expected {}, got {status}",
                    expected[column]
                ));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "authorization matrix:\n{}",
        failures.join("\n")
    );
}

#[tokio::test]
async fn hierarchy_cycles_last_admin_and_immediate_effect() {
    let app = spawn_app().await;
    let w = world(&app).await;
    let (d, g, sib, c) = (
        &w.ids["district"],
        &w.ids["school"],
        &w.ids["sibling"],
        &w.ids["class"],
    );
    let padmin = &w.tokens["parent_admin"];

    // The district admin manages a class two levels down; a sibling's admin does not.
    assert_eq!(
        app.status_as(
            padmin,
            Method::PATCH,
            &format!("/classes/{c}"),
            Some(json!({"name": "Algebra II"}))
        )
        .await,
        200
    );
    assert_eq!(
        app.status_as(
            &w.tokens["sibling_admin"],
            Method::GET,
            &format!("/classes/{c}"),
            None
        )
        .await,
        404
    );

    // Inherited memberships are listed.
    let memberships: Value = app
        .http
        .get(app.url("/me/memberships"))
        .bearer_auth(padmin)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let items = memberships["items"].as_array().unwrap();
    assert!(items
        .iter()
        .any(|m| m["id"] == d.as_str() && m["role"] == "admin" && m["inherited_from"].is_null()));
    assert!(items
        .iter()
        .any(|m| m["id"] == g.as_str() && m["inherited_from"] == d.as_str()));
    assert!(items
        .iter()
        .any(|m| m["kind"] == "class" && m["id"] == c.as_str()));
    let abilities: Value = app
        .http
        .get(app.url("/me/abilities"))
        .bearer_auth(&w.tokens["student"])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let class_abilities: Vec<&str> = abilities["classes"][c.as_str()]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap())
        .collect();
    assert_eq!(
        class_abilities,
        [
            "class.read",
            "class.read_assignments",
            "class.create_learning_session",
            "class.create_submission"
        ]
    );
    assert!(abilities["system"].as_array().unwrap().is_empty());

    // Cycles are refused: the district cannot move under its own school.
    let cycle = app
        .post_json(&format!("/groups/{d}/move"), &json!({"parent_id": g}))
        .await;
    assert_eq!(cycle.status(), 422);
    let problem: Value = cycle.json().await.unwrap();
    assert_eq!(
        problem["type"],
        "https://raptscallions.app/problems/group-cycle"
    );
    let itself = app
        .post_json(&format!("/groups/{g}/move"), &json!({"parent_id": g}))
        .await;
    assert_eq!(itself.status(), 422);

    // Moving the school under the sibling moves its subtree: the sibling's admin now
    // manages the class, the district admin still does (through the sibling).
    let moved = app
        .post_json(&format!("/groups/{g}/move"), &json!({"parent_id": sib}))
        .await;
    assert_eq!(moved.status(), 200);
    let moved: Value = moved.json().await.unwrap();
    assert_eq!(moved["path"], json!([d, sib, g]));
    assert_eq!(
        app.status_as(
            &w.tokens["sibling_admin"],
            Method::GET,
            &format!("/classes/{c}"),
            None
        )
        .await,
        200
    );
    assert_eq!(
        app.status_as(padmin, Method::GET, &format!("/classes/{c}"), None)
            .await,
        200
    );
    // Archived groups are not a target.
    let archived = app.create_group("Archived", Some(d)).await;
    let archived_id = archived["id"].as_str().unwrap();
    app.post(&format!("/groups/{archived_id}/archive")).await;
    let refused = app
        .post_json(
            &format!("/groups/{g}/move"),
            &json!({"parent_id": archived_id}),
        )
        .await;
    assert_eq!(refused.status(), 422);

    // The last admin of a top-level group stays unless a system admin removes them.
    let padmin_id = &w.ids["parent_admin"];
    let last = app
        .status_as(
            padmin,
            Method::DELETE,
            &format!("/groups/{d}/members/{padmin_id}"),
            None,
        )
        .await;
    assert_eq!(last, 409);
    let lowered = app
        .status_as(
            padmin,
            Method::PUT,
            &format!("/groups/{d}/members/{padmin_id}"),
            Some(json!({"role": "member"})),
        )
        .await;
    assert_eq!(lowered, 409);

    // Removal takes effect on the very next request.
    let gadmin = &w.tokens["group_admin"];
    let gadmin_id = &w.ids["group_admin"];
    assert_eq!(
        app.status_as(gadmin, Method::GET, &format!("/groups/{g}/members"), None)
            .await,
        200
    );
    let removed = app
        .request(Method::DELETE, &format!("/groups/{g}/members/{gadmin_id}"))
        .send()
        .await
        .unwrap();
    assert_eq!(removed.status(), 204);
    assert_eq!(
        app.status_as(gadmin, Method::GET, &format!("/groups/{g}"), None)
            .await,
        404
    );
    // A lowered role too: the counselor becomes a plain member.
    let counselor_id = &w.ids["counselor"];
    assert_eq!(
        put(
            &app,
            &format!("/groups/{g}/members/{counselor_id}"),
            json!({"role": "member"})
        )
        .await,
        200
    );
    assert_eq!(
        app.status_as(
            &w.tokens["counselor"],
            Method::GET,
            &format!("/classes/{c}"),
            None
        )
        .await,
        404
    );

    // The system admin may remove the last admin.
    let by_admin = app
        .request(Method::DELETE, &format!("/groups/{d}/members/{padmin_id}"))
        .send()
        .await
        .unwrap();
    assert_eq!(by_admin.status(), 204);

    // Bad roles and unknown users.
    let bad_role = app
        .request(Method::PUT, &format!("/groups/{g}/members/{gadmin_id}"))
        .json(&json!({"role": "emperor"}))
        .send()
        .await
        .unwrap();
    assert_eq!(bad_role.status(), 422);
    let unknown_user = app
        .request(
            Method::PUT,
            &format!("/groups/{g}/members/0195a3a0-0000-7000-8000-0000000000ff"),
        )
        .json(&json!({"role": "member"}))
        .send()
        .await
        .unwrap();
    assert_eq!(unknown_user.status(), 422);
}
