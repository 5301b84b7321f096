//! Errors of the HTTP layer itself (a request hyper cannot parse) are problem+json with the
//! headers of every other answer.

use serde_json::Value;
use tests::spawn_app;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

fn assert_security_headers(headers: &reqwest::header::HeaderMap) {
    assert_eq!(headers["content-type"], "application/problem+json");
    assert_eq!(headers["cache-control"], "no-store");
    assert_eq!(headers["x-content-type-options"], "nosniff");
    assert_eq!(headers["x-frame-options"], "DENY");
    assert_eq!(headers["content-security-policy"], "frame-ancestors 'none'");
    assert!(headers.contains_key("x-request-id"));
}

/// Sends `request` on a new connection and returns everything the server answers.
async fn raw(app: &tests::TestApp, request: &[u8]) -> String {
    let mut stream = tokio::net::TcpStream::connect(app.address.trim_start_matches("http://"))
        .await
        .unwrap();
    stream.write_all(request).await.unwrap();
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer).await;
    String::from_utf8_lossy(&answer).into_owned()
}

/// The head's headers and the body of a raw answer.
fn split(answer: &str) -> (reqwest::header::HeaderMap, Value) {
    let (head, body) = answer.split_once("\r\n\r\n").expect("a head");
    let mut headers = reqwest::header::HeaderMap::new();
    for line in head.lines().skip(1) {
        let (name, value) = line.split_once(": ").unwrap();
        headers.insert(
            reqwest::header::HeaderName::from_bytes(name.as_bytes()).unwrap(),
            value.parse().unwrap(),
        );
    }
    (headers, serde_json::from_str(body).expect("a JSON body"))
}

#[tokio::test]
async fn errors_of_every_layer_are_problems_with_the_security_headers() {
    let app = spawn_app().await;
    // A 100,000-character cursor (too long for clients that check, such as reqwest).
    let cursor = "a".repeat(100_000);
    let request = format!(
        "GET /groups?cursor={cursor} HTTP/1.1\r\nhost: test\r\nauthorization: Bearer {}\r\n\r\n",
        app.token
    );
    let answer = raw(&app, request.as_bytes()).await;
    assert!(
        answer.starts_with("HTTP/1.1 414 "),
        "{}",
        &answer[..answer.len().min(300)]
    );
    let (headers, problem) = split(&answer);
    assert_security_headers(&headers);
    assert_eq!(
        problem["type"],
        "https://raptscallions.app/problems/uri-too-long"
    );
    assert_eq!(problem["status"], 414);

    // Headers too large for the server to read.
    let response = app
        .http
        .get(app.url("/health"))
        .header("x-padding", "p".repeat(4_000_000))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 431);
    assert_security_headers(response.headers());
    let problem: Value = response.json().await.unwrap();
    assert_eq!(
        problem["type"],
        "https://raptscallions.app/problems/request-headers-too-large"
    );

    // A malformed header line.
    let answer = raw(
        &app,
        b"GET /health HTTP/1.1\r\nhost: test\r\nno colon here\r\n\r\n",
    )
    .await;
    assert!(answer.starts_with("HTTP/1.1 400 "), "{answer}");
    let (headers, problem) = split(&answer);
    assert_security_headers(&headers);
    assert_eq!(
        problem["type"],
        "https://raptscallions.app/problems/malformed-request"
    );

    // The application's own refusals have the same shape and headers.
    let response = app
        .http
        .delete(app.url("/groups"))
        .bearer_auth(&app.token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 405);
    assert_security_headers(response.headers());
    let response = app
        .http
        .post(app.url("/groups"))
        .bearer_auth(&app.token)
        .header("content-type", "application/json")
        .body(format!("{{\"name\": \"{}\"}}", "x".repeat(70_000)))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 413);
    assert_security_headers(response.headers());
    let problem: Value = response.json().await.unwrap();
    assert_eq!(
        problem["type"],
        "https://raptscallions.app/problems/payload-too-large"
    );

    // And the service still answers.
    assert_eq!(app.get("/health").await.status(), 200);
}
