//! Every aggregate by the name of its streams, so that a stream's events can be folded into
//! its state without knowing its type in advance: an auditor's "what did this look like
//! then" (`GET /streams/{type}/{id}/state?at=`).

use serde_json::Value;

use crate::assessment::Assessment;
use crate::assignment::Assignment;
use crate::auth_session::AuthSession;
use crate::class::Class;
use crate::email::EmailDelivery;
use crate::group::Group;
use crate::learning::LearningSession;
use crate::notification::{Notification, NotificationPreferences};
use crate::safety_escalation::SafetyEscalation;
use crate::service_account::ServiceAccount;
use crate::struggle_intervention::StruggleIntervention;
use crate::submission::Submission;
use crate::tool::Tool;
use crate::user::User;
use crate::Aggregate;

/// The stream type names ([`Aggregate::TYPE`]) of every aggregate.
pub const AGGREGATE_TYPES: [&str; 15] = [
    User::TYPE,
    AuthSession::TYPE,
    ServiceAccount::TYPE,
    Group::TYPE,
    Class::TYPE,
    Tool::TYPE,
    LearningSession::TYPE,
    Assessment::TYPE,
    Notification::TYPE,
    NotificationPreferences::TYPE,
    EmailDelivery::TYPE,
    StruggleIntervention::TYPE,
    SafetyEscalation::TYPE,
    Assignment::TYPE,
    Submission::TYPE,
];

/// The state of an aggregate of type `aggregate_type` after `payloads` (its events' payloads
/// in sequence order), as JSON; `None` for a type no aggregate has.
pub fn fold_json(
    aggregate_type: &str,
    payloads: &[Value],
) -> Option<Result<Value, serde_json::Error>> {
    fn fold<A: Aggregate>(payloads: &[Value]) -> Result<Value, serde_json::Error> {
        let mut state = A::default();
        for payload in payloads {
            state.apply(A::Event::deserialize(payload)?);
        }
        serde_json::to_value(state)
    }
    use serde::Deserialize as _;
    Some(match aggregate_type {
        User::TYPE => fold::<User>(payloads),
        AuthSession::TYPE => fold::<AuthSession>(payloads),
        ServiceAccount::TYPE => fold::<ServiceAccount>(payloads),
        Group::TYPE => fold::<Group>(payloads),
        Class::TYPE => fold::<Class>(payloads),
        Tool::TYPE => fold::<Tool>(payloads),
        LearningSession::TYPE => fold::<LearningSession>(payloads),
        Assessment::TYPE => fold::<Assessment>(payloads),
        Notification::TYPE => fold::<Notification>(payloads),
        NotificationPreferences::TYPE => fold::<NotificationPreferences>(payloads),
        EmailDelivery::TYPE => fold::<EmailDelivery>(payloads),
        StruggleIntervention::TYPE => fold::<StruggleIntervention>(payloads),
        SafetyEscalation::TYPE => fold::<SafetyEscalation>(payloads),
        Assignment::TYPE => fold::<Assignment>(payloads),
        Submission::TYPE => fold::<Submission>(payloads),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn every_aggregate_type_folds_and_others_do_not() {
        for aggregate_type in AGGREGATE_TYPES {
            let state = fold_json(aggregate_type, &[]).expect(aggregate_type);
            assert!(state.is_ok(), "{aggregate_type}");
        }
        assert!(fold_json("no_such_type", &[]).is_none());
        let mut unique = AGGREGATE_TYPES.to_vec();
        unique.sort_unstable();
        unique.dedup();
        assert_eq!(unique.len(), AGGREGATE_TYPES.len());
    }

    #[test]
    fn a_group_folds_to_the_state_its_events_made() {
        let created = json!({"type": "group.created", "name": "Before", "parent_id": null});
        let renamed = json!({"type": "group.renamed", "name": "After"});
        let before = fold_json(Group::TYPE, std::slice::from_ref(&created))
            .unwrap()
            .unwrap();
        assert_eq!(before["name"], "Before", "{before}");
        assert_eq!(before["created"], true);
        let after = fold_json(Group::TYPE, &[created, renamed])
            .unwrap()
            .unwrap();
        assert_eq!(after["name"], "After", "{after}");
    }

    #[test]
    fn an_event_of_another_type_is_an_error() {
        assert!(fold_json(Group::TYPE, &[json!({"nonsense": true})])
            .unwrap()
            .is_err());
    }
}
