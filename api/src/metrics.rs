//! `GET /metrics`: the service's Prometheus metrics ([`projections::metrics`]), in the text
//! exposition format. Not part of the OpenAPI document (it is for the scraper, not for
//! clients). With `METRICS_TOKEN` set, a scrape must present it as a bearer token (`401`
//! otherwise, as problem details); the figures read from the database are read at each
//! scrape.

use std::sync::Arc;

use infrastructure::config::MetricsToken;
use poem::http::{header, StatusCode};
use poem::{Endpoint, IntoResponse, Request, Response};
use projections::metrics::CONTENT_TYPE;

use crate::problem::{ApiError, ProblemKind};
use crate::state::Services;

/// The endpoint, asking for `token` when there is one.
pub fn endpoint(
    services: Arc<Services>,
    token: Option<MetricsToken>,
) -> impl Endpoint<Output = Response> {
    poem::endpoint::make(move |req: Request| {
        let services = services.clone();
        let token = token.clone();
        async move { Ok::<_, poem::Error>(scrape(&services, token.as_ref(), &req).await) }
    })
}

async fn scrape(services: &Services, token: Option<&MetricsToken>, req: &Request) -> Response {
    if !services.metrics.enabled() {
        return ApiError::kind(ProblemKind::NotFound).into_response();
    }
    if let Some(token) = token {
        let presented = req
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "));
        if !presented.is_some_and(|p| token.matches(p.trim())) {
            let mut response = ApiError::kind(ProblemKind::Unauthenticated).into_response();
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                "Bearer".parse().expect("a header"),
            );
            return response;
        }
    }
    if let Err(error) = services
        .metrics
        .refresh(&services.pool, &services.subscribers)
        .await
    {
        // The counters are this process's and still worth having; the database's figures
        // keep their last values.
        tracing::warn!(%error, "metrics: reading the database's figures failed");
    }
    Response::builder()
        .status(StatusCode::OK)
        .content_type(CONTENT_TYPE)
        .body(services.metrics.render())
}
