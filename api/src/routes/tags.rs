//! The document's tags: one per resource family, each operation under one.

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
    /// How groups and classes present themselves (display name, colours, logo), inherited
    /// down the tree.
    Themes,
    /// Students' learning sessions, messages and detections.
    Learning,
    /// Assignments in classes, students' submissions and their grades.
    Assignments,
    /// Assessments of learning sessions with their audit traces, and their review.
    Assessments,
    /// In-app notifications, email preferences and undeliverable emails.
    Notifications,
    /// The workflows: safety concerns and their escalation, struggle interventions.
    Workflows,
    /// Live updates for dashboards over NATS websockets: credentials and catching up on a
    /// topic.
    Realtime,
    /// The event history, for auditors.
    Events,
    /// Liveness and readiness.
    Health,
}
