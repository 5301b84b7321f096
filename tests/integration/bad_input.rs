//! Malformed requests: the right status, a problem document with a stable type, and nothing
//! appended to the log.

use serde_json::Value;
use tests::spawn_app;

const PROBLEM: &str = "https://raptscallions.app/problems/";

struct Case {
    what: &'static str,
    method: &'static str,
    path: String,
    content_type: Option<&'static str>,
    body: String,
    status: u16,
    problem: &'static str,
}

fn case(
    what: &'static str,
    method: &'static str,
    path: impl Into<String>,
    content_type: Option<&'static str>,
    body: impl Into<String>,
    status: u16,
    problem: &'static str,
) -> Case {
    Case {
        what,
        method,
        path: path.into(),
        content_type,
        body: body.into(),
        status,
        problem,
    }
}

#[tokio::test]
async fn each_malformed_request_gets_its_status_and_problem_type_and_changes_nothing() {
    let app = spawn_app().await;
    let group = app.create_group("Existing", None).await;
    let id = group["id"].as_str().unwrap().to_owned();
    let g = format!("/groups/{id}");
    let json = Some("application/json");
    let unknown = "/groups/0195a3a0-0000-7000-8000-00000000abcd";
    let huge = format!("{{\"name\": \"{}\"}}", "x".repeat(70 * 1024));

    #[rustfmt::skip]
    let cases = [
        //   what                       method   path          content type   body                                   status  problem type
        case("malformed JSON",          "POST",  "/groups",    json,          "{\"name\": ",                         400,    "malformed-json"),
        case("not JSON at all",         "POST",  "/groups",    json,          "name=x",                              400,    "malformed-json"),
        case("unknown field",           "POST",  "/groups",    json,          r#"{"name":"A","colour":"red"}"#,      422,    "invalid-request"),
        case("wrong type (number)",     "POST",  "/groups",    json,          r#"{"name":5}"#,                       422,    "invalid-request"),
        case("wrong type (parent)",     "POST",  "/groups",    json,          r#"{"name":"A","parent_id":"nope"}"#,  422,    "invalid-request"),
        case("missing name",            "POST",  "/groups",    json,          "{}",                                  422,    "invalid-request"),
        case("JSON array",              "POST",  "/groups",    json,          "[]",                                  422,    "invalid-request"),
        case("empty body",              "POST",  "/groups",    json,          "",                                    422,    "invalid-request"),
        case("blank name",              "POST",  "/groups",    json,          r#"{"name":"   "}"#,                   422,    "invalid-request"),
        case("NUL character",           "POST",  "/groups",    json,          r#"{"name":"a\u0000b"}"#,              422,    "invalid-request"),
        case("name too long",           "POST",  "/groups",    json,          format!(r#"{{"name":"{}"}}"#, "n".repeat(201)), 422, "invalid-request"),
        case("oversized body",          "POST",  "/groups",    json,          huge,                                  413,    "payload-too-large"),
        case("not JSON content type",   "POST",  "/groups",    Some("text/plain"), r#"{"name":"A"}"#,                415,    "unsupported-media-type"),
        case("unknown parent",          "POST",  "/groups",    json,          format!(r#"{{"name":"A","parent_id":"{}"}}"#, &unknown[8..]), 422, "parent-not-found"),
        case("rename: unknown field",   "PATCH", g.clone(),    json,          r#"{"title":"B"}"#,                    422,    "invalid-request"),
        case("rename: wrong type",      "PATCH", g.clone(),    json,          r#"{"name":true}"#,                    422,    "invalid-request"),
        case("rename: malformed",       "PATCH", g.clone(),    json,          "{",                                   400,    "malformed-json"),
        case("rename: unknown group",   "PATCH", unknown,      json,          r#"{"name":"B"}"#,                     404,    "not-found"),
        case("archive: unknown group",  "POST",  format!("{unknown}/archive"), None, "",                             404,    "not-found"),
        case("get: unknown group",      "GET",   unknown,      None,          "",                                    404,    "not-found"),
        case("get: id not a uuid",      "GET",   "/groups/42", None,          "",                                    400,    "invalid-parameter"),
        case("list: limit 0",           "GET",   "/groups?limit=0", None,     "",                                    400,    "invalid-parameter"),
        case("list: bad cursor",        "GET",   "/groups?cursor=zzz", None,  "",                                    400,    "invalid-parameter"),
        case("events: limit too big",   "GET",   "/events?limit=5000", None,  "",                                    400,    "invalid-parameter"),
        case("events: after negative",  "GET",   "/events?after=-1", None,    "",                                    400,    "invalid-parameter"),
        case("unknown stream",          "GET",   "/streams/group/nope", None, "",                                    404,    "not-found"),
        case("NUL in a query parameter", "GET",  "/events?event_type=a%00b", None, "",                               400,    "invalid-parameter"),
        case("NUL in a path parameter", "GET",   "/streams/group/a%00b", None, "",                                   400,    "invalid-parameter"),
        case("unknown route",           "GET",   "/nothing-here", None,       "",                                    404,    "not-found"),
        case("method not allowed",      "DELETE", g.clone(),   None,          "",                                    405,    "method-not-allowed"),
        case("nested unknown field",    "PUT",   "/me/notification-preferences", json, r#"{"email":{"struggle":true,"zzz":1}}"#, 422, "invalid-request"),
        case("score: unknown field",    "POST",  format!("/learning-sessions/{}/assessments", &unknown[8..]), json,
             r#"{"scores":[{"criterion":"c","score":1,"max":2,"zzz":1}],"confidence":0.9,"trace":{"model":"m","prompt_hash":"h","input_snapshot":{},"raw_response":"r","parsed_result":{}}}"#, 422, "invalid-request"),
    ];

    let before = app.log_length().await;
    for c in &cases {
        let mut request = app.request(c.method.parse().unwrap(), &c.path);
        if let Some(ct) = c.content_type {
            request = request.header("content-type", ct);
        }
        let response = request.body(c.body.clone()).send().await.unwrap();
        assert_eq!(response.status().as_u16(), c.status, "{}: status", c.what);
        assert!(
            response.headers().contains_key("x-request-id"),
            "{}: x-request-id",
            c.what
        );
        for (header, value) in [
            ("cache-control", "no-store"),
            ("x-content-type-options", "nosniff"),
            ("content-security-policy", "frame-ancestors 'none'"),
            ("x-frame-options", "DENY"),
        ] {
            assert_eq!(response.headers()[header], value, "{}: {header}", c.what);
        }
        let content_type = response.headers()["content-type"]
            .to_str()
            .unwrap()
            .to_owned();
        assert!(
            content_type.starts_with("application/problem+json"),
            "{}: content type {content_type}",
            c.what
        );
        let problem: Value = response.json().await.unwrap();
        assert_eq!(
            problem["type"],
            format!("{PROBLEM}{}", c.problem),
            "{}: {problem}",
            c.what
        );
        assert_eq!(problem["status"], c.status, "{}", c.what);
        assert!(problem["title"].is_string(), "{}", c.what);
    }
    // RFC 9110 §15.5.6: a 405 says which methods the resource has.
    let wrong_method = app
        .request(reqwest::Method::DELETE, &g)
        .send()
        .await
        .unwrap();
    assert_eq!(wrong_method.headers()["allow"], "GET, HEAD, PATCH");
    assert_eq!(
        app.log_length().await,
        before,
        "no bad request appended anything"
    );
    let unchanged: Value = app.get(&g).await.json().await.unwrap();
    assert_eq!(unchanged, group);
}

/// The document closes every request body (`additionalProperties: false`, see
/// `api::openapi::document`); each operation that takes one must then refuse its example with
/// one unknown field added, as a 422 naming the field, and append nothing.
#[tokio::test]
async fn every_closed_request_body_refuses_an_unknown_field() {
    let app = spawn_app().await;
    let spec: Value = app.get("/openapi.json").await.json().await.unwrap();
    let schemas = &spec["components"]["schemas"];
    let before = app.log_length().await;
    let mut checked = 0;
    for (template, operations) in spec["paths"].as_object().unwrap() {
        for (method, operation) in operations.as_object().unwrap() {
            let body = &operation["requestBody"]["content"]["application/json; charset=utf-8"];
            let Some(reference) = body["schema"]["$ref"].as_str() else {
                continue;
            };
            let name = reference.trim_start_matches("#/components/schemas/");
            let schema = &schemas[name];
            if schema["additionalProperties"] != false {
                assert!(
                    schema["discriminator"].is_object(),
                    "{method} {template}: {name} is closed, or a union whose kinds are open"
                );
                continue;
            }
            // Path parameters: an enum's first value, otherwise a fresh id.
            let mut path = template.clone();
            for parameter in operation["parameters"].as_array().into_iter().flatten() {
                let value = parameter["schema"]["enum"][0]
                    .as_str()
                    .map(str::to_owned)
                    .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
                let name = parameter["name"].as_str().unwrap();
                path = path.replace(&format!("{{{name}}}"), &value);
            }
            let mut body = schema["example"].clone();
            body["zzz_not_a_field"] = Value::from(1);
            let response = app
                .request(method.to_uppercase().parse().unwrap(), &path)
                .json(&body)
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), 422, "{method} {template}");
            let problem: Value = response.json().await.unwrap();
            assert!(
                problem["detail"]
                    .as_str()
                    .is_some_and(|d| d.contains("unknown field")),
                "{method} {template}: {problem}"
            );
            checked += 1;
        }
    }
    assert!(checked >= 25, "{checked} closed request bodies checked");
    assert_eq!(app.log_length().await, before, "nothing appended");
}
