//! The HTTP API (poem + poem-openapi) and the composition root. Dependencies point one way:
//! `app` wires everything; `openapi` gathers the routes; the routes use the shared state and
//! the request-level modules below them, never `app`, `openapi` or each other.
//!
//! - [`app`]: `Application::build(config)` wires the event store, subscribers, NATS relay,
//!   workers and routes, binds the listener (port 0 works) and reports the real port.
//! - [`cli`]: the `raptscallions` subcommands.
//! - [`demo`]: `raptscallions demo`, a sample school made through the ordinary use cases.
//! - [`dashboard_page`]: the live class dashboard page (`/dashboard`), embedded.
//! - [`state`]: [`state::Services`], what every endpoint shares, and its read-your-writes waits.
//! - [`openapi`]: every resource's API in one document, as served.
//! - [`routes`]: one module per resource, and the modules that several of them share.
//! - [`middleware`]: request ids and logging, body limits and JSON syntax, caller resolution.
//! - [`caller`]: who is calling ([`caller::Caller`]), as handlers receive it.
//! - [`authz`]: the Cedar policy and the decisions endpoints ask of it.
//! - [`directory_cache`]: what authorization reads from the directory, cached per process.
//! - [`rate_limit`]: the per-IP limits of the endpoints anyone may call.
//! - [`problem`]: the one API error type, RFC 9457 `application/problem+json`.
//! - [`workers`]: the background loops of the API process (session sweep, cache invalidation).

pub mod app;
pub mod authz;
pub mod caller;
pub mod cli;
pub mod connections;
pub mod dashboard_page;
pub mod demo;
pub mod directory_cache;
pub mod metrics;
pub mod middleware;
pub mod openapi;
pub mod problem;
pub mod progress;
pub mod rate_limit;
pub mod routes;
pub mod state;
pub mod workers;

pub use app::Application;
