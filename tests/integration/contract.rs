//! The OpenAPI document is a contract: schemathesis (installed by `scripts/test.sh`)
//! generates requests for every operation from the served document, including its examples
//! and bodies that break the schema, and checks each answer: never a 500, a status the
//! operation documents, the content type it documents, a body that fits its schema. The
//! ids in paths come from a real school ([`SchoolFixture`], plus a detection and an
//! assessment of its learning session), so the checks reach past 404; the
//! operations that change what others rely on (archive, move, complete, review, revoke,
//! member changes) get spare copies of their own.

use std::collections::BTreeMap;

use reqwest::Method;
use serde_json::{json, Value};
use tests::{
    send, spawn_app_with, NatsServer, SchoolFixture, TestApp, TestOptions, ADMIN_EMAIL,
    ADMIN_PASSWORD,
};

/// A fixed seed and a case budget keep the run repeatable and under a minute.
const SEED: &str = "20261126";
const CASES_PER_OPERATION: &str = "10";

#[tokio::test]
async fn the_server_keeps_its_openapi_contract() {
    // A secured NATS, so that realtime credentials are issued (not 503).
    let nats = NatsServer::start_secured().await;
    let app = spawn_app_with(TestOptions::secured_nats(
        &nats,
        &[("AUTH_RATE_LIMIT_PER_MINUTE", "100000")],
    ))
    .await;
    let id = |v: &Value| v["id"].as_str().unwrap().to_owned();
    let f = SchoolFixture::build(&app).await;
    let (admin, teacher, student) = (&app.token, &f.teachers[0].token, &f.student.token);
    // What destructive operations (archive, move, complete, review, revoke, member and
    // account changes) are aimed at: the fixture's sibling school, second class and plain
    // member, and spares made here, so that whatever order the operations run in, the
    // others still find the class, its members, the session and the tokens as built.
    let spare_tool = created_in(&app, &format!("/groups/{}/tools", f.school), "Quiz").await;
    let spare_service = json!({"name": "Spare service", "group_ids": [f.school]});
    let (_, spare_service) = send(
        &app,
        admin,
        Method::POST,
        "/service-accounts",
        Some(spare_service),
    )
    .await;
    let spare_service = id(&spare_service);
    let spare_session = f.start_session(&app, &f.student).await;
    let assess = json!({
        "scores": [{"criterion": "Shows each step", "score": 1, "max": 2}],
        "confidence": 0.5,
        "trace": {"model": "m", "prompt_hash": "h", "input_snapshot": {},
                  "raw_response": "r", "parsed_result": {}}
    });
    let session_path = |what: &str| format!("/learning-sessions/{}/{what}", f.session);
    let mut ids = vec![];
    for (what, body) in [
        (
            "detections",
            json!({"type": "struggle", "topic": "fractions",
                              "indicators": ["long pauses"], "duration_seconds": 300}),
        ),
        ("assessments", assess.clone()),
        ("assessments", assess),
    ] {
        let (status, body) = send(
            &app,
            &f.service,
            Method::POST,
            &session_path(what),
            Some(body),
        )
        .await;
        assert!(status < 300, "fixture: POST {what}: {body}");
        ids.push(body["id"].as_str().map(str::to_owned));
    }
    let (assessment, spare_assessment) = (ids[1].clone().unwrap(), ids[2].clone().unwrap());
    // A second session of the admin's, for `DELETE /auth/sessions/{id}`: schemathesis reuses
    // ids it saw in answers, and would otherwise end the session the run uses.
    let login = json!({"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD});
    let (_, spare_login) = send(&app, admin, Method::POST, "/auth/login", Some(login)).await;
    let spare_session_of_admin = spare_login["session"]["id"].as_str().unwrap().to_owned();
    let (school, class, spare_class, tool) = (&f.school, &f.class, &f.other_class, &f.tool);
    let (spare_group, other, student_id) = (&f.sibling, &f.member.id, &f.student.id);
    let (service, session) = (&f.service, &f.session);
    let dashboard_topic = format!("class.{class}.dashboard");
    // Which token and which ids each group of operations gets, the first matching entry
    // winning (schemathesis's rule); the rest run as the admin.
    let operations: Vec<(&str, &String, BTreeMap<&str, &str>)> = vec![
        (
            r"^/groups/\{id\}/(archive|move)$",
            admin,
            [("id", spare_group.as_str())].into(),
        ),
        (
            r"^/groups/\{id\}",
            admin,
            [("id", school.as_str()), ("user_id", other.as_str())].into(),
        ),
        (
            r"^/classes/\{id\}/(archive|move|members/\{user_id\})$",
            admin,
            [("id", spare_class.as_str()), ("user_id", other.as_str())].into(),
        ),
        (
            r"^/classes/\{id\}",
            teacher,
            [("id", class.as_str()), ("user_id", student_id.as_str())].into(),
        ),
        (
            r"^/tools/\{id\}/archive$",
            admin,
            [("id", spare_tool.as_str())].into(),
        ),
        (r"^/tools/\{id\}", admin, [("id", tool.as_str())].into()),
        (
            r"^/learning-sessions/\{id\}/(detections|assessments)$",
            service,
            [("id", session.as_str())].into(),
        ),
        (
            r"^/learning-sessions/\{id\}/(pause|resume|complete)$",
            student,
            [("id", spare_session.as_str())].into(),
        ),
        (
            r"^/learning-sessions",
            student,
            [("id", session.as_str())].into(),
        ),
        (
            r"^/assessments/\{id\}/review$",
            teacher,
            [("id", spare_assessment.as_str())].into(),
        ),
        (
            r"^/assessments/\{id\}",
            teacher,
            [("id", assessment.as_str())].into(),
        ),
        (
            r"^/service-accounts/\{id\}",
            admin,
            [("id", spare_service.as_str())].into(),
        ),
        (r"^/users/\{id\}", admin, [("id", other.as_str())].into()),
        (
            r"^/realtime/updates$",
            teacher,
            [
                ("query.topic", dashboard_topic.as_str()),
                ("query.after", "0"),
            ]
            .into(),
        ),
        (
            r"^/auth/sessions/\{id\}$",
            admin,
            [("id", spare_session_of_admin.as_str())].into(),
        ),
    ];
    let mut config = String::from("[phases.stateful]\nenabled = false\n\n");
    for (path, token, parameters) in operations {
        let parameters: Vec<String> = parameters
            .iter()
            .map(|(name, value)| {
                // A bare name is a path parameter; `query.…` names a query parameter.
                let name = if name.contains('.') {
                    (*name).to_owned()
                } else {
                    format!("path.{name}")
                };
                format!("\"{name}\" = {}", json!(value))
            })
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

/// Creates `name` at `path` as the admin; its id.
async fn created_in(app: &TestApp, path: &str, name: &str) -> String {
    let (status, body) = send(
        app,
        &app.token,
        Method::POST,
        path,
        Some(json!({ "name": name })),
    )
    .await;
    assert_eq!(status, 201, "fixture: POST {path}: {body}");
    body["id"].as_str().unwrap().to_owned()
}
