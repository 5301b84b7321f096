//! The Raptscallions domain: aggregates, their commands, events and errors, and the value
//! types they are made of.
//!
//! Pure by design: no I/O, no async runtime, no database or messaging crate (the test command
//! checks `cargo tree -p domain`). Aggregates decide synchronously: `handle` turns a command
//! into events or a typed rejection, `apply` folds an event into state. The `application`
//! crate adapts them to cqrs-es and the PostgreSQL event store.

pub mod aggregate;
pub mod assessment;
pub mod class;
pub mod email;
pub mod group;
pub mod learning;
pub mod notification;
pub mod service_account;
pub mod session;
pub mod tool;
pub mod user;

pub use aggregate::{Aggregate, DomainEvent};
