//! Slow and idle clients are cut off (`HTTP_HEADER_READ_TIMEOUT_MS`,
//! `HTTP_BODY_READ_TIMEOUT_MS`, `HTTP_IDLE_TIMEOUT_MS`), and open connections are capped
//! (`HTTP_MAX_CONNECTIONS`), while the service keeps answering others.

use std::time::{Duration, Instant};

use tests::{spawn_app_with, TestApp, TestOptions};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

fn options(env: &[(&str, &str)]) -> TestOptions {
    TestOptions {
        env: env
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect(),
        ..TestOptions::default()
    }
}

async fn connect(app: &TestApp) -> TcpStream {
    TcpStream::connect(app.address.trim_start_matches("http://"))
        .await
        .unwrap()
}

/// Everything the server sends until it closes the connection (at most `within`); `None`
/// if it is still open then.
async fn until_closed(stream: &mut TcpStream, within: Duration) -> Option<String> {
    let mut received = Vec::new();
    let read = tokio::time::timeout(within, async {
        let mut chunk = [0_u8; 4096];
        loop {
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => break,
                Ok(n) => received.extend_from_slice(&chunk[..n]),
            }
        }
    })
    .await;
    read.ok()
        .map(|()| String::from_utf8_lossy(&received).into_owned())
}

/// Reads one answer whose head says `content-length` (and nothing else is sent).
async fn one_answer(stream: &mut TcpStream, within: Duration) -> Option<String> {
    let mut received = Vec::new();
    tokio::time::timeout(within, async {
        let mut chunk = [0_u8; 4096];
        loop {
            let text = String::from_utf8_lossy(&received).into_owned();
            if let Some((head, body)) = text.split_once("\r\n\r\n") {
                let length = head
                    .lines()
                    .find_map(|l| {
                        l.to_ascii_lowercase()
                            .strip_prefix("content-length: ")
                            .map(|v| v.trim().parse::<usize>().unwrap())
                    })
                    .unwrap_or(0);
                if body.len() >= length {
                    return text;
                }
            }
            let n = stream.read(&mut chunk).await.unwrap();
            assert!(n > 0, "closed before a whole answer: {text}");
            received.extend_from_slice(&chunk[..n]);
        }
    })
    .await
    .ok()
}

const HEALTH: &[u8] = b"GET /health HTTP/1.1\r\nhost: test\r\n\r\n";

#[tokio::test]
async fn a_half_sent_request_is_cut_off_after_the_header_timeout_while_others_are_answered() {
    let app = spawn_app_with(options(&[("HTTP_HEADER_READ_TIMEOUT_MS", "400")])).await;
    let mut half = connect(&app).await;
    half.write_all(b"GET /heal").await.unwrap();
    let started = Instant::now();
    // A client that trickles its head a byte at a time gains nothing.
    let mut trickle = connect(&app).await;
    let trickling = tokio::spawn(async move {
        for byte in b"GET /health HTTP/1.1\r\nhost: test\r\nx-slow: "
            .iter()
            .cycle()
        {
            if trickle.write_all(&[*byte]).await.is_err() {
                return started.elapsed();
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        unreachable!()
    });

    // Meanwhile the service answers others.
    for _ in 0..3 {
        let health = app.http.get(app.url("/health")).send().await.unwrap();
        assert_eq!(health.status(), 200);
    }

    let answer = until_closed(&mut half, Duration::from_secs(10))
        .await
        .expect("the half-sent request's connection is closed");
    let elapsed = started.elapsed();
    assert!(elapsed >= Duration::from_millis(350), "{elapsed:?}");
    assert!(answer.starts_with("HTTP/1.1 408 "), "{answer}");
    assert!(
        answer.contains("content-type: application/problem+json"),
        "{answer}"
    );
    assert!(
        answer.contains("x-content-type-options: nosniff"),
        "{answer}"
    );
    assert!(answer.contains("x-request-id: "), "{answer}");
    assert!(
        answer.contains("https://raptscallions.app/problems/request-timeout"),
        "{answer}"
    );
    let trickled = tokio::time::timeout(Duration::from_secs(10), trickling)
        .await
        .expect("the trickling client is cut off")
        .unwrap();
    assert!(trickled < Duration::from_secs(5), "{trickled:?}");
    let health = app.http.get(app.url("/health")).send().await.unwrap();
    assert_eq!(health.status(), 200);
}

#[tokio::test]
async fn idle_connections_and_slow_bodies_are_cut_off() {
    let app = spawn_app_with(options(&[
        ("HTTP_IDLE_TIMEOUT_MS", "400"),
        ("HTTP_BODY_READ_TIMEOUT_MS", "400"),
    ]))
    .await;
    // A kept-alive connection is answered, then closed once idle, with nothing more sent.
    let mut idle = connect(&app).await;
    idle.write_all(HEALTH).await.unwrap();
    let answer = one_answer(&mut idle, Duration::from_secs(5)).await.unwrap();
    assert!(answer.starts_with("HTTP/1.1 200 "), "{answer}");
    let rest = until_closed(&mut idle, Duration::from_secs(10))
        .await
        .expect("an idle connection is closed");
    assert_eq!(rest, "");

    // A body shorter than its Content-Length: 408 once its time is up, then closed.
    let mut short = connect(&app).await;
    short
        .write_all(
            b"POST /auth/login HTTP/1.1\r\nhost: test\r\ncontent-type: application/json\r\n\
              content-length: 100\r\n\r\n{\"email\":",
        )
        .await
        .unwrap();
    let answer = until_closed(&mut short, Duration::from_secs(10))
        .await
        .expect("a short body's connection is closed");
    assert!(answer.starts_with("HTTP/1.1 408 "), "{answer}");
    assert!(
        answer.contains("https://raptscallions.app/problems/request-timeout"),
        "{answer}"
    );
    assert!(
        answer.contains("x-content-type-options: nosniff"),
        "{answer}"
    );
    assert!(answer.contains("x-request-id: "), "{answer}");
}

#[tokio::test]
async fn connections_over_the_cap_wait_while_the_open_ones_are_served() {
    // The harness's client may keep its sign-in connection open: it closes once idle.
    let app = spawn_app_with(options(&[
        ("HTTP_MAX_CONNECTIONS", "2"),
        ("HTTP_IDLE_TIMEOUT_MS", "300"),
    ]))
    .await;
    // Two connections hold the two places, each in the middle of a request head.
    let mut first = connect(&app).await;
    first.write_all(b"GET /health HTTP/1.1\r\n").await.unwrap();
    let mut second = connect(&app).await;
    second.write_all(b"GET /health HTTP/1.1\r\n").await.unwrap();

    // A third one connects (the kernel's backlog) but is not served.
    let mut third = connect(&app).await;
    third.write_all(HEALTH).await.unwrap();
    assert_eq!(
        one_answer(&mut third, Duration::from_millis(1500)).await,
        None,
        "served beyond the cap"
    );

    // The open ones are served meanwhile.
    first.write_all(b"host: test\r\n\r\n").await.unwrap();
    let answer = one_answer(&mut first, Duration::from_secs(5))
        .await
        .unwrap();
    assert!(answer.starts_with("HTTP/1.1 200 "), "{answer}");

    // Once a place is free, the third is served.
    drop(second);
    let answer = one_answer(&mut third, Duration::from_secs(10))
        .await
        .expect("served once a place is free");
    assert!(answer.starts_with("HTTP/1.1 200 "), "{answer}");
}
