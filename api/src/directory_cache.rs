//! An in-process cache of what authorization reads from the directory (the facts of a
//! group or class for a user, class rows) and of the policy's decisions on them.
//!
//! The whole cache is one generation: any change to the directory starts a new one (entries
//! are never patched). Changes are learned
//! - synchronously, when a request of this process has changed the directory and waited for
//!   the `groups` projection to apply it (`Services::caught_up`), before its response leaves,
//!   so that this process decides the very next request on the new state;
//! - from the `groups` projection's `NOTIFY` on [`CHANNEL`] (sent when its transaction
//!   commits), for changes made through other processes: they take effect here within the
//!   notification latency; a reconnecting listener starts a new generation too.
//!
//! An entry computed from reads made before a generation change is never stored after it.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::RwLock;

use projections::directory::{ClassFacts, ClassRow, GroupFacts};
use uuid::Uuid;

/// Re-exported so the listener and the projection agree on the channel.
pub use projections::directory::DIRECTORY_CHANNEL as CHANNEL;

/// Entries per map at most; beyond it the map starts over.
const CAPACITY: usize = 200_000;

/// A decision's inputs besides the facts (which the generation covers): who (with the
/// attributes that come from their account), what, on which resource.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct DecisionKey {
    pub user_id: Uuid,
    pub system_admin: bool,
    pub auditor: bool,
    pub action: String,
    pub resource: String,
}

#[derive(Default)]
struct Maps {
    groups: HashMap<(Uuid, Uuid), GroupFacts>,
    classes: HashMap<(Uuid, Uuid), ClassFacts>,
    class_rows: HashMap<Uuid, ClassRow>,
    decisions: HashMap<DecisionKey, (bool, Vec<String>)>,
}

#[derive(Default)]
pub struct DirectoryCache {
    generation: AtomicU64,
    maps: RwLock<Maps>,
}

fn put<K: Eq + Hash, V>(map: &mut HashMap<K, V>, key: K, value: V) {
    if map.len() >= CAPACITY {
        map.clear();
    }
    map.insert(key, value);
}

impl DirectoryCache {
    /// Read before the database; pass to the `put_*` methods.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// Starts a new generation: everything cached so far is forgotten.
    pub fn invalidate(&self) {
        let mut maps = self.maps.write().expect("directory cache");
        self.generation.fetch_add(1, Ordering::AcqRel);
        *maps = Maps::default();
    }

    fn write(&self, generation: u64, f: impl FnOnce(&mut Maps)) {
        let mut maps = self.maps.write().expect("directory cache");
        if self.generation.load(Ordering::Acquire) == generation {
            f(&mut maps);
        }
    }

    pub fn group_facts(&self, group: Uuid, user: Uuid) -> Option<GroupFacts> {
        let maps = self.maps.read().expect("directory cache");
        maps.groups.get(&(group, user)).cloned()
    }

    pub fn put_group_facts(&self, generation: u64, group: Uuid, user: Uuid, facts: GroupFacts) {
        self.write(generation, |m| put(&mut m.groups, (group, user), facts));
    }

    pub fn class_facts(&self, class: Uuid, user: Uuid) -> Option<ClassFacts> {
        let maps = self.maps.read().expect("directory cache");
        maps.classes.get(&(class, user)).cloned()
    }

    pub fn put_class_facts(&self, generation: u64, class: Uuid, user: Uuid, facts: ClassFacts) {
        self.write(generation, |m| put(&mut m.classes, (class, user), facts));
    }

    pub fn class_row(&self, class: Uuid) -> Option<ClassRow> {
        let maps = self.maps.read().expect("directory cache");
        maps.class_rows.get(&class).cloned()
    }

    pub fn put_class_row(&self, generation: u64, row: ClassRow) {
        self.write(generation, |m| put(&mut m.class_rows, row.id, row));
    }

    pub fn decision(&self, key: &DecisionKey) -> Option<(bool, Vec<String>)> {
        let maps = self.maps.read().expect("directory cache");
        maps.decisions.get(key).cloned()
    }

    pub fn put_decision(&self, generation: u64, key: DecisionKey, decision: (bool, Vec<String>)) {
        self.write(generation, |m| put(&mut m.decisions, key, decision));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts() -> GroupFacts {
        GroupFacts {
            path: vec![Uuid::from_u128(1)],
            archived: false,
            roles: vec![],
        }
    }

    #[test]
    fn a_new_generation_forgets_and_refuses_late_writes() {
        let cache = DirectoryCache::default();
        let g = cache.generation();
        cache.put_group_facts(g, Uuid::from_u128(1), Uuid::from_u128(2), facts());
        assert!(cache
            .group_facts(Uuid::from_u128(1), Uuid::from_u128(2))
            .is_some());
        cache.invalidate();
        assert!(cache
            .group_facts(Uuid::from_u128(1), Uuid::from_u128(2))
            .is_none());
        // Computed before the change, stored after it: refused.
        cache.put_group_facts(g, Uuid::from_u128(1), Uuid::from_u128(2), facts());
        assert!(cache
            .group_facts(Uuid::from_u128(1), Uuid::from_u128(2))
            .is_none());
    }
}
