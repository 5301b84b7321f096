//! Servers and processes the tests start: a private `nats-server`, the SMTP sink, the test
//! OpenID provider and `raptscallions` itself as a process (`serve` and its commands); and
//! the ports they listen on.

mod nats_server;
mod oidc_provider;
mod server;
mod smtp_sink;

use std::net::TcpListener as StdTcpListener;
use std::time::Duration;

pub use nats_server::{nats_url, NatsServer};
pub use oidc_provider::OidcTestProvider;
pub use server::{create_admin_cli, run_cli, server_binary, server_binary_path, ServerProcess};
pub use smtp_sink::{ReceivedEmail, SmtpSink};

/// A free TCP port on the loopback interface.
pub fn free_port() -> u16 {
    StdTcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port()
}

/// Waits (up to 5 s, then panics) until something accepts connections on `port`.
async fn wait_for_port(port: u16, what: &str) {
    for _ in 0..200 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("{what} did not start on port {port}");
}
