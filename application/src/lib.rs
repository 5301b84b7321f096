//! Use cases: commands run through the PostgreSQL event store (cqrs-es + postgres-es), the
//! rules that span aggregates, and the ports that infrastructure implements.

pub mod assessments;
pub mod classes;
pub mod external;
pub mod groups;
pub mod identity;
pub mod learning;
pub mod notifications;
pub mod ports;
pub mod service_accounts;
pub mod store;
pub mod token_cache;
pub mod tokens;
pub mod tools;

pub use store::{Appended, CommandContext, CommandError, CommandRunner, StoreError};
