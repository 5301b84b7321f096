//! The one integration-test binary: black-box tests through HTTP, PostgreSQL and NATS.

mod assessments;
mod auth;
mod bad_input;
mod caches;
mod concurrency;
mod contract;
mod dashboard_page;
mod demo;
mod events;
mod failover;
mod groups;
mod hardening;
mod learning;
mod log_order;
mod notifications;
mod oidc;
mod openapi;
mod permissions;
mod realtime;
mod realtime_access;
mod relay;
mod secrets;
mod service;
mod subscribers;
mod tools;
mod workflows;
