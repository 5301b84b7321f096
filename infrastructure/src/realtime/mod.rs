//! Live dashboards over NATS: the credentials that let a browser subscribe (ADR 0011).

pub mod auth;
pub mod grants;
pub mod nats_jwt;
