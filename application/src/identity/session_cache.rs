//! The sign-in session cache: most requests carry a token this process resolved a moment
//! ago, so `Identity::authenticate` answers them from memory instead of a database round
//! trip, under the rules of [`TokenCache`] (ADR 0006). An entry is used only while its
//! session is valid at the current time and no renewal is due (the slow path renews), and
//! every command on a user's or a session's stream evicts that user's or session's entries.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::principal::Principal;
use crate::token_cache::TokenCache;

/// The notification channel of identity changes (payloads `user:<id>` or `session:<id>`),
/// on which the `identity` projection announces them.
pub use projections::identity::CHANNEL;

/// What the session cache keeps per token.
#[derive(Debug, Clone)]
pub struct CachedSession {
    pub principal: Principal,
    pub absolute_expires_at: DateTime<Utc>,
}

/// The sessions resolved a moment ago, by the hash of their token.
pub type SessionCache = TokenCache<CachedSession>;

impl SessionCache {
    pub fn evict_user(&self, user_id: Uuid) {
        self.evict(|e| e.principal.user_id != user_id);
    }

    pub fn evict_session(&self, session_id: Uuid) {
        self.evict(|e| e.principal.session_id != session_id);
    }

    /// Applies a notification payload from [`CHANNEL`]; anything unexpected clears all.
    /// (`service_account:<id>` payloads go to the service-account cache instead.)
    pub fn apply_notification(&self, payload: &str) {
        match payload.split_once(':') {
            Some(("user", id)) => match id.parse() {
                Ok(id) => self.evict_user(id),
                Err(_) => self.clear(),
            },
            Some(("session", id)) => match id.parse() {
                Ok(id) => self.evict_session(id),
                Err(_) => self.clear(),
            },
            _ => self.clear(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn principal(user: u128, session: u128) -> Principal {
        Principal {
            user_id: Uuid::from_u128(user),
            session_id: Uuid::from_u128(session),
            email: "a@b.example".into(),
            name: "A".into(),
            system_admin: false,
            auditor: false,
            created_at: Utc::now(),
            session_expires_at: Utc::now(),
        }
    }

    fn session(user: u128, session: u128) -> CachedSession {
        CachedSession {
            principal: principal(user, session),
            absolute_expires_at: Utc::now(),
        }
    }

    #[test]
    fn evictions_by_user_session_and_notification() {
        let cache = SessionCache::default();
        let g = cache.generation();
        cache.insert(g, 0, "h1".into(), session(1, 10));
        cache.insert(g, 0, "h2".into(), session(1, 11));
        cache.insert(g, 0, "h3".into(), session(2, 12));
        cache.evict_session(Uuid::from_u128(10));
        assert!(cache.get("h1").is_none());
        assert!(cache.get("h2").is_some());
        cache.apply_notification(&format!("user:{}", Uuid::from_u128(1)));
        assert!(cache.get("h2").is_none());
        assert!(cache.get("h3").is_some());
        cache.apply_notification("garbage");
        assert!(cache.get("h3").is_none());
    }

    #[test]
    fn a_read_from_before_an_eviction_is_not_stored() {
        let cache = SessionCache::default();
        let before = cache.generation();
        cache.evict_user(Uuid::from_u128(1));
        cache.insert(before, 0, "h".into(), session(1, 10));
        assert!(cache.get("h").is_none());
    }

    #[test]
    fn a_read_model_behind_our_own_change_is_not_cached() {
        let cache = SessionCache::default();
        cache.note_change(Some(100));
        let g = cache.generation();
        cache.insert(g, 99, "h".into(), session(1, 10));
        assert!(cache.get("h").is_none());
        cache.insert(g, 100, "h".into(), session(1, 10));
        assert!(cache.get("h").is_some());
    }
}
