//! The OpenAPI document is a contract: schemathesis (installed by `scripts/test.sh`)
//! generates requests for every operation from the served document, including its examples
//! and bodies that break the schema, and checks each answer: never a 500, a status the
//! operation documents, the content type it documents, a body that fits its schema. The
//! ids in paths come from a real school (a class with a teacher and a student, a tool, a
//! learning session with a detection and an assessment), so the checks reach past 404.

use std::collections::BTreeMap;

use serde_json::{json, Value};
use tests::{register, spawn_app_with, TestOptions};

/// A fixed seed and a case budget keep the run repeatable and under a minute.
const SEED: &str = "20261126";
const CASES_PER_OPERATION: &str = "20";

#[tokio::test]
async fn the_server_keeps_its_openapi_contract() {
    let app = spawn_app_with(TestOptions {
        env: vec![("AUTH_RATE_LIMIT_PER_MINUTE".into(), "100000".into())],
        ..TestOptions::default()
    })
    .await;
    let id = |v: &Value| v["id"].as_str().unwrap().to_owned();
    let school = id(&app.create_group("Lincoln High School", None).await);
    let class = id(&created(
        &app,
        &format!("/groups/{school}/classes"),
        json!({"name": "Algebra I"}),
    )
    .await);
    let tool = id(&created(
        &app,
        &format!("/groups/{school}/tools"),
        json!({"name": "Tutor"}),
    )
    .await);
    let (teacher, teacher_user) = register(&app, "teacher@example.org", "teacher password").await;
    let (student, student_user) = register(&app, "student@example.org", "student password").await;
    // Disabling and promoting are tried on an account of its own, so that the teacher and the
    // student keep their sessions whatever order the operations run in.
    let (_, other_user) = register(&app, "other@example.org", "other password").await;
    for (user, role) in [(&teacher_user, "teacher"), (&student_user, "student")] {
        let response = app
            .request(
                reqwest::Method::PUT,
                &format!("/classes/{class}/members/{}", id(user)),
            )
            .json(&json!({"role": role}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "fixture: {role}");
    }
    let service = created(
        &app,
        "/service-accounts",
        json!({"name": "Tutor service", "group_ids": [school]}),
    )
    .await["secret"]
        .as_str()
        .unwrap()
        .to_owned();
    let session = app
        .http
        .post(app.url("/learning-sessions"))
        .bearer_auth(&student)
        .json(&json!({"class_id": class, "tool_id": tool}))
        .send()
        .await
        .unwrap();
    assert_eq!(session.status(), 201, "fixture: learning session");
    let session = id(&session.json().await.unwrap());
    let assessment = app
        .http
        .post(app.url(&format!("/learning-sessions/{session}/assessments")))
        .bearer_auth(&service)
        .json(&json!({
            "scores": [{"criterion": "Shows each step", "score": 1, "max": 2}],
            "confidence": 0.5,
            "trace": {"model": "m", "prompt_hash": "h", "input_snapshot": {},
                      "raw_response": "r", "parsed_result": {}}
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(assessment.status(), 201, "fixture: assessment");
    let assessment = id(&assessment.json().await.unwrap());

    let (other, student_id) = (id(&other_user), id(&student_user));
    // Which token and which ids each group of operations gets; the rest run as the admin.
    let operations: [(&str, &str, BTreeMap<&str, &str>); 7] = [
        (
            r"^/groups/\{id\}",
            &app.token,
            [("id", school.as_str()), ("user_id", other.as_str())].into(),
        ),
        (
            r"^/classes/\{id\}",
            &teacher,
            [("id", class.as_str()), ("user_id", student_id.as_str())].into(),
        ),
        (
            r"^/tools/\{id\}",
            &app.token,
            [("id", tool.as_str())].into(),
        ),
        (
            r"^/learning-sessions/\{id\}/(detections|assessments)$",
            &service,
            [("id", session.as_str())].into(),
        ),
        (
            r"^/learning-sessions",
            &student,
            [("id", session.as_str())].into(),
        ),
        (
            r"^/assessments/\{id\}",
            &teacher,
            [("id", assessment.as_str())].into(),
        ),
        (
            r"^/users/\{id\}",
            &app.token,
            [("id", other.as_str())].into(),
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
        // Server-sent event streams do not end.
        .args(["--exclude-path-regex", "/stream"])
        .args(["--checks", "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance"])
        .args(["--max-examples", CASES_PER_OPERATION, "--seed", SEED])
        .args(["--workers", "1", "--generation-database", "none"])
        .args(["--no-color"])
        .output()
        .await
        .expect("python3 runs");
    let report = String::from_utf8_lossy(&output.stdout);
    let _ = std::fs::remove_dir_all(&dir);
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
