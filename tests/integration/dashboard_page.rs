//! The dashboard page (`/dashboard`): its files as served, and a teacher and a counselor
//! watching a class in a real browser (Debian's Chromium driven by Playwright:
//! `tests/browser/dashboard.mjs`).

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use reqwest::header;
use serde_json::Value;
use tests::{spawn_app, spawn_app_with, NatsServer, SchoolFixture, TestOptions, FIXTURE_PASSWORD};
use tokio::process::Command;

const PAGE_FILES: [(&str, &str); 4] = [
    ("/dashboard", "text/html; charset=utf-8"),
    ("/dashboard/app.js", "text/javascript; charset=utf-8"),
    ("/dashboard/style.css", "text/css; charset=utf-8"),
    ("/dashboard/licenses.txt", "text/plain; charset=utf-8"),
];

fn header_of(response: &reqwest::Response, name: header::HeaderName) -> String {
    response
        .headers()
        .get(&name)
        .unwrap_or_else(|| panic!("{name} on {}", response.url()))
        .to_str()
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn the_page_and_its_files_are_served_with_their_headers() {
    let app = spawn_app().await;
    for (path, content_type) in PAGE_FILES {
        let response = app.http.get(app.url(path)).send().await.unwrap();
        assert_eq!(response.status(), 200, "{path}");
        assert_eq!(header_of(&response, header::CONTENT_TYPE), content_type);
        assert_eq!(header_of(&response, header::CACHE_CONTROL), "no-cache");
        assert_eq!(
            header_of(&response, header::X_CONTENT_TYPE_OPTIONS),
            "nosniff"
        );
        assert_eq!(header_of(&response, header::X_FRAME_OPTIONS), "DENY");
        assert!(response.headers().contains_key("x-request-id"), "{path}");
        let etag = header_of(&response, header::ETAG);
        assert!(etag.starts_with('"') && etag.len() > 10, "{path}: {etag}");
        let csp = header_of(&response, header::CONTENT_SECURITY_POLICY);
        assert!(csp.contains("frame-ancestors 'none'"), "{path}: {csp}");
        let body = response.bytes().await.unwrap();
        assert!(!body.is_empty(), "{path}");

        // The browser revalidates: an unchanged file is a 304 without a body.
        let again = app
            .http
            .get(app.url(path))
            .header(header::IF_NONE_MATCH, &etag)
            .send()
            .await
            .unwrap();
        assert_eq!(again.status(), 304, "{path}");
        assert_eq!(header_of(&again, header::ETAG), etag);
        assert!(again.bytes().await.unwrap().is_empty());
        let stale = app
            .http
            .get(app.url(path))
            .header(header::IF_NONE_MATCH, "\"0123456789abcdef\"")
            .send()
            .await
            .unwrap();
        assert_eq!(stale.status(), 200, "{path}");

        let head = app.http.head(app.url(path)).send().await.unwrap();
        assert_eq!(head.status(), 200, "HEAD {path}");
        assert_eq!(header_of(&head, header::CONTENT_TYPE), content_type);

        // The page is only read.
        let post = app.post(path).await;
        assert_eq!(post.status(), 405, "POST {path}");
        assert_eq!(header_of(&post, header::ALLOW), "GET, HEAD");
        assert!(header_of(&post, header::CONTENT_TYPE).starts_with("application/problem+json"));
        let problem: Value = post.json().await.unwrap();
        assert!(
            problem["type"]
                .as_str()
                .unwrap()
                .ends_with("/method-not-allowed"),
            "{problem}"
        );
    }

    let page = app.http.get(app.url("/dashboard")).send().await.unwrap();
    let csp = header_of(&page, header::CONTENT_SECURITY_POLICY);
    for directive in [
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "base-uri 'none'",
        "connect-src 'self' ",
    ] {
        assert!(csp.contains(directive), "{directive} in {csp}");
    }
    assert!(
        !csp.contains("unsafe-inline") && !csp.contains("unsafe-eval"),
        "{csp}"
    );
    assert_eq!(header_of(&page, header::REFERRER_POLICY), "no-referrer");
    let html = page.text().await.unwrap();
    assert!(
        html.contains("src=\"/dashboard/app.js\" integrity=\"sha384-"),
        "{html}"
    );
    assert!(
        html.contains("href=\"/dashboard/style.css\" integrity=\"sha384-"),
        "{html}"
    );

    let unknown = app.get("/dashboard/nothing.js").await;
    assert_eq!(unknown.status(), 404);
    // The page is not part of the API's document.
    let document: Value = app.get("/openapi.json").await.json().await.unwrap();
    let paths = document["paths"].as_object().unwrap();
    assert!(
        paths.keys().all(|p| !p.starts_with("/dashboard")),
        "{:?}",
        paths.keys().collect::<Vec<_>>()
    );
}

/// A teacher signs in through the page, picks the class and sees its snapshot; a detection
/// posted over REST shows within 1 s; after signing out nothing more reaches the page. A
/// counselor then sees the class's open safety concerns: one posted over REST is listed within
/// 1 s and leaves the list when resolved. The steps are in `tests/browser/dashboard.mjs`.
#[tokio::test]
async fn a_teacher_and_a_counselor_watch_a_class_live_in_a_browser() {
    let browser_dir = concat!(env!("CARGO_MANIFEST_DIR"), "/browser");
    assert!(
        Path::new(browser_dir)
            .join("node_modules/playwright-core")
            .exists(),
        "run `npm ci --prefix tests/browser` (scripts/test.sh does)"
    );
    let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".to_owned());
    assert!(
        Path::new(&chromium).exists(),
        "{chromium} is missing: `apt-get install chromium` (scripts/test.sh does)"
    );
    let nats = NatsServer::start_secured().await;
    let app = spawn_app_with(TestOptions::secured_nats(&nats, &[])).await;
    let school = SchoolFixture::build(&app).await;
    let teacher = &school.teachers[0];
    let screenshot = std::env::temp_dir().join(format!("{}-dashboard.png", app.db.name));

    let run = Command::new("node")
        .arg(format!("{browser_dir}/dashboard.mjs"))
        .env("RAPT_BASE_URL", &app.address)
        .env("RAPT_TEACHER_EMAIL", &teacher.email)
        .env("RAPT_TEACHER_PASSWORD", FIXTURE_PASSWORD)
        .env("RAPT_COUNSELOR_EMAIL", &school.counselor.email)
        .env("RAPT_COUNSELOR_PASSWORD", FIXTURE_PASSWORD)
        .env("RAPT_CLASS_ID", &school.class)
        .env("RAPT_CLASS_NAME", &school.class_name)
        .env("RAPT_SERVICE_TOKEN", &school.service)
        .env("RAPT_LEARNING_SESSION", &school.session)
        .env("CHROMIUM", &chromium)
        .env("RAPT_SCREENSHOT", &screenshot)
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .output();
    let output = tokio::time::timeout(Duration::from_secs(120), run)
        .await
        .expect("the browser test finishes within 2 minutes")
        .expect("node must be installed");
    assert!(
        output.status.success(),
        "the browser test failed ({}):\n--- stdout\n{}\n--- stderr\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}
