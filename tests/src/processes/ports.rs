//! Ports on the loopback interface: a free one for a server to take, and waiting until a
//! started server accepts connections on its own.

use std::net::TcpListener as StdTcpListener;
use std::time::Duration;

/// A free TCP port on the loopback interface.
pub fn free_port() -> u16 {
    StdTcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port()
}

/// Waits (up to 5 s, then panics) until something accepts connections on `port`.
pub(super) async fn wait_for_port(port: u16, what: &str) {
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
