//! One module per resource. Each defines its DTOs (separate from domain types) and a
//! poem-openapi `OpenApi` implementation.

pub mod assessments;
pub mod auth;
pub mod classes;
pub mod dashboards;
pub mod directory;
pub mod events;
mod examples;
pub mod groups;
pub mod health;
pub mod identity;
pub mod learning;
pub mod me;
pub mod notifications;
pub mod oidc;
pub mod service_accounts;
pub mod tags;
pub mod text;
pub mod tools;
pub mod users;
