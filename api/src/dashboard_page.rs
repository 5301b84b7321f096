//! The live class dashboard page: `GET /dashboard` and its files, built from `web/dashboard/`
//! into `api/assets/dashboard/` (committed; `npm run build` there reproduces them byte for
//! byte) and embedded in the binary. The page signs in through `/auth`, reads its snapshots
//! from the REST API and its live updates from the NATS websocket listener.
//!
//! The files are public, like `/docs`: they hold no data, and every call the page makes is
//! authenticated and authorized as usual. They are not part of the OpenAPI document. Each
//! answer is revalidated by the browser (`Cache-Control: no-cache` with a strong `ETag`; an
//! unchanged file is a `304`), and the page itself gets a Content-Security-Policy that lets it
//! load only its own script and style and connect only to this API and the websocket
//! listener.

use std::sync::Arc;

use anyhow::{bail, Context as _};
use poem::http::{header, HeaderValue, Method, StatusCode};
use poem::{IntoResponse, Request, Response, Route};
use sha2::{Digest, Sha256};

use crate::problem::{ApiError, ProblemKind};

/// The page's files: path, content type, bytes.
const FILES: [(&str, &str, &[u8]); 4] = [
    (
        "/dashboard",
        "text/html; charset=utf-8",
        include_bytes!("../assets/dashboard/index.html"),
    ),
    (
        "/dashboard/app.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../assets/dashboard/app.js"),
    ),
    (
        "/dashboard/style.css",
        "text/css; charset=utf-8",
        include_bytes!("../assets/dashboard/style.css"),
    ),
    (
        "/dashboard/licenses.txt",
        "text/plain; charset=utf-8",
        include_bytes!("../assets/dashboard/licenses.txt"),
    ),
];

/// One embedded file with the headers it is served with.
struct File {
    bytes: &'static [u8],
    etag: HeaderValue,
    headers: Vec<(header::HeaderName, HeaderValue)>,
}

impl File {
    fn respond(&self, req: &Request) -> Response {
        if !matches!(*req.method(), Method::GET | Method::HEAD) {
            let mut response = ApiError::new(
                ProblemKind::MethodNotAllowed,
                "the dashboard page is only read".to_owned(),
            )
            .into_response();
            response
                .headers_mut()
                .insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
            return response;
        }
        let unchanged = req
            .headers()
            .get_all(header::IF_NONE_MATCH)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(str::trim)
            .any(|tag| tag == "*" || tag.trim_start_matches("W/") == self.etag);
        let mut response = if unchanged {
            Response::builder()
                .status(StatusCode::NOT_MODIFIED)
                .finish()
        } else {
            Response::builder().body(self.bytes)
        };
        let headers = response.headers_mut();
        headers.insert(header::ETAG, self.etag.clone());
        for (name, value) in &self.headers {
            headers.insert(name.clone(), value.clone());
        }
        response
    }
}

/// The Content-Security-Policy of the page. `websocket_url` is the NATS websocket listener
/// the page connects to (`ws://` or `wss://`); without it, any websocket server is allowed.
pub fn content_security_policy(websocket_url: Option<&str>) -> anyhow::Result<String> {
    let websocket = match websocket_url {
        Some(url) => websocket_origin(url)?,
        None => "ws: wss:".to_owned(),
    };
    Ok(format!(
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; \
         connect-src 'self' {websocket}; base-uri 'none'; form-action 'self'; \
         frame-ancestors 'none'"
    ))
}

/// `scheme://host[:port]` of a `ws://` or `wss://` URL.
fn websocket_origin(url: &str) -> anyhow::Result<String> {
    let (scheme, rest) = url
        .split_once("://")
        .filter(|(scheme, _)| matches!(*scheme, "ws" | "wss"))
        .with_context(|| format!("the websocket URL {url:?} is not a ws:// or wss:// URL"))?;
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let host_chars =
        |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '[' | ']');
    if authority.is_empty() || authority.contains('@') || !authority.chars().all(host_chars) {
        bail!("the websocket URL {url:?} has no plain host[:port]");
    }
    Ok(format!("{scheme}://{authority}"))
}

fn etag(bytes: &[u8]) -> HeaderValue {
    let digest = Sha256::digest(bytes);
    let hex: String = digest[..16].iter().map(|b| format!("{b:02x}")).collect();
    HeaderValue::from_str(&format!("\"{hex}\"")).expect("hex is a valid header value")
}

/// Adds the page's routes to `route`. `websocket_url` as in [`content_security_policy`].
pub fn mount(route: Route, websocket_url: Option<&str>) -> anyhow::Result<Route> {
    let csp = HeaderValue::from_str(&content_security_policy(websocket_url)?)
        .context("the Content-Security-Policy is not a valid header value")?;
    let mut route = route;
    for (path, content_type, bytes) in FILES {
        let mut headers = vec![
            (header::CONTENT_TYPE, HeaderValue::from_static(content_type)),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
            (
                header::HeaderName::from_static("cross-origin-resource-policy"),
                HeaderValue::from_static("same-origin"),
            ),
        ];
        if content_type.starts_with("text/html") {
            headers.extend([
                (header::CONTENT_SECURITY_POLICY, csp.clone()),
                (
                    header::REFERRER_POLICY,
                    HeaderValue::from_static("no-referrer"),
                ),
                (
                    header::HeaderName::from_static("cross-origin-opener-policy"),
                    HeaderValue::from_static("same-origin"),
                ),
            ]);
        }
        let file = Arc::new(File {
            bytes,
            etag: etag(bytes),
            headers,
        });
        route = route.at(
            path,
            poem::endpoint::make_sync(move |req: Request| file.respond(&req)),
        );
    }
    Ok(route)
}

#[cfg(test)]
mod tests {
    use super::{content_security_policy, FILES};

    #[test]
    fn the_policy_names_the_websocket_origin() {
        let csp = content_security_policy(Some("wss://nats.school.example:443/ws")).unwrap();
        assert!(
            csp.contains("connect-src 'self' wss://nats.school.example:443;"),
            "{csp}"
        );
        assert!(csp.contains("script-src 'self';"), "{csp}");
        assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
        let any = content_security_policy(None).unwrap();
        assert!(any.contains("connect-src 'self' ws: wss:;"), "{any}");
        let local = content_security_policy(Some("ws://127.0.0.1:8443")).unwrap();
        assert!(
            local.contains("connect-src 'self' ws://127.0.0.1:8443;"),
            "{local}"
        );
    }

    #[test]
    fn a_websocket_url_that_would_widen_the_policy_is_refused() {
        for url in [
            "http://nats.example",
            "ws://",
            "ws://evil.example; script-src *",
            "ws://user:pw@nats.example",
            "nats.example:443",
        ] {
            assert!(content_security_policy(Some(url)).is_err(), "{url}");
        }
    }

    #[test]
    fn the_page_loads_its_script_and_style_with_their_integrity() {
        let html = std::str::from_utf8(FILES[0].2).unwrap();
        for (path, _, bytes) in &FILES[1..3] {
            use base64::Engine as _;
            use sha2::{Digest, Sha384};
            let hash = base64::engine::general_purpose::STANDARD.encode(Sha384::digest(bytes));
            let tag = html
                .lines()
                .find(|l| l.contains(&format!("\"{path}\"")))
                .unwrap_or_else(|| panic!("{path} in index.html"));
            assert!(
                tag.contains(&format!("integrity=\"sha384-{hash}\"")),
                "{tag}"
            );
        }
        assert!(!html.contains("%STYLE_INTEGRITY%") && !html.contains("%SCRIPT_INTEGRITY%"));
    }
}
