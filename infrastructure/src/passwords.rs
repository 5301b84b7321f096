//! argon2id password hashing, off the async workers.
//!
//! Hashing costs ~20 MB of memory and tens of milliseconds of CPU: it runs off the async
//! workers' duties (`block_in_place`, see `Argon2Hasher::blocking`), at most one job per CPU
//! at a time (a semaphore), so logins queue instead of stalling other requests or exhausting
//! memory.
//!
//! Verification reuses its working memory: `verify_password` allocates (and the kernel zeroes
//! and maps, page by page) 19 MiB per call; measured on a login, those ~4,900 page faults
//! cost about as much CPU as the hash itself. The buffers (at most one per permit, so one per
//! CPU) are kept in a pool and handed to `hash_password_into_with_memory`, which overwrites
//! every block before reading it.

use std::sync::{Arc, Mutex};

use application::ports::{anyhow_like, PasswordHasher};
use argon2::password_hash::phc::Output;
use argon2::{Algorithm, Argon2, Block, Params, PasswordHasher as _, Version};
use async_trait::async_trait;
use domain::user::{Password, PasswordHash};
use tokio::sync::Semaphore;

/// argon2id cost parameters (`ARGON2_MEMORY_KIB`, `ARGON2_ITERATIONS`, `ARGON2_PARALLELISM`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Argon2Settings {
    pub memory_kib: u32,
    pub iterations: u32,
    pub parallelism: u32,
}

impl Default for Argon2Settings {
    /// OWASP's recommendation: m=19456 KiB, t=2, p=1.
    fn default() -> Self {
        Self {
            memory_kib: 19456,
            iterations: 2,
            parallelism: 1,
        }
    }
}

/// The argon2id [`PasswordHasher`].
pub struct Argon2Hasher {
    params: Params,
    permits: Arc<Semaphore>,
    dummy_hash: String,
    /// Working memory of finished verifications, for the next ones.
    memory: Arc<Mutex<Vec<Vec<Block>>>>,
}

/// Verifies `password` against a PHC string in `memory` (grown to the hash's parameters).
/// The output is compared in constant time (`Output`'s equality).
fn verify_in(memory: &mut Vec<Block>, password: &[u8], phc: &str) -> bool {
    let Ok(parsed) = argon2::PasswordHash::new(phc) else {
        return false;
    };
    let (Some(salt), Some(expected)) = (&parsed.salt, &parsed.hash) else {
        return false;
    };
    let Ok(algorithm) = Algorithm::try_from(parsed.algorithm.as_str()) else {
        return false;
    };
    let version = match parsed.version.map(Version::try_from).transpose() {
        Ok(version) => version.unwrap_or_default(),
        Err(_) => return false,
    };
    let Ok(params) = Params::try_from(&parsed) else {
        return false;
    };
    let blocks = params.block_count();
    if memory.len() < blocks {
        memory.resize(blocks, Block::new());
    }
    let mut buffer = [0u8; Output::MAX_LENGTH];
    let Some(out) = buffer.get_mut(..expected.len()) else {
        return false;
    };
    Argon2::new(algorithm, version, params)
        .hash_password_into_with_memory(password, salt, out, &mut memory[..blocks])
        .is_ok()
        && Output::new(out).is_ok_and(|computed| &computed == expected)
}

impl Argon2Hasher {
    pub fn new(settings: Argon2Settings) -> anyhow::Result<Self> {
        let params = Params::new(
            settings.memory_kib,
            settings.iterations,
            settings.parallelism,
            None,
        )
        .map_err(|e| anyhow::anyhow!("invalid argon2 parameters: {e}"))?;
        let hasher = Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone());
        let dummy_hash = hasher
            .hash_password(b"not a real password; equalizes login timing")
            .map_err(|e| anyhow::anyhow!("argon2: {e}"))?
            .to_string();
        let cpus = std::thread::available_parallelism().map_or(2, |n| n.get());
        Ok(Self {
            params,
            permits: Arc::new(Semaphore::new(cpus)),
            dummy_hash,
            memory: Arc::default(),
        })
    }

    fn argon2(&self) -> Argon2<'static> {
        Argon2::new(Algorithm::Argon2id, Version::V0x13, self.params.clone())
    }

    /// Runs `job` (an argon2 computation) holding one of the per-CPU permits, off the async
    /// workers' duties.
    ///
    /// On a multi-thread runtime it runs in place (`block_in_place`): the runtime first hands
    /// this worker's other tasks to another thread, so no request waits behind the hash, and
    /// the job itself needs no hand-off to a blocking-pool thread and back (two thread
    /// wake-ups on a login's critical path). Measured on 2 cores at 2 clients: 105–109
    /// logins/s instead of 99–100 with `spawn_blocking`; no change at 8 clients. On a
    /// current-thread runtime (tests) it goes to the blocking pool, as `block_in_place` is
    /// not available there.
    async fn blocking<T: Send + 'static>(
        &self,
        job: impl FnOnce(Argon2<'static>) -> T + Send + 'static,
    ) -> T {
        let _permit = self
            .permits
            .acquire()
            .await
            .expect("semaphore never closes");
        let argon2 = self.argon2();
        if tokio::runtime::Handle::current().runtime_flavor()
            == tokio::runtime::RuntimeFlavor::MultiThread
        {
            return tokio::task::block_in_place(move || job(argon2));
        }
        tokio::task::spawn_blocking(move || job(argon2))
            .await
            .expect("argon2 job panicked")
    }

    /// Verifies on the calling thread, in pooled working memory, without a permit: the
    /// whole cost of one verification and nothing else (the benchmarks' raw baseline).
    pub fn verify_now(&self, password: &Password, hash: &PasswordHash) -> bool {
        verify_pooled(&self.memory, password.expose().as_bytes(), &hash.0)
    }

    async fn verify_str(&self, password: &Password, hash: String) -> bool {
        let password = password.expose().to_owned();
        let pool = self.memory.clone();
        self.blocking(move |_| verify_pooled(&pool, password.as_bytes(), &hash))
            .await
    }
}

/// [`verify_in`] with working memory taken from (and returned to) `pool`.
fn verify_pooled(pool: &Mutex<Vec<Vec<Block>>>, password: &[u8], phc: &str) -> bool {
    let mut memory = pool
        .lock()
        .expect("argon2 memory")
        .pop()
        .unwrap_or_default();
    let matches = verify_in(&mut memory, password, phc);
    pool.lock().expect("argon2 memory").push(memory);
    matches
}

#[async_trait]
impl PasswordHasher for Argon2Hasher {
    async fn hash(&self, password: &Password) -> anyhow_like::Result<PasswordHash> {
        let password = password.expose().to_owned();
        let hash = self
            .blocking(move |argon2| {
                argon2
                    .hash_password(password.as_bytes())
                    .map(|h| h.to_string())
            })
            .await
            .map_err(|e| -> anyhow_like::Error { format!("argon2: {e}").into() })?;
        Ok(PasswordHash(hash))
    }

    async fn verify(&self, password: &Password, hash: &PasswordHash) -> bool {
        self.verify_str(password, hash.0.clone()).await
    }

    async fn verify_dummy(&self, password: &Password) {
        let _ = self.verify_str(password, self.dummy_hash.clone()).await;
    }

    /// Anything but argon2id, version 0x13, with the configured memory, iterations,
    /// parallelism and output length needs a new hash: raised parameters reach every account
    /// at its next sign-in, and so do lowered ones (the configuration is the policy).
    fn needs_rehash(&self, hash: &PasswordHash) -> bool {
        let Ok(parsed) = argon2::PasswordHash::new(&hash.0) else {
            return false;
        };
        let Ok(params) = Params::try_from(&parsed) else {
            return false;
        };
        let current = (
            self.params.m_cost(),
            self.params.t_cost(),
            self.params.p_cost(),
            self.params
                .output_len()
                .unwrap_or(Params::DEFAULT_OUTPUT_LEN),
        );
        let stored = (
            params.m_cost(),
            params.t_cost(),
            params.p_cost(),
            parsed.hash.map_or(0, |output| output.len()),
        );
        parsed.algorithm.as_str() != Algorithm::Argon2id.as_str()
            || parsed.version != Some(Version::V0x13.into())
            || stored != current
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hashes_are_argon2id_phc_strings_that_verify() {
        let hasher = Argon2Hasher::new(Argon2Settings {
            memory_kib: 1024,
            iterations: 1,
            parallelism: 1,
        })
        .unwrap();
        let password = Password::parse("correct horse battery").unwrap();
        let hash = hasher.hash(&password).await.unwrap();
        assert!(hash.0.starts_with("$argon2id$v=19$m=1024,t=1,p=1$"));
        assert!(hasher.verify(&password, &hash).await);
        let wrong = Password::parse("wrong horse battery").unwrap();
        assert!(!hasher.verify(&wrong, &hash).await);
        assert!(
            !hasher
                .verify(&password, &PasswordHash("garbage".into()))
                .await
        );
        hasher.verify_dummy(&password).await;
    }

    /// On the server's runtime (multi-thread) a hash runs in place, and the worker's other
    /// tasks move on: with a single worker, a job that waits for another task's signal
    /// still finishes. Run inline, it would hold the only worker and never get the signal.
    #[tokio::test(flavor = "multi_thread", worker_threads = 1)]
    async fn a_hash_never_holds_up_the_other_tasks_of_its_worker() {
        let hasher = Arc::new(
            Argon2Hasher::new(Argon2Settings {
                memory_kib: 1024,
                iterations: 1,
                parallelism: 1,
            })
            .unwrap(),
        );
        let (signal, signalled) = std::sync::mpsc::channel::<()>();
        let job = tokio::spawn({
            let hasher = hasher.clone();
            async move {
                hasher
                    .blocking(move |_| signalled.recv_timeout(std::time::Duration::from_secs(30)))
                    .await
            }
        });
        tokio::task::yield_now().await;
        tokio::spawn(async move { signal.send(()) });
        let outcome = tokio::time::timeout(std::time::Duration::from_secs(30), job)
            .await
            .expect("the job finished")
            .expect("the job did not panic");
        assert!(outcome.is_ok(), "the other task ran while the job waited");
        // And the real thing, verified on this runtime.
        let password = Password::parse("correct horse battery").unwrap();
        let hash = hasher.hash(&password).await.unwrap();
        assert!(hasher.verify(&password, &hash).await);
    }

    /// Reused working memory gives the crate's own answers, whatever the parameters of the
    /// stored hash and whatever the buffer held before (larger, smaller, another password).
    #[test]
    fn verifying_in_reused_memory_agrees_with_the_crate() {
        use argon2::PasswordVerifier as _;
        let mut memory = Vec::new();
        for (m, t, p) in [(64, 1, 1), (256, 2, 2), (128, 3, 1), (64, 1, 1)] {
            let argon2 = Argon2::new(
                Algorithm::Argon2id,
                Version::V0x13,
                Params::new(m, t, p, None).unwrap(),
            );
            let hash = argon2.hash_password(b"right password").unwrap().to_string();
            for (password, expected) in [(&b"right password"[..], true), (b"wrong password", false)]
            {
                assert_eq!(
                    argon2.verify_password(password, hash.as_str()).is_ok(),
                    expected
                );
                assert_eq!(verify_in(&mut memory, password, &hash), expected, "{hash}");
            }
        }
        // Other algorithms and versions are verified by their own rules too.
        let argon2i = Argon2::new(
            Algorithm::Argon2i,
            Version::V0x10,
            Params::new(64, 1, 1, None).unwrap(),
        );
        let hash = argon2i
            .hash_password(b"right password")
            .unwrap()
            .to_string();
        assert!(verify_in(&mut memory, b"right password", &hash));
        assert!(!verify_in(&mut memory, b"wrong password", &hash));
        assert!(!verify_in(
            &mut memory,
            b"right password",
            "$argon2id$v=19$m=64"
        ));
    }

    #[tokio::test]
    async fn hashes_made_with_other_parameters_need_a_rehash() {
        let settings = Argon2Settings {
            memory_kib: 256,
            iterations: 2,
            parallelism: 1,
        };
        let hasher = Argon2Hasher::new(settings).unwrap();
        let password = Password::parse("correct horse battery").unwrap();
        let current = hasher.hash(&password).await.unwrap();
        assert!(!hasher.needs_rehash(&current));
        for other in [
            Argon2Settings {
                memory_kib: 128,
                ..settings
            },
            Argon2Settings {
                iterations: 3,
                ..settings
            },
            Argon2Settings {
                parallelism: 2,
                ..settings
            },
        ] {
            let old = Argon2Hasher::new(other)
                .unwrap()
                .hash(&password)
                .await
                .unwrap();
            assert!(hasher.needs_rehash(&old), "{other:?}");
        }
        // Same costs, another variant or version, or a shorter output.
        for (algorithm, version, output_len) in [
            (Algorithm::Argon2i, Version::V0x13, None),
            (Algorithm::Argon2id, Version::V0x10, None),
            (Algorithm::Argon2id, Version::V0x13, Some(16)),
        ] {
            let params = Params::new(256, 2, 1, output_len).unwrap();
            let old = Argon2::new(algorithm, version, params)
                .hash_password(b"correct horse battery")
                .unwrap()
                .to_string();
            assert!(hasher.needs_rehash(&PasswordHash(old.clone())), "{old}");
        }
        assert!(!hasher.needs_rehash(&PasswordHash("garbage".into())));
    }

    #[test]
    fn default_parameters_are_owasp() {
        let s = Argon2Settings::default();
        assert_eq!((s.memory_kib, s.iterations, s.parallelism), (19456, 2, 1));
    }
}
