//! NATS: the machine's shared server, and a private `nats-server` a test can stop and
//! restart.

use std::path::PathBuf;
use std::process::Stdio;

use infrastructure::realtime::auth::{write_setup, NatsKeys, ServerLayout};
use tokio::process::{Child, Command};
use uuid::Uuid;

use super::ports::{free_port, wait_for_port};

/// The shared NATS server of the machine.
pub fn nats_url() -> String {
    std::env::var("NATS_URL").unwrap_or_else(|_| "nats://127.0.0.1:4222".to_owned())
}

/// A private `nats-server` with JetStream that the test can stop and restart (same port,
/// same storage directory).
pub struct NatsServer {
    pub port: u16,
    dir: PathBuf,
    child: Option<Child>,
    /// With authentication: the websocket port and the deployment's keys.
    secured: Option<Secured>,
}

/// What a server started with [`NatsServer::start_secured`] adds.
pub struct Secured {
    pub websocket_port: u16,
    pub keys: NatsKeys,
}

impl NatsServer {
    pub async fn start() -> Self {
        let dir = std::env::temp_dir().join(format!("rapt-nats-{}", Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).expect("nats dir");
        let mut server = Self {
            port: free_port(),
            dir,
            child: None,
            secured: None,
        };
        server.restart().await;
        server
    }

    /// A private server configured as `raptscallions nats-setup` configures one: operator
    /// mode (JWT authentication, nobody connects without a credential), a websocket listener
    /// reading the JWT from the `rapt_nats` cookie, and JetStream.
    pub async fn start_secured() -> Self {
        let dir = std::env::temp_dir().join(format!("rapt-nats-{}", Uuid::new_v4().simple()));
        let port = free_port();
        let websocket_port = free_port();
        let keys = write_setup(
            &dir,
            &ServerLayout {
                host: "127.0.0.1".into(),
                port,
                websocket_port,
                dir: dir.clone(),
                allowed_origins: vec![],
            },
        )
        .expect("nats setup");
        let mut server = Self {
            port,
            dir,
            child: None,
            secured: Some(Secured {
                websocket_port,
                keys,
            }),
        };
        server.restart().await;
        server
    }

    /// The keys and websocket port of a server started with [`Self::start_secured`].
    pub fn secured(&self) -> &Secured {
        self.secured.as_ref().expect("started with start_secured")
    }

    pub fn websocket_url(&self) -> String {
        format!("ws://127.0.0.1:{}", self.secured().websocket_port)
    }

    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    /// Starts the server (again), waiting until it accepts connections.
    pub async fn restart(&mut self) {
        assert!(self.child.is_none(), "already running");
        let mut command = Command::new("nats-server");
        if self.secured.is_some() {
            command
                .arg("-c")
                .arg(self.dir.join("nats.conf"))
                .arg("-l")
                .arg(self.dir.join("nats.log"));
        } else {
            command
                .args([
                    "-a",
                    "127.0.0.1",
                    "-p",
                    &self.port.to_string(),
                    "-js",
                    "-sd",
                ])
                .arg(&self.dir);
        }
        let child = command
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("nats-server must be installed (scripts/services.sh installs it)");
        self.child = Some(child);
        wait_for_port(self.port, "nats-server").await;
        if let Some(secured) = &self.secured {
            wait_for_port(secured.websocket_port, "nats-server's websocket listener").await;
        }
    }

    /// Kills the server.
    pub async fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill().await;
            let _ = child.wait().await;
        }
    }
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        if let Some(child) = self.child.as_mut() {
            let _ = child.start_kill();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
