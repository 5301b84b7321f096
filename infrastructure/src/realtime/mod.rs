//! Live dashboards over NATS (ADR 0011): the credentials that let a browser subscribe,
//! and the publisher that sends the projections' updates.

pub mod auth;
pub mod grants;
pub mod nats_jwt;
pub mod publisher;
