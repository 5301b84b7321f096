//! The audit chain (docs/adr/0015-a-tamper-evident-log.md): a hash chain over the global log,
//! kept by the [`sealer::Sealer`] subscriber (a sink), signed checkpoints of it, and [`verify`],
//! which recomputes the chain and names the first event that does not match.

pub mod chain;
pub mod keys;
pub mod sealer;
pub mod verify;

pub use chain::{Hash, SealedColumns};
pub use keys::{AuditKey, Checkpoint};
