//! The background loops of the API process, each started by [`crate::app`] and stopped by its
//! shutdown signal:
//!
//! - [`expired_sessions`]: ends the sign-in sessions that expired unused;
//! - [`cache_invalidation`]: applies other processes' identity and directory changes to this
//!   process's caches.
//!
//! The subscribers (projections, the NATS relay, reactions, email delivery) run under
//! `projections::Subscribers`; their workers are in the `infrastructure` crate.

pub mod cache_invalidation;
pub mod expired_sessions;
