//! Live dashboards: which realtime credentials an event ends (ADR 0011).
//!
//! A credential carries the subscriptions its user was allowed when it was issued; when that
//! may no longer hold, it is revoked (NATS disconnects the connection) and the dashboard asks
//! for a new one, which the policy decides afresh. The rule errs towards revoking: a revoked
//! dashboard reconnects in a second with a new credential, a credential that outlives its
//! grant shows somebody what they may no longer see.

use domain::auth_session::{AuthSession, AuthSessionEvent};
use domain::class::{Class, ClassEvent};
use domain::group::{Group, GroupEvent};
use domain::user::{User, UserEvent};
use domain::Aggregate as _;
use uuid::Uuid;

/// The credentials an event revokes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Revoke {
    /// Those issued through this sign-in session (logout, logout-all, expiry, ended by an
    /// admin).
    Session(Uuid),
    /// Every credential of this user (disabled; a role in any group or class changed or
    /// removed; system admin or auditor revoked).
    User(Uuid),
    /// Every credential that watches this class (archived, moved to another group).
    Class(Uuid),
    /// Every credential (a group moved or archived: who is above which class changed).
    Everyone,
}

impl Revoke {
    /// Whether it ends a credential issued through sign-in session `session` to `user` for
    /// `classes`: what the revocation sink's update of `realtime_credentials` selects, for a
    /// credential checked on its own (see `infrastructure::realtime::grants`).
    pub fn covers(self, session: Uuid, user: Uuid, classes: &[Uuid]) -> bool {
        match self {
            Self::Session(id) => id == session,
            Self::User(id) => id == user,
            Self::Class(id) => classes.contains(&id),
            Self::Everyone => true,
        }
    }
}

/// The aggregate types whose events can revoke credentials.
pub const AGGREGATE_TYPES: &[&str] = &[AuthSession::TYPE, User::TYPE, Group::TYPE, Class::TYPE];

/// What an event of the log revokes, if anything. Events of other types, or that do not
/// parse as their type, revoke nothing.
pub fn revocation(
    aggregate_type: &str,
    aggregate_id: &str,
    payload: &serde_json::Value,
) -> Option<Revoke> {
    let id: Uuid = aggregate_id.parse().ok()?;
    let parse = || payload.clone();
    match aggregate_type {
        t if t == AuthSession::TYPE => match serde_json::from_value(parse()).ok()? {
            AuthSessionEvent::Ended { .. } => Some(Revoke::Session(id)),
            _ => None,
        },
        t if t == User::TYPE => match serde_json::from_value(parse()).ok()? {
            UserEvent::Disabled | UserEvent::SystemAdminRevoked | UserEvent::AuditorRevoked => {
                Some(Revoke::User(id))
            }
            _ => None,
        },
        t if t == Group::TYPE => match serde_json::from_value(parse()).ok()? {
            GroupEvent::MemberRoleChanged { user_id, .. }
            | GroupEvent::MemberRemoved { user_id } => Some(Revoke::User(user_id)),
            GroupEvent::Moved { .. } | GroupEvent::Archived => Some(Revoke::Everyone),
            _ => None,
        },
        t if t == Class::TYPE => match serde_json::from_value(parse()).ok()? {
            ClassEvent::MemberRoleChanged { user_id, .. }
            | ClassEvent::MemberRemoved { user_id } => Some(Revoke::User(user_id)),
            ClassEvent::Moved { .. } | ClassEvent::Archived => Some(Revoke::Class(id)),
            _ => None,
        },
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const ID: &str = "0195a3a0-0000-7000-8000-000000000001";
    const USER: &str = "0195a3a0-0000-7000-8000-000000000002";

    fn id(raw: &str) -> Uuid {
        raw.parse().unwrap()
    }

    #[test]
    fn an_ended_sign_in_session_revokes_its_credentials() {
        let ended = json!({"type": "auth.session_ended", "reason": "logout"});
        assert_eq!(
            revocation("auth_session", ID, &ended),
            Some(Revoke::Session(id(ID)))
        );
        let renewed = json!({"type": "auth.session_renewed", "expires_at": "2026-12-07T00:00:00Z"});
        assert_eq!(revocation("auth_session", ID, &renewed), None);
    }

    #[test]
    fn a_disabled_account_or_a_lost_system_role_revokes_the_users_credentials() {
        for event in [
            "user.disabled",
            "user.system_admin_revoked",
            "user.auditor_revoked",
        ] {
            assert_eq!(
                revocation("user", ID, &json!({"type": event})),
                Some(Revoke::User(id(ID))),
                "{event}"
            );
        }
        assert_eq!(
            revocation("user", ID, &json!({"type": "user.enabled"})),
            None
        );
    }

    #[test]
    fn a_changed_or_removed_role_revokes_the_members_credentials() {
        for kind in ["group", "class"] {
            let removed = json!({"type": format!("{kind}.member_removed"), "user_id": USER});
            assert_eq!(
                revocation(kind, ID, &removed),
                Some(Revoke::User(id(USER))),
                "{kind}"
            );
        }
        let changed =
            json!({"type": "class.member_role_changed", "user_id": USER, "role": "student"});
        assert_eq!(
            revocation("class", ID, &changed),
            Some(Revoke::User(id(USER)))
        );
        let added = json!({"type": "class.member_added", "user_id": USER, "role": "teacher"});
        assert_eq!(revocation("class", ID, &added), None);
    }

    #[test]
    fn moving_or_archiving_changes_who_watches_what() {
        assert_eq!(
            revocation("class", ID, &json!({"type": "class.archived"})),
            Some(Revoke::Class(id(ID)))
        );
        assert_eq!(
            revocation(
                "group",
                ID,
                &json!({"type": "group.moved", "parent_id": null})
            ),
            Some(Revoke::Everyone)
        );
    }

    #[test]
    fn a_revocation_covers_the_credentials_of_its_session_user_or_class() {
        let (session, user, class) = (id(ID), id(USER), Uuid::from_u128(3));
        let other = Uuid::from_u128(4);
        assert!(Revoke::Session(session).covers(session, user, &[]));
        assert!(!Revoke::Session(other).covers(session, user, &[class]));
        assert!(Revoke::User(user).covers(session, user, &[]));
        assert!(!Revoke::User(other).covers(session, user, &[class]));
        assert!(Revoke::Class(class).covers(session, user, &[other, class]));
        assert!(!Revoke::Class(class).covers(session, user, &[other]));
        assert!(Revoke::Everyone.covers(session, user, &[]));
    }

    #[test]
    fn other_events_and_malformed_ids_revoke_nothing() {
        assert_eq!(
            revocation(
                "learning_session",
                ID,
                &json!({"type": "learning.session_completed"})
            ),
            None
        );
        assert_eq!(
            revocation("user", "not-a-uuid", &json!({"type": "user.disabled"})),
            None
        );
    }
}
