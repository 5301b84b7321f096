//! What a bearer credential resolved to a moment ago, kept in memory so that most requests
//! need no database round trip to authenticate: sign-in sessions
//! (`identity::session_cache`) and service-account secrets (`service_accounts`), ADR 0006.
//!
//! Correctness rules, shared by both:
//! - An entry is trusted for at most [`MAX_AGE`] (and its user decides what else keeps it
//!   valid: a session's expiry, for example).
//! - Every command this process runs on what an entry reflects evicts the matching entries
//!   before the command's caller gets its answer ([`TokenCache::after_command`]), so in one
//!   process the very next request after a logout, a password change, a disable or a
//!   rotated secret is decided on the new state.
//! - The `identity` projection announces every such change (PostgreSQL `NOTIFY` on
//!   `projections::identity::CHANNEL`, sent when its transaction commits); each process
//!   evicts on it, so another instance's cache follows within the notification latency
//!   (milliseconds), and clears everything whenever its listener reconnects (a notification
//!   may have been missed).
//! - An entry computed from a read taken before an eviction is never stored after it (the
//!   generation check), and neither is one read from an `identity` read model that had not
//!   yet applied this process's latest change (the read returns the projection's checkpoint
//!   with the row; see [`TokenCache::note_change`]). So a request racing a logout cannot put
//!   the ended session back.

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::RwLock;
use std::time::{Duration, Instant};

use crate::store::Appended;

/// The longest an entry is trusted without a database read.
pub const MAX_AGE: Duration = Duration::from_secs(60);

/// Entries kept at most; beyond it the cache starts over.
const CAPACITY: usize = 100_000;

/// A cache of what a bearer credential (by the hex SHA-256 of it; the credential itself is
/// never kept) resolves to, with the generation and read-checkpoint guards described above.
/// Sessions use it as `identity::SessionCache`; service accounts as
/// `TokenCache<ServicePrincipal>`.
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

    /// After a command this process ran on what some entries reflect, before its caller
    /// gets the answer: records the position it reached (when it succeeded) and drops the
    /// entries `keep` refuses. The one rule behind every eviction by a command, for sessions
    /// (a user's or a session's stream) and service accounts alike.
    pub fn after_command<E>(&self, result: &Result<Appended, E>, keep: impl Fn(&V) -> bool) {
        if let Ok(appended) = result {
            self.note_change(appended.position);
        }
        self.evict(keep);
    }
}
