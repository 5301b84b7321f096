//! HTTP helpers: requests to the app under test as its system admin or as any caller's
//! token, and the status checks the authorization tests make over many callers.

use serde_json::Value;

use crate::app::TestApp;

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    /// A request as the test's system admin.
    pub fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        self.http
            .request(method, self.url(path))
            .bearer_auth(&self.token)
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.request(reqwest::Method::GET, path)
            .send()
            .await
            .expect("GET")
    }

    pub async fn post(&self, path: &str) -> reqwest::Response {
        self.request(reqwest::Method::POST, path)
            .send()
            .await
            .expect("POST")
    }

    pub async fn post_json(&self, path: &str, body: &Value) -> reqwest::Response {
        self.request(reqwest::Method::POST, path)
            .json(body)
            .send()
            .await
            .expect("POST")
    }

    pub async fn patch_json(&self, path: &str, body: &Value) -> reqwest::Response {
        self.request(reqwest::Method::PATCH, path)
            .json(body)
            .send()
            .await
            .expect("PATCH")
    }

    /// A request as the user holding `token`, with an optional JSON body.
    pub async fn call_as(
        &self,
        token: &str,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> reqwest::Response {
        let mut request = self.http.request(method, self.url(path)).bearer_auth(token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        request.send().await.expect("request")
    }

    /// The status of [`TestApp::call_as`].
    pub async fn status_as(
        &self,
        token: &str,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> u16 {
        self.call_as(token, method, path, body)
            .await
            .status()
            .as_u16()
    }
}

/// A request as `token`; returns the status and the JSON body (`Null` when there is none).
pub async fn send(
    app: &TestApp,
    token: &str,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let response = app.call_as(token, method, path, body).await;
    let status = response.status().as_u16();
    let text = response.text().await.expect("body");
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

/// Sends `method path` (with `body`) as each `(who, token, expected status)`; panics listing
/// every caller that got another status.
pub async fn assert_statuses(
    app: &TestApp,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
    rows: &[(&str, &String, u16)],
) {
    let mut wrong = vec![];
    for (who, token, expected) in rows {
        let status = app
            .status_as(token, method.clone(), path, body.clone())
            .await;
        if status != *expected {
            wrong.push(format!("{who}: expected {expected}, got {status}"));
        }
    }
    assert!(wrong.is_empty(), "{method} {path}: {wrong:#?}");
}
