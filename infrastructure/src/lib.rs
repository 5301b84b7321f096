//! Infrastructure: configuration, telemetry, PostgreSQL and NATS wiring.

pub mod config;
pub mod db;
pub mod nats;
pub mod telemetry;

pub use config::{Config, ConfigError};
