//! Use cases: commands run through the PostgreSQL event store (cqrs-es + postgres-es), the
//! rules that span aggregates, and the ports that infrastructure implements.
//!
//! One module per area of use cases (`groups`, `classes`, `identity`, `external` for sign-in
//! with providers, `learning`, `notifications`, `service_accounts`, `assessments`, `tools`).
//! [`store`] is the event store and every table the write side owns: every load and append
//! of a stream goes through it (ADR 0009), and it says which module owns which table. The
//! read models are `projections`' (this crate depends on it and calls its named queries;
//! it never depends back). [`token_cache`] keeps what bearer credentials resolved to,
//! [`tokens`] makes and hashes them, and [`ports`] are the traits the outside implements.

pub mod assessments;
pub mod assignments;
pub mod classes;
pub mod external;
pub mod groups;
pub mod identity;
pub mod learning;
pub mod notices;
pub mod notifications;
pub mod ports;
pub mod realtime;
pub mod service_accounts;
pub mod store;
pub mod token_cache;
pub mod tokens;
pub mod tools;
pub mod workflows;

pub use store::{Appended, CommandContext, CommandError, CommandRunner, Decided, StoreError};
