//! `raptscallions` as a process: the binary built next to the tests, `serve` started on a
//! free port, and its commands (`create-admin` and the others) run to completion.

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use tokio::process::{Child, Command};

use super::ports::free_port;

/// The `raptscallions` binary built next to the tests (`cargo build --bin raptscallions`;
/// the README's test command does it first).
pub fn server_binary() -> PathBuf {
    let binary = server_binary_path();
    assert!(
        binary.exists(),
        "{} is missing: run `cargo build --bin raptscallions` first",
        binary.display()
    );
    binary
}

/// Where the `raptscallions` binary of this build profile is (or would be): test binaries
/// live in `target/<profile>/deps`, other binaries (the benchmarks) in `target/<profile>`.
pub fn server_binary_path() -> PathBuf {
    let exe = std::env::current_exe().expect("current exe");
    let mut dir = exe.parent().expect("target dir");
    if dir.ends_with("deps") {
        dir = dir.parent().expect("target dir");
    }
    dir.join("raptscallions")
}

/// A `raptscallions serve` process.
pub struct ServerProcess {
    pub port: u16,
    child: Child,
}

impl ServerProcess {
    /// Starts `raptscallions serve` with `env` on a free port and waits until it answers.
    pub async fn start(env: &HashMap<String, String>) -> Self {
        Self::start_logging(env, None).await
    }

    /// Like [`ServerProcess::start`], writing the process's stdout and stderr to `log` (with
    /// the `RUST_LOG` of `env`, default `warn`).
    pub async fn start_logging(
        env: &HashMap<String, String>,
        log: Option<&std::path::Path>,
    ) -> Self {
        Self::start_on(env, log, None).await
    }

    /// Like [`ServerProcess::start_logging`], on the CPUs `cpus` (a `taskset` list such as
    /// `0` or `0-3`) when given: the process sees only those (its async workers and hashing
    /// permits follow), as on a machine of that size.
    pub async fn start_on(
        env: &HashMap<String, String>,
        log: Option<&std::path::Path>,
        cpus: Option<&str>,
    ) -> Self {
        let port = free_port();
        let (stdout, stderr) = match log {
            Some(path) => {
                let file = std::fs::File::create(path).expect("log file");
                (
                    Stdio::from(file.try_clone().expect("dup")),
                    Stdio::from(file),
                )
            }
            None => (Stdio::null(), Stdio::null()),
        };
        let mut command = match cpus {
            Some(cpus) => {
                let mut taskset = Command::new("taskset");
                taskset.args(["-c", cpus]).arg(server_binary());
                taskset
            }
            None => Command::new(server_binary()),
        };
        let child = command
            .arg("serve")
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("RUST_LOG", "warn")
            .envs(env)
            .env("BIND_ADDR", format!("127.0.0.1:{port}"))
            .stdout(stdout)
            .stderr(stderr)
            .kill_on_drop(true)
            .spawn()
            .expect("start raptscallions serve");
        let process = Self { port, child };
        let client = reqwest::Client::new();
        for _ in 0..600 {
            if client
                .get(process.url("/health"))
                .send()
                .await
                .is_ok_and(|r| r.status() == 200)
            {
                return process;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("raptscallions serve did not come up on port {port}");
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// The process id, while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.id()
    }

    /// SIGKILL: no graceful shutdown, as in a crash.
    pub async fn kill(mut self) {
        let _ = self.child.kill().await;
        let _ = self.child.wait().await;
    }
}

/// Runs `raptscallions <args>` to completion with `env`; returns (success, stdout+stderr).
pub async fn run_cli(env: &HashMap<String, String>, args: &[&str]) -> (bool, String) {
    let output = Command::new(server_binary())
        .args(args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .envs(env)
        .output()
        .await
        .expect("run raptscallions");
    let mut text = String::from_utf8_lossy(&output.stdout).into_owned();
    text.push_str(&String::from_utf8_lossy(&output.stderr));
    (output.status.success(), text)
}

/// Creates a system admin with the real `create-admin` command (password on stdin).
pub async fn create_admin_cli(env: &HashMap<String, String>, email: &str, password: &str) {
    use tokio::io::AsyncWriteExt as _;
    let mut child = Command::new(server_binary())
        .args(["create-admin", "--email", email, "--name", "Admin"])
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .envs(env)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("run create-admin");
    let mut stdin = child.stdin.take().expect("stdin");
    stdin
        .write_all(format!("{password}\n").as_bytes())
        .await
        .expect("write password");
    drop(stdin);
    assert!(child.wait().await.expect("create-admin").success());
}
