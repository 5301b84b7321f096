//! The one integration-test binary: black-box tests through HTTP, PostgreSQL and NATS.

mod bad_input;
mod concurrency;
mod events;
mod failover;
mod groups;
mod log_order;
mod relay;
mod service;
mod subscribers;
