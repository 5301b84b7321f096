//! The Ed25519 key that signs checkpoints, and the signed checkpoints themselves.

use chrono::{DateTime, Utc};
use ed25519_dalek::pkcs8::spki::der::pem::LineEnding;
use ed25519_dalek::pkcs8::{DecodePrivateKey as _, DecodePublicKey as _, EncodePublicKey as _};
use ed25519_dalek::{Signature, Signer as _, SigningKey, Verifier as _, VerifyingKey};
use sqlx::postgres::PgRow;
use sqlx::{FromRow, PgExecutor, Row};

use super::chain::{checkpoint_message, hash_from_bytes, Hash};

/// The service's checkpoint key. Its `Debug` shows the public half only.
#[derive(Clone)]
pub struct AuditKey(SigningKey);

impl std::fmt::Debug for AuditKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "AuditKey({})", hex::encode(self.public_key().as_bytes()))
    }
}

impl AuditKey {
    /// From a PKCS#8 PEM (`openssl genpkey -algorithm ed25519`).
    pub fn from_pem(pem: &str) -> anyhow::Result<Self> {
        SigningKey::from_pkcs8_pem(pem.trim())
            .map(Self)
            .map_err(|e| anyhow::anyhow!("not an Ed25519 private key in PKCS#8 PEM: {e}"))
    }

    /// From the 32 bytes of a seed (tests, benchmarks).
    pub fn from_seed(seed: [u8; 32]) -> Self {
        Self(SigningKey::from_bytes(&seed))
    }

    /// The PKCS#8 PEM of this key (tests, benchmarks: what `from_pem` reads).
    pub fn to_pem(&self) -> String {
        use ed25519_dalek::pkcs8::EncodePrivateKey as _;
        self.0
            .to_pkcs8_pem(LineEnding::LF)
            .expect("an Ed25519 key encodes")
            .to_string()
    }

    pub fn public_key(&self) -> VerifyingKey {
        self.0.verifying_key()
    }

    /// The signature of the checkpoint at `position` with seal `hash`.
    pub fn sign(&self, position: i64, hash: &Hash) -> Signature {
        self.0.sign(checkpoint_message(position, hash).as_bytes())
    }
}

/// A public key as `openssl pkey -pubin` reads it (SubjectPublicKeyInfo PEM).
pub fn public_key_pem(key: &VerifyingKey) -> String {
    key.to_public_key_pem(LineEnding::LF)
        .expect("an Ed25519 public key encodes")
}

/// A public key from its SubjectPublicKeyInfo PEM, or from its 64 hex digits.
pub fn parse_public_key(text: &str) -> anyhow::Result<VerifyingKey> {
    let text = text.trim();
    if text.starts_with("-----BEGIN") {
        return VerifyingKey::from_public_key_pem(text)
            .map_err(|e| anyhow::anyhow!("not an Ed25519 public key in PEM: {e}"));
    }
    let bytes: [u8; 32] = hex::decode(text)
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| anyhow::anyhow!("a public key is a PEM or 64 hex digits"))?;
    VerifyingKey::from_bytes(&bytes).map_err(|e| anyhow::anyhow!("not an Ed25519 key: {e}"))
}

/// Whether `signature` is `key`'s over the checkpoint at `position` with seal `hash`.
pub fn signature_valid(key: &VerifyingKey, position: i64, hash: &Hash, signature: &[u8]) -> bool {
    let Ok(signature) = Signature::from_slice(signature) else {
        return false;
    };
    key.verify(checkpoint_message(position, hash).as_bytes(), &signature)
        .is_ok()
}

/// A signed checkpoint as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    pub position: i64,
    /// How many events are sealed up to and including `position`.
    pub ordinal: i64,
    pub hash: Hash,
    pub public_key: Vec<u8>,
    pub signature: Vec<u8>,
    pub signed_at: DateTime<Utc>,
    pub published_at: Option<DateTime<Utc>>,
}

impl<'r> FromRow<'r, PgRow> for Checkpoint {
    fn from_row(row: &'r PgRow) -> sqlx::Result<Self> {
        let hash: Vec<u8> = row.try_get("hash")?;
        Ok(Self {
            position: row.try_get("position")?,
            ordinal: row.try_get("ordinal")?,
            hash: hash_from_bytes(&hash)?,
            public_key: row.try_get("public_key")?,
            signature: row.try_get("signature")?,
            signed_at: row.try_get("signed_at")?,
            published_at: row.try_get("published_at")?,
        })
    }
}

const CHECKPOINT_COLUMNS: &str =
    "position, ordinal, hash, public_key, signature, signed_at, published_at";

/// Signs and stores the checkpoint of the seal at `position` (once: a second signer of the
/// same seal, in another process, writes nothing; Ed25519 signatures are deterministic, so
/// both signed the same bytes anyway).
pub async fn write_checkpoint<'e>(
    executor: impl PgExecutor<'e>,
    key: &AuditKey,
    position: i64,
    ordinal: i64,
    hash: &Hash,
) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO audit_checkpoints (position, ordinal, hash, public_key, signature) \
         VALUES ($1, $2, $3, $4, $5) ON CONFLICT (position) DO NOTHING",
    )
    .bind(position)
    .bind(ordinal)
    .bind(hash.as_slice())
    .bind(key.public_key().as_bytes().as_slice())
    .bind(key.sign(position, hash).to_bytes().as_slice())
    .execute(executor)
    .await?;
    Ok(())
}

/// Checkpoints after `after` up to `until`, in position order.
pub async fn checkpoints_between<'e>(
    executor: impl PgExecutor<'e>,
    after: i64,
    until: i64,
) -> sqlx::Result<Vec<Checkpoint>> {
    sqlx::query_as(&format!(
        "SELECT {CHECKPOINT_COLUMNS} FROM audit_checkpoints \
         WHERE position > $1 AND position <= $2 ORDER BY position"
    ))
    .bind(after)
    .bind(until)
    .fetch_all(executor)
    .await
}

/// The newest checkpoints first, before `before` (paging), at most `limit`.
pub async fn latest_checkpoints<'e>(
    executor: impl PgExecutor<'e>,
    before: Option<i64>,
    limit: i64,
) -> sqlx::Result<Vec<Checkpoint>> {
    sqlx::query_as(&format!(
        "SELECT {CHECKPOINT_COLUMNS} FROM audit_checkpoints \
         WHERE $1::bigint IS NULL OR position < $1 ORDER BY position DESC LIMIT $2"
    ))
    .bind(before)
    .bind(limit)
    .fetch_all(executor)
    .await
}

/// Checkpoints that no copy outside the database has yet, oldest first.
pub async fn unpublished<'e>(
    executor: impl PgExecutor<'e>,
    limit: i64,
) -> sqlx::Result<Vec<Checkpoint>> {
    sqlx::query_as(&format!(
        "SELECT {CHECKPOINT_COLUMNS} FROM audit_checkpoints \
         WHERE published_at IS NULL ORDER BY position LIMIT $1"
    ))
    .bind(limit)
    .fetch_all(executor)
    .await
}

pub async fn mark_published<'e>(
    executor: impl PgExecutor<'e>,
    positions: &[i64],
) -> sqlx::Result<()> {
    sqlx::query(
        "UPDATE audit_checkpoints SET published_at = now() \
         WHERE position = ANY($1) AND published_at IS NULL",
    )
    .bind(positions)
    .execute(executor)
    .await?;
    Ok(())
}

/// Signs the newest seal when nothing signed it or anything after it within `interval`
/// (the database's clock): the time-based half of "every N events or T". Returns the
/// position signed, if any.
pub async fn checkpoint_if_due(
    pool: &sqlx::PgPool,
    key: &AuditKey,
    interval: std::time::Duration,
) -> sqlx::Result<Option<i64>> {
    let row: Option<(i64, i64, Vec<u8>)> = sqlx::query_as(
        "SELECT s.position, s.ordinal, s.hash \
         FROM (SELECT position, ordinal, hash FROM audit_seals ORDER BY position DESC LIMIT 1) s \
         WHERE NOT EXISTS (SELECT 1 FROM audit_checkpoints c \
             WHERE c.position >= s.position \
                OR c.signed_at > now() - make_interval(secs => $1))",
    )
    .bind(interval.as_secs_f64())
    .fetch_optional(pool)
    .await?;
    let Some((position, ordinal, hash)) = row else {
        return Ok(None);
    };
    let hash = hash_from_bytes(&hash)?;
    write_checkpoint(pool, key, position, ordinal, &hash).await?;
    Ok(Some(position))
}
