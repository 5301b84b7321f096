//! Live updates for dashboards: who may watch which topic ([`authorize_topic`], the one rule
//! for the catch-up endpoint and the credentials that grant NATS subscriptions) and the
//! catch-up of a topic's stored updates ([`updates`]), and the NATS credentials
//! ([`credentials`], ADR 0011).
//!
//! The topics (`projections::realtime::Topic`): `user.<id>.notifications` for that user only;
//! `class.<id>.dashboard`, `class.<id>.interventions` and `class.<id>.safety_concerns` for
//! whom the policy lets do `class.read_dashboard`, `class.read_interventions` and
//! `class.handle_safety_concerns` on the class (the same 404 or 403 as the REST reads).

use application::identity::Principal;
use projections::realtime::Topic;

use crate::problem::{ApiError, ProblemKind};
use crate::state::Services;

pub mod credentials;
pub mod updates;

/// Where a decision reads a class's facts from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Facts {
    /// Through this process's directory cache, as every REST read does.
    Cached,
    /// From the directory read model itself: a credential's decision, which must reflect
    /// everything the `groups` checkpoint read before it covers (ADR 0011).
    Current,
}

/// Whether `user` may watch `topic`: `Ok`, or the 404/403 the matching REST read answers
/// (403 `forbidden` for another user's notifications).
pub async fn authorize_topic(
    services: &Services,
    user: &Principal,
    topic: &Topic,
    facts: Facts,
) -> Result<(), ApiError> {
    let (class_id, action) = match *topic {
        Topic::UserNotifications(user_id) => {
            return if user_id == user.user_id {
                Ok(())
            } else {
                Err(ApiError::new(
                    ProblemKind::Forbidden,
                    "only your own notifications".to_owned(),
                ))
            };
        }
        Topic::ClassDashboard(class_id) => (class_id, "class.read_dashboard"),
        Topic::ClassInterventions(class_id) => (class_id, "class.read_interventions"),
        Topic::ClassSafetyConcerns(class_id) => (class_id, "class.handle_safety_concerns"),
    };
    match facts {
        Facts::Cached => services.authz.class(user, class_id, action).await?,
        Facts::Current => {
            services
                .authz
                .class_uncached(user, class_id, action)
                .await?
        }
    };
    Ok(())
}
