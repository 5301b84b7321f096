//! The event store: how commands load their streams and append their events.
//!
//! - [`runner`]: [`CommandRunner`], which loads a stream, lets the domain aggregate decide and
//!   appends the events with optimistic concurrency, reporting the positions they reached in
//!   the global log; and the [`CommandContext`] copied into every event's metadata.
//! - [`cqrs`]: the adapter that makes each domain aggregate a cqrs-es aggregate.
//! - [`error`]: why a command did not take effect ([`CommandError`]), with storage failures
//!   ([`StoreError`]) kept apart from rejections.
//! - [`lookups`]: which stream a login or a password reset is about, found before it is
//!   loaded.

pub mod cqrs;
pub mod error;
pub mod lookups;
pub mod runner;

pub use error::{is_unavailable, CommandError, StoreError};
pub use runner::{Appended, CommandContext, CommandRunner};
