//! Infrastructure: configuration, telemetry, PostgreSQL and NATS wiring.

pub mod config;
pub mod db;
pub mod mail;
pub mod nats;
pub mod oidc;
pub mod passwords;
pub mod realtime;
pub mod telemetry;
pub mod workers;

pub use config::{Config, ConfigError};
