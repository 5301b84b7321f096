//! Subscribers with side effects beyond their own tables: they react to events by running
//! commands (reactions → notifications) or by talking to the outside world (email delivery).
//! Like the NATS relay they are [`projections::Sink`]s: their checkpoint moves after the work
//! is done, and the work is idempotent (deterministic ids, state read from the event store).

pub mod audit;
pub mod email;
mod memo;
pub mod reactions;
pub mod templates;
pub mod workflows;
