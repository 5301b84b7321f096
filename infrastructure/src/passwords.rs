//! argon2id password hashing, off the async workers.
//!
//! Hashing costs ~20 MB of memory and tens of milliseconds of CPU: it runs on tokio's blocking
//! pool, at most one job per CPU at a time (a semaphore), so logins queue instead of stalling
//! other requests or exhausting memory.

use std::sync::Arc;

use application::ports::{anyhow_like, PasswordHasher};
use argon2::{Algorithm, Argon2, Params, PasswordHasher as _, PasswordVerifier as _, Version};
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
        })
    }

    fn argon2(&self) -> Argon2<'static> {
        Argon2::new(Algorithm::Argon2id, Version::V0x13, self.params.clone())
    }

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
        tokio::task::spawn_blocking(move || job(argon2))
            .await
            .expect("argon2 job panicked")
    }

    async fn verify_str(&self, password: &Password, hash: String) -> bool {
        let password = password.expose().to_owned();
        self.blocking(move |argon2| {
            argon2
                .verify_password(password.as_bytes(), hash.as_str())
                .is_ok()
        })
        .await
    }
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

    #[test]
    fn default_parameters_are_owasp() {
        let s = Argon2Settings::default();
        assert_eq!((s.memory_kib, s.iterations, s.parallelism), (19456, 2, 1));
    }
}
