//! Cross-cutting request handling, outermost first: request id and access log; body size and
//! JSON syntax; caller resolution.

use std::time::Instant;

use poem::http::{header, HeaderValue, Method};
use poem::{Body, Endpoint, IntoResponse, Request, Response, Result};
use tracing::Instrument as _;
use uuid::Uuid;

use crate::caller::{Caller, RequestId};
use crate::problem::{ApiError, ProblemKind};

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

/// Gives every request an id (echoed in `x-request-id`), a tracing span and an access log line.
pub async fn request_context<E: Endpoint>(next: E, mut req: Request) -> Result<Response> {
    let id = request_id(&req);
    req.extensions_mut().insert(RequestId(id.clone()));
    let span = tracing::info_span!("request", request_id = %id, method = %req.method(), path = %req.uri().path());
    let started = Instant::now();
    let mut response = next.get_response(req).instrument(span.clone()).await;
    if let Ok(value) = HeaderValue::from_str(&id) {
        response.headers_mut().insert(REQUEST_ID_HEADER, value);
    }
    span.in_scope(|| {
        tracing::info!(
            status = response.status().as_u16(),
            elapsed_ms = started.elapsed().as_secs_f64() * 1000.0,
            "request"
        );
    });
    Ok(response)
}

/// Reads the body with a size limit (413 beyond it) and rejects JSON that does not parse
/// (400), so that a later schema error is always a 422.
pub async fn body_guard<E: Endpoint>(next: E, mut req: Request, limit: usize) -> Result<Response> {
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
    let bytes = match req.take_body().into_bytes_limit(limit).await {
        Ok(bytes) => bytes,
        Err(poem::error::ReadBodyError::PayloadTooLarge) => return Ok(too_large()),
        Err(error) => {
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

/// Resolves the caller. There is no authentication yet: everybody is anonymous.
pub async fn resolve_caller<E: Endpoint>(next: E, mut req: Request) -> Result<Response> {
    req.extensions_mut().insert(Caller::Anonymous);
    next.call(req).await.map(IntoResponse::into_response)
}
