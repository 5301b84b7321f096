//! The read side: the global log, the checkpointed subscribers that tail it, and the read
//! models they maintain.
//!
//! Every consumer of the log is a named [`Subscriber`] with a checkpoint row in
//! `subscriber_checkpoints`:
//! - a [`Projection`] writes its rows and its checkpoint in one transaction (a crash never
//!   applies an event twice or loses one; `replay` rebuilds it from position 0);
//! - a [`Sink`] performs a side effect (the NATS relay) and moves its checkpoint afterwards.
//!
//! The [`runner`] runs each subscriber in exactly one process at a time (a PostgreSQL advisory
//! lock held by the connection that does all of the subscriber's work) and fails over when
//! that process dies.

pub mod assessments;
pub mod assignments;
pub mod audit;
pub mod checkpoints;
pub mod dashboards;
pub mod directory;
pub mod identity;
pub mod learning;
pub mod log;
pub mod metrics;
pub mod notifications;
pub mod realtime;
pub mod replay;
pub mod runner;
pub mod signal;
pub mod themes;
pub mod usage;
pub mod workflows;

pub use checkpoints::{Checkpoints, WaitError};
pub use log::{LogFilter, LoggedEvent};
pub use runner::{Projection, Sink, Subscriber, SubscriberStatus, Subscribers};
pub use signal::LogSignal;

/// All projections of the service, in the order they are started and replayed.
pub fn all_projections() -> Vec<std::sync::Arc<dyn Projection>> {
    vec![
        std::sync::Arc::new(directory::DirectoryProjection),
        std::sync::Arc::new(identity::IdentityProjection),
        std::sync::Arc::new(learning::LearningProjection),
        std::sync::Arc::new(assessments::AssessmentsProjection),
        std::sync::Arc::new(notifications::NotificationsProjection),
        std::sync::Arc::new(dashboards::DashboardsProjection),
        std::sync::Arc::new(workflows::InterventionsProjection),
        std::sync::Arc::new(workflows::SafetyConcernsProjection),
        std::sync::Arc::new(assignments::AssignmentsProjection),
        std::sync::Arc::new(themes::ThemesProjection),
        std::sync::Arc::new(usage::UsageProjection),
    ]
}
