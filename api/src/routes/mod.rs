//! One module per resource. Each defines its DTOs (separate from domain types) and a
//! poem-openapi `OpenApi` implementation.

pub mod assessments;
pub mod auth;
pub mod classes;
pub mod dashboards;
pub mod events;
mod examples;
pub mod groups;
pub mod health;
pub mod learning;
pub mod me;
pub mod notifications;
pub mod oidc;
pub mod service_accounts;
pub mod text;
pub mod tools;
pub mod users;

use poem_openapi::Tags;

#[derive(Tags)]
pub enum ApiTags {
    /// Registration, login, sessions and passwords.
    Auth,
    /// Account administration (system admins).
    Users,
    /// Organizational groups (district, school, department) and their members.
    Groups,
    /// Classes and their members.
    Classes,
    /// The AI tools a group offers.
    Tools,
    /// Students' learning sessions, messages and detections.
    Learning,
    /// Assessments of learning sessions with their audit traces, and their review.
    Assessments,
    /// In-app notifications, email preferences and undeliverable emails.
    Notifications,
    /// The event history, for auditors.
    Events,
    /// Liveness and readiness.
    Health,
}
