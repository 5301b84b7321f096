//! What the write side keeps in PostgreSQL, and the one way commands load and append their
//! streams (ADR 0009). Every statement `application` sends is here, except the advisory lock
//! that serializes group moves (`groups`); the read models are queried through
//! `projections`' named functions.
//!
//! - [`runner`]: [`CommandRunner`], which loads a stream, lets the domain aggregate decide and
//!   appends the events with optimistic concurrency, reporting the positions they reached in
//!   the global log; and the [`CommandContext`] copied into every event's metadata.
//! - [`cqrs`]: the adapter that makes each domain aggregate a cqrs-es aggregate, and the
//!   loader (postgres-es's repository) every stream is read through.
//! - [`error`]: why a command did not take effect ([`CommandError`]), with storage failures
//!   ([`StoreError`]) kept apart from rejections.
//! - [`lookups`]: which stream a request is about (by email, provider identity, token hash
//!   or a command-line job's correlation id), found before it is loaded; and an account's
//!   provider links.
//! - [`oidc_flows`], [`login_failures`]: the use cases' own operational tables.
//!
//! Which module owns which table (the only one that writes it, and, but where said, reads it):
//!
//! | table | owner |
//! | --- | --- |
//! | `events` | appended by [`runner`], streams loaded by [`cqrs`], found by [`lookups`]; read in position order by `projections::log` and its subscribers (the log) |
//! | `snapshots` | postgres-es's repository expects it; nothing writes it (no snapshot store) |
//! | `email_reservations`, `identity_links` | written by triggers on `events` in the append's transaction; read by [`lookups`] |
//! | `oidc_flows` | [`oidc_flows`] |
//! | `unknown_email_login_failures` | [`login_failures`] |
//! | `users`, `auth_sessions`, `auth_session_activity`, `password_reset_tokens`, `service_accounts` | `projections::identity` |
//! | `realtime_updates` | written by the projections it mirrors (`projections::realtime::write`); published and pruned by `infrastructure::realtime::publisher` |
//! | `realtime_cursors` | `infrastructure::realtime::publisher` |
//! | `subscriber_checkpoints` and the other read models | `projections` |

pub mod cqrs;
pub mod error;
pub mod login_failures;
pub mod lookups;
pub mod oidc_flows;
pub mod runner;

pub use error::{is_unavailable, CommandError, StoreError};
pub use runner::{Appended, CommandContext, CommandRunner, Decided};
