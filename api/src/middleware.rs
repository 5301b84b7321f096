//! Cross-cutting request handling, outermost first: request id and access log; the `Allow`
//! header of a 405; body size and JSON syntax; caller resolution.

use std::time::Instant;

use poem::http::{header, HeaderValue, Method};
use poem::PathPattern;
use poem::{Body, Endpoint, IntoResponse, Request, Response, Result};
use projections::metrics::Metrics;
use tracing::Instrument as _;
use uuid::Uuid;

use std::sync::Arc;

use crate::caller::{Caller, ClientIp, Credential, RequestId};
use crate::problem::{ApiError, ProblemKind};
use crate::state::Services;

pub const REQUEST_ID_HEADER: &str = "x-request-id";

/// Accepts a client's request id when it is short and plain; otherwise makes one.
fn request_id(req: &Request) -> String {
    req.headers()
        .get(REQUEST_ID_HEADER)
        .and_then(|v| v.to_str().ok())
        .filter(|v| {
            !v.is_empty()
                && v.len() <= 64
                && v.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
        .map(str::to_owned)
        .unwrap_or_else(|| Uuid::now_v7().to_string())
}

/// Gives every request an id (echoed in `x-request-id`), a tracing span and an access log line,
/// and every response the [`security_headers`].
pub async fn request_context<E: Endpoint>(
    next: E,
    mut req: Request,
    (metrics, routes): (Arc<Metrics>, RouteTemplates),
) -> Result<Response> {
    let id = request_id(&req);
    req.extensions_mut().insert(RequestId(id.clone()));
    let method = req.method().clone();
    // The request id is the correlation id of everything the request causes.
    let span = tracing::info_span!("request", request_id = %id, correlation_id = %id, method = %method, path = %req.uri().path());
    let started = Instant::now();
    let mut response = next.get_response(req).instrument(span.clone()).await;
    // By route template (`/groups/:id`), so that ids do not make a series each; a path
    // that matched no route is `unmatched`.
    let route = response
        .data::<PathPattern>()
        .map_or("unmatched", |pattern| routes.name(&pattern.0));
    metrics.http_request(
        route,
        method.as_str(),
        response.status().as_u16(),
        started.elapsed(),
    );
    if let Ok(value) = HeaderValue::from_str(&id) {
        response.headers_mut().insert(REQUEST_ID_HEADER, value);
    }
    security_headers(response.headers_mut());
    span.in_scope(|| {
        tracing::info!(
            status = response.status().as_u16(),
            elapsed_ms = started.elapsed().as_secs_f64() * 1000.0,
            "request"
        );
    });
    Ok(response)
}

/// The headers OWASP's REST Security Cheat Sheet asks of every API response, each unless the
/// handler set its own:
/// - `Cache-Control: no-store`: answers carry tokens (sign-in, service-account secrets,
///   dashboard credentials) and personal data, which no browser cache or proxy may keep
///   (RFC 6749 §5.1 asks it of token responses);
/// - `X-Content-Type-Options: nosniff`: a browser never reads a JSON answer as a script or a
///   page;
/// - `Content-Security-Policy: frame-ancestors 'none'` and `X-Frame-Options: DENY` (for older
///   browsers): no page may frame ours (the Swagger UI included), so no clickjacking.
///
/// `Strict-Transport-Security` is left to the TLS terminator in front, which knows the domain.
fn security_headers(headers: &mut poem::http::HeaderMap) {
    for (name, value) in SECURITY_HEADERS {
        headers
            .entry(poem::http::HeaderName::from_static(name))
            .or_insert(HeaderValue::from_static(value));
    }
}

/// The [`security_headers`], also written by the connection layer on the answers it makes
/// itself (`crate::connections`).
pub const SECURITY_HEADERS: [(&str, &str); 4] = [
    ("cache-control", "no-store"),
    ("x-content-type-options", "nosniff"),
    ("content-security-policy", "frame-ancestors 'none'"),
    ("x-frame-options", "DENY"),
];

/// Reads the body with a size limit (413 beyond it) and rejects JSON that does not parse
/// (400), so that a later schema error is always a 422.
/// Whether any string or key of the JSON document holds a NUL character.
fn json_has_nul(bytes: &[u8]) -> bool {
    fn has(value: &serde_json::Value) -> bool {
        match value {
            serde_json::Value::String(s) => s.contains('\0'),
            serde_json::Value::Array(items) => items.iter().any(has),
            serde_json::Value::Object(map) => map.iter().any(|(k, v)| k.contains('\0') || has(v)),
            _ => false,
        }
    }
    serde_json::from_slice::<serde_json::Value>(bytes).is_ok_and(|v| has(&v))
}

pub async fn body_guard<E: Endpoint>(
    next: E,
    mut req: Request,
    limit: usize,
    read_timeout: std::time::Duration,
) -> Result<Response> {
    // No NUL character in a path or query parameter either: it can only arrive
    // percent-encoded, and PostgreSQL refuses it in text (found by schemathesis:
    // `GET /events?event_type=%00` was a 500).
    let uri = req.uri().path_and_query().map_or("", |p| p.as_str());
    if uri
        .as_bytes()
        .windows(3)
        .any(|w| w.eq_ignore_ascii_case(b"%00"))
    {
        return Ok(ApiError::new(
            ProblemKind::InvalidParameter,
            "parameters may not contain the NUL character (%00)".to_owned(),
        )
        .into_response());
    }
    if matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS) {
        return next.call(req).await.map(IntoResponse::into_response);
    }
    let too_large = || {
        ApiError::new(
            ProblemKind::PayloadTooLarge,
            format!("the body may be at most {limit} bytes"),
        )
        .into_response()
    };
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > limit) {
        return Ok(too_large());
    }
    // A client that sends its body slowly (or less than its `Content-Length`) would hold
    // the request, its connection and its task forever: the whole body gets
    // `HTTP_BODY_READ_TIMEOUT_MS`, then 408 and the connection is closed (what is left of
    // the body is never read).
    let read = tokio::time::timeout(read_timeout, req.take_body().into_bytes_limit(limit)).await;
    let bytes = match read {
        Err(_elapsed) => {
            let mut response = crate::problem::problem_response(
                ProblemKind::RequestTimeout,
                Some(format!(
                    "the body was not received within {} ms",
                    read_timeout.as_millis()
                )),
            );
            response
                .headers_mut()
                .insert(header::CONNECTION, HeaderValue::from_static("close"));
            return Ok(response);
        }
        Ok(Ok(bytes)) => bytes,
        Ok(Err(poem::error::ReadBodyError::PayloadTooLarge)) => return Ok(too_large()),
        Ok(Err(error)) => {
            return Ok(ApiError::new(ProblemKind::MalformedJson, error.to_string()).into_response())
        }
    };
    let is_json = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json") || v.contains("+json"));
    if is_json && !bytes.is_empty() {
        if let Err(error) = serde_json::from_slice::<serde::de::IgnoredAny>(&bytes) {
            return Ok(ApiError::new(
                ProblemKind::MalformedJson,
                format!(
                    "line {} column {}: {}",
                    error.line(),
                    error.column(),
                    error.classify_name()
                ),
            )
            .into_response());
        }
        // PostgreSQL stores no NUL character (in text or jsonb): refuse it here with a 422
        // rather than fail at the database. It can only come as the escape `\u0000`.
        if bytes.windows(6).any(|w| w == b"\\u0000") && json_has_nul(&bytes) {
            return Ok(ApiError::new(
                ProblemKind::InvalidRequest,
                "strings may not contain the NUL character (\\u0000)".to_owned(),
            )
            .into_response());
        }
    }
    req.set_body(Body::from_bytes(bytes));
    next.call(req).await.map(IntoResponse::into_response)
}

trait ClassifyName {
    fn classify_name(&self) -> &'static str;
}

impl ClassifyName for serde_json::Error {
    fn classify_name(&self) -> &'static str {
        match self.classify() {
            serde_json::error::Category::Eof => "unexpected end of input",
            serde_json::error::Category::Syntax => "syntax error",
            serde_json::error::Category::Data => "invalid data",
            serde_json::error::Category::Io => "read error",
        }
    }
}

/// The plain name of the session cookie: set when the cookie cannot be a `__Host-` cookie
/// (`COOKIE_DOMAIN` set, or `COOKIE_SECURE=false`), and read as a fallback.
pub const SESSION_COOKIE: &str = "session";

/// The name of the session cookie when it is `Secure` and host-only (the default): a
/// browser accepts a `__Host-` cookie only from a secure origin, host-only and with
/// `Path=/`, so a sibling subdomain (or a plain-HTTP page of the host) cannot plant or
/// shadow it, as it can a plain `session=` cookie.
pub const HOST_SESSION_COOKIE: &str = "__Host-session";

/// The name the session cookie is set under with these settings: `__Host-session` when it
/// is `Secure` and host-only; otherwise `session`, since browsers refuse a `__Host-` cookie
/// without `Secure` (plain-HTTP development, `COOKIE_SECURE=false`; Safari does not treat
/// `http://localhost` as secure) or with a `Domain` (`COOKIE_DOMAIN`).
pub fn session_cookie_name(auth: &infrastructure::config::AuthConfig) -> &'static str {
    if auth.cookie_secure && auth.cookie_domain.is_none() {
        HOST_SESSION_COOKIE
    } else {
        SESSION_COOKIE
    }
}

/// The values of the cookies named `name` in a request, in order.
fn cookie_values<'a>(req: &'a Request, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
    req.headers()
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .filter(move |(n, _)| *n == name)
        .map(|(_, value)| value.trim())
}

/// The session token of a request: `Authorization: Bearer` first, then the
/// `__Host-session` cookie, then the plain `session` cookie (the name of plain-HTTP
/// development and of `COOKIE_DOMAIN`, and of cookies set before the `__Host-` prefix).
fn presented_token(req: &Request) -> Option<(String, Credential)> {
    if let Some(value) = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    {
        if let Some(token) = value
            .strip_prefix("Bearer ")
            .or_else(|| value.strip_prefix("bearer "))
        {
            return Some((token.trim().to_owned(), Credential::Bearer));
        }
    }
    cookie_values(req, HOST_SESSION_COOKIE)
        .next()
        .or_else(|| cookie_values(req, SESSION_COOKIE).next())
        .map(|value| (value.to_owned(), Credential::Cookie))
}

/// When the session cookie is `__Host-session` and a response sets it (a sign-in or a
/// sign-out) for a request that still carries a plain `session` cookie, that one is cleared
/// too: otherwise it would be read again after a logout (the fallback above).
fn clear_plain_session_cookie(req_had_plain: bool, host_cookie: bool, response: &mut Response) {
    if !req_had_plain || !host_cookie {
        return;
    }
    let sets_host_cookie = response
        .headers()
        .get_all(header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.starts_with(&format!("{HOST_SESSION_COOKIE}=")));
    if sets_host_cookie {
        response.headers_mut().append(
            header::SET_COOKIE,
            HeaderValue::from_static("session=; HttpOnly; SameSite=Lax; Secure; Path=/; Max-Age=0"),
        );
    }
}

/// The client's IP: the peer's, or behind a trusted proxy the last `X-Forwarded-For` entry
/// (the address that proxy saw; the entries before it are whatever the client sent, so
/// taking the first would let a client pick its rate-limit key).
fn client_ip(req: &Request, trust_forwarded_for: bool) -> Option<String> {
    if trust_forwarded_for {
        if let Some(last) = req
            .headers()
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(str::trim)
            .rfind(|v| !v.is_empty())
        {
            return Some(last.to_owned());
        }
    }
    req.remote_addr()
        .as_socket_addr()
        .map(|addr| addr.ip().to_string())
}

/// Whether a cookie-authenticated unsafe request comes from an allowed origin: a browser's
/// `Sec-Fetch-Site: same-origin` (a page of the API's own origin, such as `/dashboard`, made
/// it: pages cannot set that header), or an `Origin` listed in `ALLOWED_ORIGINS`; without
/// `Origin`, `Sec-Fetch-Site` must say `same-origin` or `none` (`same-site` would let a
/// sibling subdomain through, whatever `ALLOWED_ORIGINS` says; browsers send `Origin` with
/// every unsafe request anyway).
fn csrf_allowed(req: &Request, allowed_origins: &[String]) -> bool {
    let fetch_site = req
        .headers()
        .get("sec-fetch-site")
        .and_then(|v| v.to_str().ok());
    if fetch_site == Some("same-origin") {
        return true;
    }
    if let Some(origin) = req.headers().get(header::ORIGIN) {
        // Exactly as browsers serialize an origin (RFC 6454 §6.2): `scheme://host[:port]`,
        // nothing after it; `http://localhost:3000/` is not an origin, so it is refused.
        let origin = origin.to_str().unwrap_or("");
        return allowed_origins.iter().any(|allowed| allowed == origin);
    }
    match fetch_site {
        Some(site) => site == "none",
        None => true,
    }
}

/// Resolves the caller from the session token and rejects cross-site cookie requests.
pub async fn resolve_caller<E: Endpoint>(
    next: E,
    mut req: Request,
    services: Arc<Services>,
) -> Result<Response> {
    let ip = client_ip(&req, services.auth.trust_forwarded_for);
    req.extensions_mut().insert(ClientIp(ip));
    let mut caller = Caller::Anonymous;
    if let Some((token, credential)) = presented_token(&req) {
        let request_id = req
            .extensions()
            .get::<RequestId>()
            .cloned()
            .unwrap_or_else(|| RequestId(String::new()));
        let context = application::CommandContext {
            actor: "system:auth".into(),
            correlation_id: request_id.0,
            causation_id: None,
        };
        if token.starts_with(application::service_accounts::SECRET_PREFIX) {
            match services.service_accounts.authenticate(&token).await {
                Ok(Some(service)) => caller = Caller::Service(service),
                Ok(None) => {}
                Err(error) => return Ok(ApiError::from(error).into_response()),
            }
        } else {
            match services.identity.authenticate(&token, &context).await {
                Ok(Some(principal)) => {
                    caller = Caller::User {
                        principal,
                        credential,
                    }
                }
                Ok(None) => {}
                Err(error) => return Ok(ApiError::from(error).into_response()),
            }
        }
    }
    let unsafe_method = !matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS);
    if unsafe_method
        && matches!(
            caller,
            Caller::User {
                credential: Credential::Cookie,
                ..
            }
        )
        && !csrf_allowed(&req, &services.auth.allowed_origins)
    {
        return Ok(ApiError::new(
            ProblemKind::CrossSiteRequest,
            "cookie-authenticated requests must come from an allowed origin".to_owned(),
        )
        .into_response());
    }
    req.extensions_mut().insert(caller);
    let had_plain = cookie_values(&req, SESSION_COOKIE).next().is_some();
    let host_cookie = session_cookie_name(&services.auth) == HOST_SESSION_COOKIE;
    let mut response = next.call(req).await.map(IntoResponse::into_response)?;
    clear_plain_session_cookie(had_plain, host_cookie, &mut response);
    Ok(response)
}

/// The methods each route answers, for the `Allow` header that RFC 9110 §15.5.6 requires on
/// a 405. Read once from the OpenAPI document (plus the document itself), so it cannot
/// drift from the routes.
/// The OpenAPI document's path templates, written `/groups/:id`, by the router's patterns
/// for them (`/groups/:param0`, as poem-openapi registers them): how metrics name a route.
/// Without braces, which some readers of the Prometheus text format take for the end of
/// the labels.
#[derive(Clone, Default)]
pub struct RouteTemplates(Arc<std::collections::HashMap<String, String>>);

impl RouteTemplates {
    pub fn from_spec(spec: &serde_json::Value) -> Self {
        let templates = spec["paths"]
            .as_object()
            .into_iter()
            .flatten()
            .map(|(path, _)| {
                let mut index = 0;
                let (pattern, name): (Vec<String>, Vec<String>) = path
                    .split('/')
                    .map(|segment| match segment.strip_prefix('{') {
                        Some(param) => {
                            index += 1;
                            (
                                format!(":param{}", index - 1),
                                format!(":{}", param.trim_end_matches('}')),
                            )
                        }
                        None => (segment.to_owned(), segment.to_owned()),
                    })
                    .unzip();
                (pattern.join("/"), name.join("/"))
            })
            .collect();
        Self(Arc::new(templates))
    }

    /// The document's template for a router pattern; the pattern itself for routes outside
    /// the document (`/openapi.json`, `/metrics`, the dashboard page's files).
    fn name<'a>(&'a self, pattern: &'a str) -> &'a str {
        self.0.get(pattern).map_or(pattern, String::as_str)
    }
}

#[derive(Clone, Default)]
pub struct AllowedMethods(Arc<Vec<(Vec<String>, String)>>);

impl AllowedMethods {
    /// From the `paths` of an OpenAPI document (`{name}` segments match any one segment).
    pub fn from_spec(spec: &serde_json::Value) -> Self {
        let mut routes: Vec<(Vec<String>, String)> = [("/openapi.json", "GET, HEAD")]
            .iter()
            .map(|(path, allow)| (segments(path), (*allow).to_owned()))
            .collect();
        for (path, operations) in spec["paths"].as_object().into_iter().flatten() {
            let mut methods: Vec<String> = operations
                .as_object()
                .into_iter()
                .flatten()
                .map(|(method, _)| method.to_ascii_uppercase())
                .collect();
            if methods.iter().any(|m| m == "GET") {
                // poem answers HEAD with the GET handler.
                methods.push("HEAD".to_owned());
            }
            methods.sort();
            routes.push((segments(path), methods.join(", ")));
        }
        Self(Arc::new(routes))
    }

    /// The `Allow` value for `path`: of the routes it matches, the one the router picks,
    /// which prefers a literal segment to a parameter from left to right.
    fn for_path(&self, path: &str) -> Option<&str> {
        let wanted = segments(path);
        self.0
            .iter()
            .filter(|(template, _)| {
                template.len() == wanted.len()
                    && template.iter().zip(&wanted).all(|(t, w)| {
                        t == w || (t.starts_with('{') && t.ends_with('}') && !w.is_empty())
                    })
            })
            .max_by_key(|(template, _)| {
                template
                    .iter()
                    .map(|t| !t.starts_with('{'))
                    .collect::<Vec<bool>>()
            })
            .map(|(_, allow)| allow.as_str())
    }
}

fn segments(path: &str) -> Vec<String> {
    path.trim_matches('/')
        .split('/')
        .map(str::to_owned)
        .collect()
}

/// Adds `Allow` to a 405 (wrong method on a known route), listing what the route answers.
pub async fn allow_header<E: Endpoint>(
    next: E,
    req: Request,
    allowed: AllowedMethods,
) -> Result<Response> {
    let path = req.uri().path().to_owned();
    let mut response = next.get_response(req).await;
    if response.status() == poem::http::StatusCode::METHOD_NOT_ALLOWED
        && !response.headers().contains_key(header::ALLOW)
    {
        if let Some(value) = allowed
            .for_path(&path)
            .and_then(|allow| HeaderValue::from_str(allow).ok())
        {
            response.headers_mut().insert(header::ALLOW, value);
        }
    }
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::AllowedMethods;

    #[test]
    fn allow_lists_the_methods_of_the_best_matching_route() {
        let spec = serde_json::json!({"paths": {
            "/groups/{id}": {"get": {}, "patch": {}},
            "/groups/{id}/archive": {"post": {}},
            "/users/{id}/admin": {"post": {}},
            "/users/me": {"get": {}},
            "/users/{id}": {"delete": {}},
            "/auth/sessions/{id}": {"delete": {}},
            "/auth/{provider}/callback": {"get": {}},
            "/auth/{provider}/link": {"post": {}},
        }});
        let allowed = AllowedMethods::from_spec(&spec);
        assert_eq!(allowed.for_path("/groups/42"), Some("GET, HEAD, PATCH"));
        assert_eq!(allowed.for_path("/groups/42/archive"), Some("POST"));
        assert_eq!(allowed.for_path("/users/me"), Some("GET, HEAD"));
        assert_eq!(allowed.for_path("/users/7"), Some("DELETE"));
        assert_eq!(allowed.for_path("/openapi.json"), Some("GET, HEAD"));
        assert_eq!(allowed.for_path("/groups"), None);
        assert_eq!(allowed.for_path("/groups//archive"), None);
        // Two templates match with one literal each: the router takes the literal first.
        assert_eq!(allowed.for_path("/auth/sessions/callback"), Some("DELETE"));
        assert_eq!(allowed.for_path("/auth/sessions/link"), Some("DELETE"));
        assert_eq!(allowed.for_path("/auth/google/link"), Some("POST"));
    }
}
