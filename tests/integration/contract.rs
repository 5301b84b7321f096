//! The OpenAPI document is a contract: schemathesis (installed by `scripts/test.sh`)
//! generates requests for every operation from the served document, including its examples
//! and bodies that break the schema, and checks each answer: never a 500, a status the
//! operation documents, the content type it documents, a body that fits its schema. The
//! ids in paths come from a real school (a class with a teacher and a student, a tool, a
//! learning session with a detection and an assessment), so the checks reach past 404; the
//! operations that change what others rely on (archive, move, complete, review, revoke,
//! member changes) get spare copies of their own.

use std::collections::BTreeMap;

use serde_json::{json, Value};
use tests::{register, spawn_app_with, TestOptions};

/// A fixed seed and a case budget keep the run repeatable and under a minute.
const SEED: &str = "20261126";
const CASES_PER_OPERATION: &str = "10";

#[tokio::test]
async fn the_server_keeps_its_openapi_contract() {
    let app = spawn_app_with(TestOptions {
        env: vec![("AUTH_RATE_LIMIT_PER_MINUTE".into(), "100000".into())],
        ..TestOptions::default()
    })
    .await;
    let id = |v: &Value| v["id"].as_str().unwrap().to_owned();
    let admin = app.token.clone();
    let school = id(&app.create_group("Lincoln High School", None).await);
    // What destructive operations (archive, move, complete, review, revoke, member changes)
    // are aimed at: copies of their own, so that whatever order the operations run in, the
    // others still find the class, its members, the session and the tokens as set up.
    let spare_group = id(&app.create_group("Annex", Some(&school)).await);
    let class_in = |name: &'static str| {
        let app = &app;
        let school = school.clone();
        async move {
            id(&created(
                app,
                &format!("/groups/{school}/classes"),
                json!({ "name": name }),
            )
            .await)
        }
    };
    let class = class_in("Algebra I").await;
    let spare_class = class_in("Geometry").await;
    let tool_in = |name: &'static str| {
        let app = &app;
        let school = school.clone();
        async move {
            id(&created(
                app,
                &format!("/groups/{school}/tools"),
                json!({ "name": name }),
            )
            .await)
        }
    };
    let tool = tool_in("Tutor").await;
    let spare_tool = tool_in("Quiz").await;
    let (teacher, teacher_user) = register(&app, "teacher@example.org", "teacher password").await;
    let (student, student_user) = register(&app, "student@example.org", "student password").await;
    // Disabling, promoting and membership changes are tried on an account of its own.
    let (_, other_user) = register(&app, "other@example.org", "other password").await;
    let other = id(&other_user);
    for (user, role) in [(&teacher_user, "teacher"), (&student_user, "student")] {
        let response = app
            .request(
                reqwest::Method::PUT,
                &format!("/classes/{class}/members/{}", id(user)),
            )
            .json(&json!({ "role": role }))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "fixture: {role}");
    }
    let service_account = || {
        created(
            &app,
            "/service-accounts",
            json!({"name": "Tutor service", "group_ids": [school]}),
        )
    };
    let service = service_account().await["secret"]
        .as_str()
        .unwrap()
        .to_owned();
    let spare_service = id(&service_account().await);
    let as_token = |token: &str, path: String, body: Value| {
        let request = app.http.post(app.url(&path)).bearer_auth(token).json(&body);
        async move {
            let response = request.send().await.unwrap();
            assert!(response.status().is_success(), "fixture: POST {path}");
            response.json::<Value>().await.unwrap()
        }
    };
    let start = json!({"class_id": class, "tool_id": tool});
    let session = id(&as_token(&student, "/learning-sessions".into(), start.clone()).await);
    let spare_session = id(&as_token(&student, "/learning-sessions".into(), start).await);
    as_token(
        &service,
        format!("/learning-sessions/{session}/detections"),
        json!({"type": "struggle", "topic": "fractions", "indicators": ["long pauses"],
               "duration_seconds": 300}),
    )
    .await;
    let assess = json!({
        "scores": [{"criterion": "Shows each step", "score": 1, "max": 2}],
        "confidence": 0.5,
        "trace": {"model": "m", "prompt_hash": "h", "input_snapshot": {},
                  "raw_response": "r", "parsed_result": {}}
    });
    let assessments = format!("/learning-sessions/{session}/assessments");
    let assessment = id(&as_token(&service, assessments.clone(), assess.clone()).await);
    let spare_assessment = id(&as_token(&service, assessments, assess).await);

    // A second session of the admin's, for `DELETE /auth/sessions/{id}`: schemathesis reuses
    // ids it saw in answers, and would otherwise end the session the run uses.
    let spare_login: Value = app
        .http
        .post(app.url("/auth/login"))
        .json(&json!({"email": tests::ADMIN_EMAIL, "password": tests::ADMIN_PASSWORD}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let spare_session_of_admin = spare_login["session"]["id"].as_str().unwrap().to_owned();
    let student_id = id(&student_user);
    // Which token and which ids each group of operations gets, the first matching entry
    // winning (schemathesis's rule); the rest run as the admin.
    let operations: Vec<(&str, &str, BTreeMap<&str, &str>)> = vec![
        (
            r"^/groups/\{id\}/(archive|move)$",
            &admin,
            [("id", spare_group.as_str())].into(),
        ),
        (
            r"^/groups/\{id\}",
            &admin,
            [("id", school.as_str()), ("user_id", other.as_str())].into(),
        ),
        (
            r"^/classes/\{id\}/(archive|move|members/\{user_id\})$",
            &admin,
            [("id", spare_class.as_str()), ("user_id", other.as_str())].into(),
        ),
        (
            r"^/classes/\{id\}",
            &teacher,
            [("id", class.as_str()), ("user_id", student_id.as_str())].into(),
        ),
        (
            r"^/tools/\{id\}/archive$",
            &admin,
            [("id", spare_tool.as_str())].into(),
        ),
        (r"^/tools/\{id\}", &admin, [("id", tool.as_str())].into()),
        (
            r"^/learning-sessions/\{id\}/(detections|assessments)$",
            &service,
            [("id", session.as_str())].into(),
        ),
        (
            r"^/learning-sessions/\{id\}/(pause|resume|complete)$",
            &student,
            [("id", spare_session.as_str())].into(),
        ),
        (
            r"^/learning-sessions",
            &student,
            [("id", session.as_str())].into(),
        ),
        (
            r"^/assessments/\{id\}/review$",
            &teacher,
            [("id", spare_assessment.as_str())].into(),
        ),
        (
            r"^/assessments/\{id\}",
            &teacher,
            [("id", assessment.as_str())].into(),
        ),
        (
            r"^/service-accounts/\{id\}",
            &admin,
            [("id", spare_service.as_str())].into(),
        ),
        (r"^/users/\{id\}", &admin, [("id", other.as_str())].into()),
        (
            r"^/auth/sessions/\{id\}$",
            &admin,
            [("id", spare_session_of_admin.as_str())].into(),
        ),
    ];
    let mut config = String::from("[phases.stateful]\nenabled = false\n\n");
    for (path, token, parameters) in operations {
        let parameters: Vec<String> = parameters
            .iter()
            .map(|(name, value)| format!("\"path.{name}\" = {}", json!(value)))
            .collect();
        config.push_str(&format!(
            "[[operations]]\ninclude-path-regex = {}\nheaders = {{ Authorization = {} }}\n\
             parameters = {{ {} }}\n\n",
            json!(path),
            json!(format!("Bearer {token}")),
            parameters.join(", ")
        ));
    }
    let dir = std::env::temp_dir().join(format!("rapt-contract-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let config_path = dir.join("schemathesis.toml");
    std::fs::write(&config_path, config).unwrap();

    // The CLI through Python, so that it does not matter where pip put the `st` script.
    let output = tokio::process::Command::new("python3")
        .args([
            "-c",
            "import sys; from schemathesis.cli import schemathesis; sys.argv[0] = 'st'; schemathesis()",
        ])
        .current_dir(&dir)
        .arg("--config-file")
        .arg(&config_path)
        .args(["run", &app.url("/openapi.json")])
        .args(["--header", &format!("Authorization: Bearer {}", app.token)])
        // These would end the admin's session (or change its password) for the rest of the
        // run; the auth tests cover them.
        .args(["--exclude-path-regex", "^/auth/(logout|logout-all|password)$"])
        .args(["--checks", "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance"])
        .args(["--max-examples", CASES_PER_OPERATION, "--seed", SEED])
        .args(["--workers", "1", "--generation-database", "none"])
        // Generous per request (the suite runs tests in parallel on two cores), and a
        // budget for the whole run besides the test's own timeout below.
        .args(["--request-timeout", "30", "--max-time", "60"])
        .args(["--no-color"])
        .kill_on_drop(true)
        .output();
    let output = tokio::time::timeout(std::time::Duration::from_secs(300), output)
        .await
        .expect("schemathesis finished within 5 minutes")
        .expect("python3 runs");
    let report = String::from_utf8_lossy(&output.stdout);
    let _ = std::fs::remove_dir_all(&dir);
    eprintln!("{report}");
    assert!(
        output.status.success(),
        "schemathesis (scripts/test.sh installs it) failed or found answers that break the \
         document:\n{report}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let tested: usize = report
        .lines()
        .find_map(|line| line.trim().strip_prefix("Tested: "))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or(0);
    assert!(tested >= 60, "{tested} operations tested:\n{report}");
}

/// `POST path` as the admin, answered 201; the body.
async fn created(app: &tests::TestApp, path: &str, body: Value) -> Value {
    let response = app.post_json(path, &body).await;
    assert_eq!(response.status(), 201, "fixture: POST {path}");
    response.json().await.unwrap()
}
