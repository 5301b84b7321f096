//! The test harness: a fresh database per test (dropped afterwards), the real server on port
//! 0, a real NATS (the machine's, or a private `nats-server` the test controls), and helpers
//! that wait for the projections instead of sleeping.
//!
//! - [`database`]: one PostgreSQL database per test, created and dropped;
//! - [`app`]: the app under test in this process ([`spawn_app`], [`TestApp`], [`test_env`]);
//! - [`http`]: requests as the system admin or as any caller, status checks over callers;
//! - [`event_log`]: the log's length, head and counts by type;
//! - [`waiting`]: waiting for the subscribers and for probes, holding a projection back;
//! - [`live_updates`]: a topic's live updates on core NATS, waiting for the publisher;
//! - [`fixtures`]: users, groups, classes, tools, roles, service accounts and a whole school,
//!   built through the public API;
//! - [`processes`]: servers the tests start: a private `nats-server`, the SMTP sink, the
//!   test OpenID provider, `raptscallions` as a process and its commands, free ports.
//!
//! Every name the integration tests use is re-exported here, so `tests::spawn_app` and the
//! like work wherever it lives.

pub mod app;
pub mod database;
pub mod event_log;
pub mod fixtures;
pub mod http;
pub mod live_updates;
pub mod processes;
pub mod waiting;

pub use app::{
    spawn_app, spawn_app_with, test_env, TestApp, TestOptions, ADMIN_EMAIL, ADMIN_PASSWORD,
};
pub use database::{admin_url, TestDb};
pub use fixtures::{
    detect, json_id, register, register_named, Person, SchoolFixture, FIXTURE_PASSWORD,
};
pub use http::{assert_statuses, send};
pub use live_updates::{Received, TopicWatcher};
pub use processes::{
    create_admin_cli, free_port, nats_url, run_cli, server_binary, server_binary_path, NatsServer,
    OidcTestProvider, ReceivedEmail, ServerProcess, SmtpSink,
};
pub use waiting::{eventually, wait_for_checkpoints};
