//! The HTTP API (poem + poem-openapi) and the composition root.
//!
//! - [`app`]: `Application::build(config)` wires the event store, subscribers, NATS relay and
//!   routes, binds the listener (port 0 works) and reports the real port.
//! - [`problem`]: the one API error type, RFC 9457 `application/problem+json`.
//! - [`middleware`]: request ids and logging, body limits and JSON syntax, caller resolution.
//! - [`routes`]: one module per resource.

pub mod app;
pub mod authz;
pub mod caller;
pub mod cli;
pub mod directory_cache;
pub mod invalidation;
pub mod middleware;
pub mod openapi;
pub mod problem;
pub mod rate_limit;
pub mod routes;
pub mod state;

pub use app::Application;
