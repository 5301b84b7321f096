//! A minimal SMTP server inside the benchmark: it answers every command with success and
//! timestamps each message as its DATA ends, so that the time of acceptance is exact.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use tokio::io::{AsyncBufReadExt as _, AsyncWriteExt as _, BufReader};
use tokio::net::TcpListener;

/// Arrival times of messages by the token found in their body.
pub(super) type Arrivals = Arc<Mutex<HashMap<String, Instant>>>;

/// A minimal SMTP server: accepts everything, records when each message's DATA ended.
pub(super) async fn smtp_server(arrivals: Arrivals) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("smtp bind");
    let port = listener.local_addr().expect("smtp addr").port();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let arrivals = arrivals.clone();
            tokio::spawn(async move {
                let (read, mut write) = stream.into_split();
                let mut lines = BufReader::new(read).lines();
                let _ = write.write_all(b"220 bench ESMTP\r\n").await;
                let mut in_data = false;
                let mut body = String::new();
                while let Ok(Some(line)) = lines.next_line().await {
                    if in_data {
                        if line == "." {
                            in_data = false;
                            if let Some(token) = token_in(&body) {
                                arrivals
                                    .lock()
                                    .expect("arrivals")
                                    .insert(token, Instant::now());
                            }
                            body.clear();
                            let _ = write.write_all(b"250 queued\r\n").await;
                        } else {
                            body.push_str(&line);
                            body.push('\n');
                        }
                        continue;
                    }
                    let verb = line.get(..4).unwrap_or("").to_ascii_uppercase();
                    let reply: &[u8] = match verb.as_str() {
                        "EHLO" => b"250-bench\r\n250 8BITMIME\r\n",
                        "DATA" => {
                            in_data = true;
                            b"354 go ahead\r\n"
                        }
                        "QUIT" => {
                            let _ = write.write_all(b"221 bye\r\n").await;
                            break;
                        }
                        _ => b"250 ok\r\n",
                    };
                    let _ = write.write_all(reply).await;
                }
            });
        }
    });
    port
}

/// The benchmark token (`bench-<n>-x`) in a text.
pub(super) fn token_in(text: &str) -> Option<String> {
    let start = text.find("bench-")?;
    let rest = &text[start..];
    let end = rest.find("-x")?;
    Some(rest[..end + 2].to_owned())
}
