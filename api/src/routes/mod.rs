//! One module per resource. Each defines its DTOs (separate from domain types) and a
//! poem-openapi `OpenApi` implementation, which `crate::openapi` gathers into the document.
//!
//! A resource module depends on the shared state, the caller, the policy and the problem
//! type, and on the modules here that several resources share, never on another resource:
//! - [`directory`]: what `/groups`, `/classes` and `/service-accounts` share (the class and
//!   member DTOs, group and class rejections, the membership endpoints' one rule);
//! - [`identity`]: what the account routes share (the account DTO, identity rejections, the
//!   `session` cookie, Ada's account in the examples);
//! - [`paging`]: lists paged by log position (`limit`, `cursor`);
//! - [`views`]: what a REST read of a watched read model shares with the live updates of its
//!   topic (the items, the snapshot and its `position`);
//! - [`tags`]: the document's tags; [`text`]: the strict string of request bodies;
//!   [`closed`]: the closed sets of strings (roles, statuses, kinds), documented as enums.
//!
//! `examples` tells the examples' story for most DTOs (`/auth`'s, the provider links' and the
//! event history's stay beside them); it depends on the resources, and none of them on it.

pub mod assessments;
pub mod assignments;
pub mod audit;
pub mod auth;
pub mod classes;
pub mod closed;
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
pub mod paging;
pub mod realtime;
pub mod service_accounts;
pub mod tags;
pub mod text;
pub mod themes;
pub mod tools;
pub mod usage;
pub mod users;
pub mod views;
pub mod workflows;
