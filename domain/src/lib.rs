//! The Raptscallions domain: aggregates, their commands, events and errors, and the value
//! types they are made of.
//!
//! Pure by design: no I/O, no async runtime, no database or messaging crate (the test command
//! checks `cargo tree -p domain`). Aggregates decide synchronously: `handle` turns a command
//! into events or a typed rejection, `apply` folds an event into state. The `application`
//! crate adapts them to cqrs-es and the PostgreSQL event store.
//!
//! Every aggregate is a folder laid out the same way: `mod.rs` (what the aggregate is, its id
//! type and the re-exports its users import), `aggregate.rs` (the state, `handle` and `apply`,
//! and the given/when/then tests), `command.rs`, `event.rs` (the event type strings and the
//! golden-JSON tests), `error.rs`, and a file per group of value types where it has some
//! (`group/name.rs`, `user/values.rs`, ...). `name.rs` holds the rule every name shares: it
//! must show what it says; `theme.rs` the values of a group's or class's theme. `aggregate.rs` at the top holds the `Aggregate`
//! and `DomainEvent` traits and the given/when/then helper.

pub mod aggregate;
pub mod assessment;
pub mod assignment;
pub mod auth_session;
pub mod class;
pub mod email;
pub mod group;
pub mod history;
pub mod learning;
pub mod name;
pub mod notification;
pub mod safety_escalation;
pub mod service_account;
pub mod struggle_intervention;
pub mod submission;
pub mod theme;
pub mod tool;
pub mod user;

pub use aggregate::{Aggregate, DomainEvent};
