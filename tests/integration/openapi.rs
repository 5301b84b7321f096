//! The OpenAPI document as a generated client sees it: a linter's verdict (spectral, ruleset
//! `spectral:oas`, installed by `scripts/test.sh` in `tests/support/spectral`), the security
//! schemes and which operations need them, closed sets as enums, each operation's own error
//! statuses, and schema names that generators do not shadow. `contract.rs` holds the
//! server's answers to the document.

use std::collections::BTreeSet;

use reqwest::Method;
use serde_json::{json, Value};
use tests::{spawn_app, TestApp};

async fn served_document(app: &TestApp) -> Value {
    app.get("/openapi.json").await.json().await.unwrap()
}

/// Every operation: `(method, path, operation)`.
fn operations(document: &Value) -> Vec<(String, String, Value)> {
    let mut all = vec![];
    for (path, operations) in document["paths"].as_object().unwrap() {
        for (method, operation) in operations.as_object().unwrap() {
            all.push((method.clone(), path.clone(), operation.clone()));
        }
    }
    all
}

fn operation<'a>(document: &'a Value, path: &str, method: &str) -> &'a Value {
    let operation = &document["paths"][path][method];
    assert!(operation.is_object(), "{method} {path} documented");
    operation
}

fn statuses(operation: &Value) -> BTreeSet<String> {
    operation["responses"]
        .as_object()
        .unwrap()
        .keys()
        .cloned()
        .collect()
}

#[tokio::test]
async fn the_document_lints_clean_with_spectral() {
    let app = spawn_app().await;
    let document = served_document(&app).await;
    let dir = std::env::temp_dir().join(format!("rapt-spectral-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let (spec, report) = (dir.join("openapi.json"), dir.join("report.json"));
    std::fs::write(&spec, document.to_string()).unwrap();
    let spectral = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/support/spectral/node_modules/.bin/spectral"
    );
    assert!(
        std::path::Path::new(spectral).exists(),
        "run `npm ci --prefix tests/support/spectral` (scripts/test.sh does)"
    );
    let output = tokio::process::Command::new(spectral)
        .arg("lint")
        .arg(&spec)
        .arg("--ruleset")
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/support/spectral/ruleset.yaml"
        ))
        .args(["--format", "json", "--fail-severity", "warn", "--output"])
        .arg(&report)
        .kill_on_drop(true)
        .output();
    let output = tokio::time::timeout(std::time::Duration::from_secs(120), output)
        .await
        .expect("spectral finished within 2 minutes")
        .expect("spectral runs");
    let results: Value =
        serde_json::from_str(&std::fs::read_to_string(&report).unwrap_or_default())
            .unwrap_or(Value::Null);
    let _ = std::fs::remove_dir_all(&dir);
    // Severities: 0 error, 1 warning, 2 information, 3 hint.
    let findings: Vec<String> = results
        .as_array()
        .unwrap_or_else(|| {
            panic!(
                "spectral wrote no report:\n{}\n{}",
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            )
        })
        .iter()
        .filter(|r| r["severity"].as_u64().is_some_and(|s| s <= 1))
        .map(|r| {
            let at: Vec<String> = r["path"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|p| p.as_str().map_or_else(|| p.to_string(), str::to_owned))
                .collect();
            format!(
                "{} {}: {} ({})",
                r["severity"],
                r["code"],
                r["message"],
                at.join(".")
            )
        })
        .collect();
    assert!(
        findings.is_empty() && output.status.success(),
        "spectral (spectral:oas) found {} errors or warnings:\n{}",
        findings.len(),
        findings.join("\n")
    );
}

/// The operations anyone may call; every other one needs the bearer token or the session
/// cookie.
const PUBLIC: [&str; 10] = [
    "register",
    "login",
    "requestPasswordReset",
    "confirmPasswordReset",
    "listProviders",
    "startExternalSignIn",
    "externalCallback",
    "health",
    "ready",
    "auditPublicKey",
];

#[tokio::test]
async fn the_document_declares_how_to_authenticate_and_which_operations_need_it() {
    let app = spawn_app().await;
    let document = served_document(&app).await;
    let schemes = &document["components"]["securitySchemes"];
    assert_eq!(schemes["bearer"]["type"], "http", "{schemes}");
    assert_eq!(schemes["bearer"]["scheme"], "bearer");
    assert_eq!(schemes["sessionCookie"]["type"], "apiKey");
    assert_eq!(schemes["sessionCookie"]["in"], "cookie");
    // The tests' server runs with `COOKIE_SECURE=false`: the plain name, and the other one
    // said in the description.
    let cookie = schemes["sessionCookie"]["name"].as_str().unwrap();
    assert!(["session", "__Host-session"].contains(&cookie), "{cookie}");
    assert!(schemes["sessionCookie"]["description"]
        .as_str()
        .unwrap()
        .contains("__Host-session"));
    assert_eq!(
        document["security"],
        json!([{"bearer": []}, {"sessionCookie": []}])
    );
    assert_eq!(api::openapi::PUBLIC_OPERATIONS, PUBLIC);

    // Each operation, called without credentials, says the same: a secured one answers
    // `401 unauthenticated`, a public one never does.
    let schemas = &document["components"]["schemas"];
    let mut wrong = vec![];
    for (method, path, operation) in operations(&document) {
        let id = operation["operationId"].as_str().unwrap();
        let public = PUBLIC.contains(&id);
        assert_eq!(
            operation["security"] == json!([]),
            public,
            "{method} {path}: security {}",
            operation["security"]
        );
        let mut url = path.clone();
        for (name, value) in [
            ("{provider}", "google".to_owned()),
            ("{aggregate_type}", "group".to_owned()),
            ("{aggregate_id}", uuid::Uuid::new_v4().to_string()),
            ("{id}", uuid::Uuid::new_v4().to_string()),
            ("{user_id}", uuid::Uuid::new_v4().to_string()),
        ] {
            url = url.replace(name, &value);
        }
        let required: Vec<&str> = operation["parameters"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|p| p["in"] == "query" && p["required"] == true)
            .filter_map(|p| p["name"].as_str())
            .collect();
        let query: Vec<String> = required
            .iter()
            .map(|name| match *name {
                "topic" => format!("topic=user.{}.notifications", uuid::Uuid::new_v4()),
                "after" => "after=0".to_owned(),
                other => panic!("{method} {path}: a value for the query parameter {other}"),
            })
            .collect();
        if !query.is_empty() {
            url = format!("{url}?{}", query.join("&"));
        }
        let mut request = app.http.request(
            Method::from_bytes(method.to_uppercase().as_bytes()).unwrap(),
            app.url(&url),
        );
        if let Some(reference) = operation["requestBody"]["content"]
            ["application/json; charset=utf-8"]["schema"]["$ref"]
            .as_str()
            .or_else(|| {
                operation["requestBody"]["content"]["application/json"]["schema"]["$ref"].as_str()
            })
        {
            let name = reference.trim_start_matches("#/components/schemas/");
            let schema = &schemas[name];
            // A union's example is its first kind's.
            let example = match schema["anyOf"][0]["$ref"].as_str() {
                Some(first) => {
                    let kind = &schemas[first.trim_start_matches("#/components/schemas/")];
                    let mut example = schemas[kind["allOf"][1]["$ref"]
                        .as_str()
                        .unwrap()
                        .trim_start_matches("#/components/schemas/")]["example"]
                        .clone();
                    example["type"] = kind["allOf"][0]["properties"]["type"]["enum"][0].clone();
                    example
                }
                None => schema["example"].clone(),
            };
            request = request.json(&example);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let body: Value = response.json().await.unwrap_or(Value::Null);
        let unauthenticated = body["type"] == "https://raptscallions.app/problems/unauthenticated";
        if public == unauthenticated || (!public && status != 401) {
            wrong.push(format!(
                "{method} {url} ({}) without credentials: {status} {body}",
                if public { "public" } else { "secured" }
            ));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[tokio::test]
async fn closed_sets_are_enums_in_the_document() {
    let app = spawn_app().await;
    let document = served_document(&app).await;
    let schemas = &document["components"]["schemas"];
    // The values of a member: its own enum, its items', or its referenced enum's.
    let values = |schema: &str, member: &str| -> Vec<String> {
        let mut property = schemas[schema]["properties"][member].clone();
        if property["items"].is_object() {
            property = property["items"].clone();
        }
        let reference = property["$ref"]
            .as_str()
            .or_else(|| property["allOf"][0]["$ref"].as_str());
        if let Some(reference) = reference {
            property = schemas[reference.trim_start_matches("#/components/schemas/")].clone();
        }
        property["enum"]
            .as_array()
            .unwrap_or_else(|| panic!("{schema}.{member} is an enum: {property}"))
            .iter()
            .map(|v| v.as_str().unwrap_or("null").to_owned())
            .collect()
    };
    let group_roles = ["admin", "counselor", "member"];
    let class_roles = ["teacher", "student"];
    let all_roles = ["admin", "counselor", "member", "teacher", "student"];
    let notification_kinds = [
        "misbehavior",
        "struggle",
        "safety_concern",
        "assessment_review",
    ];
    let concern_status = ["open", "acknowledged", "resolved"];
    let urgency = ["immediate", "same_day", "monitor"];
    let resolutions = [
        "addressed",
        "referred",
        "no_action_needed",
        "false_positive",
        "null",
    ];
    let expected: Vec<(&str, &str, &[&str])> = vec![
        ("SetRole", "role", &group_roles),
        ("SetClassRole", "role", &class_roles),
        ("MemberDto", "role", &all_roles),
        ("MembershipDto", "role", &all_roles),
        ("MembershipDto", "kind", &["group", "class"]),
        (
            "LearningSession",
            "status",
            &["active", "paused", "completed"],
        ),
        ("Notification", "kind", &notification_kinds),
        ("DeadLetter", "kind", &notification_kinds),
        ("SafetyConcernSummary", "status", &concern_status),
        ("SafetyConcernSummary", "urgency", &urgency),
        ("SafetyConcernSummary", "outcome", &resolutions),
        ("SafetyConcernDetail", "status", &concern_status),
        ("SafetyConcernDetail", "urgency", &urgency),
        ("SafetyConcernDetail", "outcome", &resolutions),
        (
            "Intervention",
            "step",
            &["notifying", "waiting", "deciding", "intervening", "ended"],
        ),
        (
            "Intervention",
            "outcome",
            &["self_recovered", "session_ended", "ai_intervention", "null"],
        ),
        (
            "Workflow",
            "type",
            &["struggle_intervention", "safety_escalation"],
        ),
        (
            "ProviderList",
            "providers",
            &["google", "microsoft", "clever"],
        ),
        ("LinkDto", "provider", &["google", "microsoft", "clever"]),
        ("Health", "status", &["ok", "degraded"]),
        ("Health", "nats", &["ok", "connecting", "disconnected"]),
        ("Readiness", "database", &["ok", "unreachable"]),
        ("Readiness", "migrations", &["ok", "pending", "unknown"]),
        ("RetryAccepted", "status", &["retry_requested"]),
        ("PostMessage", "role", &["student", "assistant"]),
        ("ThemeValue", "source", &["group", "class", "default"]),
        (
            "Misbehavior",
            "severity",
            &["low", "medium", "high", "critical"],
        ),
    ];
    for (schema, member, wanted) in expected {
        let mut got = values(schema, member);
        let mut wanted: Vec<String> = wanted.iter().map(|v| (*v).to_owned()).collect();
        got.sort();
        wanted.sort();
        assert_eq!(got, wanted, "{schema}.{member}");
    }
    // A detection's `type` selects its kind.
    let mut kinds: Vec<&String> = schemas["DetectionBody"]["discriminator"]["mapping"]
        .as_object()
        .unwrap()
        .keys()
        .collect();
    kinds.sort();
    assert_eq!(
        kinds,
        ["misbehavior", "recovery", "safety_concern", "struggle"]
    );
    // A nullable enum says so with a type (OpenAPI 3.0 gives `nullable` no meaning without
    // one), and the wire keeps sending null.
    let outcome = &schemas["SafetyConcernSummary"]["properties"]["outcome"];
    assert_eq!(outcome["type"], "string", "{outcome}");
    assert_eq!(outcome["nullable"], true, "{outcome}");
    let topics = &schemas["LearningSession"]["properties"]["topics_covered"];
    assert_eq!(topics["type"], "array", "{topics}");
    assert_eq!(topics["items"]["type"], "string", "{topics}");
}

#[tokio::test]
async fn each_operation_lists_the_error_statuses_it_can_answer_with() {
    let app = spawn_app().await;
    let document = served_document(&app).await;
    let set = |statuses: &[&str]| -> BTreeSet<String> {
        statuses.iter().map(|s| (*s).to_owned()).collect()
    };
    // Public: no 401 (nobody is asked to sign in), no 404 (no id in the path).
    let register = statuses(operation(&document, "/auth/register", "post"));
    assert_eq!(
        register,
        set(&["201", "202", "400", "403", "409", "413", "415", "422", "429", "500", "503"]),
        "POST /auth/register"
    );
    // Wrong credentials are a 401 there.
    let login = statuses(operation(&document, "/auth/login", "post"));
    assert!(login.contains("401") && login.contains("429"), "{login:?}");
    assert!(!login.contains("404"), "{login:?}");
    // A parent that does not exist is a 422, not a 404; no 429 (no rate limit there).
    let create_group = statuses(operation(&document, "/groups", "post"));
    assert_eq!(
        create_group,
        set(&["201", "202", "400", "401", "403", "409", "413", "415", "422", "500", "503"]),
        "POST /groups"
    );
    // A read with an id: 404, but no body errors and no 409.
    let get_group = statuses(operation(&document, "/groups/{id}", "get"));
    assert_eq!(
        get_group,
        set(&["200", "400", "401", "403", "404", "500", "503"]),
        "GET /groups/{{id}}"
    );
    // No parameter at all: no 400.
    let me = statuses(operation(&document, "/auth/me", "get"));
    assert_eq!(
        me,
        set(&["200", "401", "403", "500", "503"]),
        "GET /auth/me"
    );
    // Answered without the handler's error type, still behind the middleware (which can
    // answer 500 or 503 while resolving a presented token).
    for path in ["/health", "/auth/providers"] {
        let list = statuses(operation(&document, path, "get"));
        assert_eq!(list, set(&["200", "500", "503"]), "GET {path}");
    }
    let ready = operation(&document, "/ready", "get");
    assert!(
        ready["responses"]["503"]["content"]["application/json; charset=utf-8"]["schema"]["$ref"]
            .as_str()
            .is_some_and(|r| r.ends_with("/Readiness")),
        "/ready keeps its own 503: {ready}"
    );
    // Only the live updates have a 410.
    for (method, path, operation) in operations(&document) {
        let list = statuses(&operation);
        assert!(!list.contains("405"), "{method} {path}: {list:?}");
        assert_eq!(
            list.contains("410"),
            path == "/realtime/updates",
            "{method} {path}: {list:?}"
        );
        // Every error is a problem.
        for (status, response) in operation["responses"].as_object().unwrap() {
            if status.starts_with('4') || status == "500" {
                assert!(
                    response["content"]["application/problem+json"].is_object(),
                    "{method} {path} {status}: {response}"
                );
            }
        }
    }
    // The table of the exceptions names operations that exist.
    let ids: BTreeSet<String> = operations(&document)
        .iter()
        .map(|(_, _, o)| o["operationId"].as_str().unwrap().to_owned())
        .collect();
    for (id, _) in api::openapi::MORE_ERRORS {
        assert!(
            ids.contains(id),
            "MORE_ERRORS names {id}, which is no operation"
        );
    }
    for id in api::openapi::NEVER_CONFLICT {
        assert!(
            ids.contains(id),
            "NEVER_CONFLICT names {id}, which is no operation"
        );
    }
}

#[tokio::test]
async fn no_schema_has_a_member_named_like_itself() {
    let app = spawn_app().await;
    let document = served_document(&app).await;
    // `Providers.providers` became, in generated Python, a class attribute named like its
    // own class, which `mypy --strict` refuses.
    let pascal = |member: &str| -> String {
        member
            .split('_')
            .map(|word| {
                let mut chars = word.chars();
                chars
                    .next()
                    .map(|c| c.to_uppercase().chain(chars).collect::<String>())
                    .unwrap_or_default()
            })
            .collect::<String>()
            .to_lowercase()
    };
    let mut shadowing = vec![];
    for (name, schema) in document["components"]["schemas"].as_object().unwrap() {
        for member in schema["properties"]
            .as_object()
            .into_iter()
            .flatten()
            .map(|(m, _)| m)
        {
            let member = pascal(member);
            let name = name.to_lowercase();
            if member == name || format!("{member}s") == name || member == format!("{name}s") {
                shadowing.push(format!("{name}.{member}"));
            }
        }
    }
    assert!(shadowing.is_empty(), "{shadowing:?}");
    let providers = &document["components"]["schemas"]["ProviderList"];
    assert!(
        providers["properties"]["providers"].is_object(),
        "{providers}"
    );
}
