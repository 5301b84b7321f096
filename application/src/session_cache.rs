//! The authenticated-session cache: most requests carry a token this process resolved a
//! moment ago, so `Identity::authenticate` answers them from memory instead of a database
//! round trip.
//!
//! Correctness rules:
//! - An entry is used only while its session is valid at the current time and no renewal is
//!   due (the slow path renews), and for at most [`MAX_AGE`].
//! - Every command this process runs on a user or session stream evicts that user's or
//!   session's entries before the command's caller gets its answer, so in one process the
//!   very next request after a logout, password change or disable is decided on the new
//!   state.
//! - The `identity` projection announces every change of a user or a session (PostgreSQL
//!   `NOTIFY` on [`CHANNEL`], sent when its transaction commits); each process evicts on it,
//!   so another instance's cache follows within the notification latency (milliseconds), and
//!   clears everything whenever its listener reconnects (a notification may have been missed).
//! - An entry computed from a read taken before an eviction is never stored after it (the
//!   generation check), and neither is one read from an `identity` read model that had not
//!   yet applied this process's latest change to users or sessions (the read returns the
//!   projection's checkpoint with the row; see [`SessionCache::note_change`]). So a request
//!   racing a logout cannot put the ended session back.

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::RwLock;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::identity::Principal;

/// The notification channel of identity changes (payloads `user:<id>` or `session:<id>`),
/// on which the `identity` projection announces them.
pub use projections::identity::CHANNEL;

/// The longest an entry is trusted without a database read.
pub const MAX_AGE: Duration = Duration::from_secs(60);

/// Entries kept at most; beyond it the cache starts over.
const CAPACITY: usize = 100_000;

/// What the session cache keeps per token.
#[derive(Debug, Clone)]
pub struct CachedSession {
    pub principal: Principal,
    pub absolute_expires_at: DateTime<Utc>,
}

/// A cache of what a bearer credential (by the hex SHA-256 of it; the credential itself is
/// never kept) resolves to, with the generation and read-checkpoint guards described above.
/// Sessions use it as [`SessionCache`]; service accounts as `TokenCache<ServicePrincipal>`.
pub struct TokenCache<V> {
    entries: RwLock<HashMap<String, (V, Instant)>>,
    generation: AtomicU64,
    /// The log position of this process's latest change to what the cache holds.
    changed_at: AtomicI64,
}

impl<V> Default for TokenCache<V> {
    fn default() -> Self {
        Self {
            entries: RwLock::default(),
            generation: AtomicU64::default(),
            changed_at: AtomicI64::default(),
        }
    }
}

pub type SessionCache = TokenCache<CachedSession>;

impl<V: Clone> TokenCache<V> {
    /// The fresh entry of a token hash.
    pub fn get(&self, token_hash: &str) -> Option<V> {
        let entries = self.entries.read().expect("token cache");
        entries
            .get(token_hash)
            .filter(|(_, cached_at)| cached_at.elapsed() < MAX_AGE)
            .map(|(value, _)| value.clone())
    }

    /// The generation to pass to [`TokenCache::insert`]: read it before the database.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// Records that this process made a change at `position`: entries read from a read
    /// model that has not reached it are not stored.
    pub fn note_change(&self, position: Option<i64>) {
        if let Some(position) = position {
            self.changed_at.fetch_max(position, Ordering::AcqRel);
        }
    }

    /// Stores an entry unless something was evicted since `generation` was read or the read
    /// model it came from (at `read_checkpoint`) lags this process's own changes.
    pub fn insert(&self, generation: u64, read_checkpoint: i64, token_hash: String, value: V) {
        let mut entries = self.entries.write().expect("token cache");
        if self.generation.load(Ordering::Acquire) != generation
            || read_checkpoint < self.changed_at.load(Ordering::Acquire)
        {
            return;
        }
        if entries.len() >= CAPACITY {
            entries.clear();
        }
        entries.insert(token_hash, (value, Instant::now()));
    }

    /// Drops the entries `keep` refuses and starts a new generation.
    pub fn evict(&self, keep: impl Fn(&V) -> bool) {
        let mut entries = self.entries.write().expect("token cache");
        self.generation.fetch_add(1, Ordering::AcqRel);
        entries.retain(|_, (value, _)| keep(value));
    }

    pub fn clear(&self) {
        self.evict(|_| false);
    }
}

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
