//! A per-batch memo: the lookups a batch of events repeats (the same class, teachers,
//! student, preferences) are made once per batch. It lives only as long as one batch, so it
//! never serves anything older than the batch it belongs to.

use std::collections::HashMap;
use std::future::Future;
use std::hash::Hash;
use std::sync::Mutex;

pub struct Memo<K, V>(Mutex<HashMap<K, V>>);

impl<K, V> Default for Memo<K, V> {
    fn default() -> Self {
        Self(Mutex::new(HashMap::new()))
    }
}

impl<K: Eq + Hash, V: Clone> Memo<K, V> {
    /// The remembered value of `key`, or `fetch`'s (remembered). Two concurrent misses may
    /// both fetch; the values are equal, so either may stay.
    pub async fn get<F, Fut, E>(&self, key: K, fetch: F) -> Result<V, E>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<V, E>>,
    {
        if let Some(value) = self.0.lock().expect("memo").get(&key) {
            return Ok(value.clone());
        }
        let value = fetch().await?;
        self.0.lock().expect("memo").insert(key, value.clone());
        Ok(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn fetches_once_per_key() {
        let memo: Memo<u8, u32> = Memo::default();
        let calls = std::sync::atomic::AtomicU32::new(0);
        for _ in 0..3 {
            let v = memo
                .get(1, || async {
                    calls.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    Ok::<_, ()>(7)
                })
                .await;
            assert_eq!(v, Ok(7));
        }
        assert_eq!(calls.load(std::sync::atomic::Ordering::Relaxed), 1);
    }
}
