//! Throughput and latency measurements (not tests), one module per benchmark, each run by a
//! binary of its own (`src/main.rs`, `src/bin/*.rs`) that holds its settings and how to run it:
//!
//! - [`write_path`] (binary `bench`): `POST /groups` against the raw PostgreSQL ceiling;
//!   projection and relay lag under a paced load;
//! - [`access`] (binary `access`): logins against raw argon2id, `/health` during logins,
//!   authenticated and authorized requests against `/health`;
//! - [`reactions`] (binary `reactions`): detections/s, and the latency from a detection to
//!   its notification and its email;
//! - [`realtime`] (binary `realtime`): live dashboards over NATS websockets, credentials/s;
//! - [`workflows`] (binary `workflows`): a saga in the path of a notification, sleeping
//!   sagas, timers all due at once and timer lateness;
//! - [`audit`] (binary `audit`): the sealer beside `POST /groups` and its lag, verification
//!   and replay over a million events;
//! - [`assignments`] (binary `assignments`): submissions accepted per second against
//!   `POST /groups`;
//! - [`mixed`] (binary `mixed`): writes that wait for their read model (learning-session
//!   messages) alone and beside a flood of other writes;
//! - [`usage`] (binary `usage`): a district's usage over a year against a plain group read;
//! - [`operability`] (binary `operability`): `POST /groups` with metrics and tracing on
//!   against off.
//!
//! What they share:
//!
//! - [`closed_loop`]: clients repeating an operation for the step length, and their HTTP
//!   client;
//! - [`stats`]: percentiles and milliseconds;
//! - [`procfs`]: CPU counters read from /proc;
//! - [`school`]: the school the detection benchmarks run in.

pub mod access;
pub mod assignments;
pub mod audit;
pub mod closed_loop;
pub mod mixed;
pub mod operability;
pub mod procfs;
pub mod reactions;
pub mod realtime;
pub mod school;
pub mod stats;
pub mod usage;
pub mod workflows;
pub mod write_path;
