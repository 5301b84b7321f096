//! The audit chain, for auditors: the checkpoint key, the signed checkpoints (anchors to
//! keep), and verification of the log against its chain (ADR 0015, `docs/audit.md`).

use std::sync::Arc;

use base64::Engine as _;
use chrono::{DateTime, Utc};
use poem::web::Data;
use poem::Body;
use poem_openapi::param::Query;
use poem_openapi::payload::{Binary, Json};
use poem_openapi::types::Example;
use poem_openapi::{ApiResponse, Enum, Object, OpenApi};
use projections::audit::verify::{self, Anchor, FailureKind, Report};
use projections::audit::{keys, Checkpoint};
use uuid::Uuid;

use super::tags::ApiTags;
use crate::caller::Caller;
use crate::problem::{ApiError, ProblemKind};
use crate::state::Services;

/// The key that signs the checkpoints.
#[derive(Debug, Object)]
#[oai(example)]
pub struct AuditPublicKey {
    /// Always `Ed25519`.
    pub algorithm: String,
    /// SubjectPublicKeyInfo PEM: `openssl pkeyutl -verify -pubin -inkey` reads it.
    pub pem: String,
    /// The raw 32-byte key, hex.
    pub hex: String,
}

impl Example for AuditPublicKey {
    fn example() -> Self {
        Self {
            algorithm: "Ed25519".into(),
            pem: "-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEAGb9ECWmEzf6FQbrBZ9w7lshQhqowtrbLDFw4rXAxZuE=\n\
                  -----END PUBLIC KEY-----\n"
                .into(),
            hex: "19bf44096984cdfe8541bac167dc3b96c85086aa30b6b6cb0c5c38ad703166e1".into(),
        }
    }
}

/// A signed checkpoint of the chain: keep `position`, `hash` and `signature` as an anchor.
#[derive(Debug, Object)]
#[oai(rename = "AuditCheckpoint", example)]
pub struct CheckpointDto {
    /// The log position of the sealed event.
    pub position: i64,
    /// How many events are sealed up to it.
    pub ordinal: i64,
    /// The chain's hash at `position`, hex.
    pub hash: String,
    /// Ed25519 over `raptscallions audit checkpoint v1\nposition <position>\nhash <hash>\n`,
    /// base64.
    pub signature: String,
    /// The signing key, hex.
    pub public_key: String,
    pub signed_at: DateTime<Utc>,
    /// When a copy reached NATS (stream `RAPT_AUDIT`); null until then.
    #[oai(nullable)]
    pub published_at: Option<DateTime<Utc>>,
}

impl From<Checkpoint> for CheckpointDto {
    fn from(c: Checkpoint) -> Self {
        Self {
            position: c.position,
            ordinal: c.ordinal,
            hash: hex::encode(c.hash),
            signature: base64::engine::general_purpose::STANDARD.encode(&c.signature),
            public_key: hex::encode(&c.public_key),
            signed_at: c.signed_at,
            published_at: c.published_at,
        }
    }
}

impl Example for CheckpointDto {
    fn example() -> Self {
        Self {
            position: 48_576_659_456,
            ordinal: 10_000,
            hash: "c88838c21ffb8c235df32ae802a7f1b9dac413f4284977b438b6061072d28166".into(),
            signature: "3Zq9…base64…Ag==".into(),
            public_key: AuditPublicKey::example().hex,
            signed_at: DateTime::parse_from_rfc3339("2026-12-07T16:34:01Z")
                .expect("example time")
                .with_timezone(&Utc),
            published_at: None,
        }
    }
}

/// Signed checkpoints, newest first.
#[derive(Debug, Object)]
#[oai(example)]
pub struct CheckpointPage {
    pub items: Vec<CheckpointDto>,
    /// Pass as `before` for older ones; null on the last page.
    #[oai(nullable)]
    pub next_before: Option<i64>,
}

impl Example for CheckpointPage {
    fn example() -> Self {
        Self {
            items: vec![CheckpointDto::example()],
            next_before: None,
        }
    }
}

/// How the log and its chain disagree.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "snake_case")]
pub enum VerificationFailureKind {
    EventAltered,
    EventDeleted,
    EventInserted,
    EventReordered,
    EventReplaced,
    SealAltered,
    SealDeleted,
    CheckpointSignature,
    CheckpointMismatch,
    AnchorSignature,
    AnchorMismatch,
    AnchorNotFound,
}

impl From<FailureKind> for VerificationFailureKind {
    fn from(kind: FailureKind) -> Self {
        match kind {
            FailureKind::EventAltered => Self::EventAltered,
            FailureKind::EventDeleted => Self::EventDeleted,
            FailureKind::EventInserted => Self::EventInserted,
            FailureKind::EventReordered => Self::EventReordered,
            FailureKind::EventReplaced => Self::EventReplaced,
            FailureKind::SealAltered => Self::SealAltered,
            FailureKind::SealDeleted => Self::SealDeleted,
            FailureKind::CheckpointSignature => Self::CheckpointSignature,
            FailureKind::CheckpointMismatch => Self::CheckpointMismatch,
            FailureKind::AnchorSignature => Self::AnchorSignature,
            FailureKind::AnchorMismatch => Self::AnchorMismatch,
            FailureKind::AnchorNotFound => Self::AnchorNotFound,
        }
    }
}

/// The first place where the log is not what was sealed.
#[derive(Debug, Object)]
#[oai(example)]
pub struct VerificationFailure {
    pub kind: VerificationFailureKind,
    pub position: i64,
    /// The event concerned; for a deletion, the sealed event that is gone.
    #[oai(nullable)]
    pub event_id: Option<Uuid>,
    pub detail: String,
}

impl Example for VerificationFailure {
    fn example() -> Self {
        Self {
            kind: VerificationFailureKind::EventAltered,
            position: 48_576_659_457,
            event_id: Some(Uuid::nil()),
            detail: "the event (group 0193… #2, group.renamed) is not what was sealed".into(),
        }
    }
}

/// The outcome of a verification.
#[derive(Debug, Object)]
#[oai(example)]
pub struct VerificationReport {
    /// True when every event, seal and checkpoint checked agrees.
    pub verified: bool,
    /// Verified after this position (0: from the start; else the anchor's).
    pub from_position: i64,
    /// Up to this position: the newest seal when the verification started. Events after it
    /// are not sealed yet.
    pub to_position: i64,
    pub events_checked: i64,
    pub checkpoints_checked: i64,
    /// Whether the checkpoints' signatures were checked (the server has the key).
    pub signatures_checked: bool,
    /// The chain's hash at `to_position`, hex: with it, the next verification can start
    /// from here.
    pub last_hash: String,
    /// The first disagreement, if any: verification stops there, so at most one; empty when
    /// `verified`.
    pub failures: Vec<VerificationFailure>,
}

impl From<Report> for VerificationReport {
    fn from(r: Report) -> Self {
        Self {
            verified: r.failure.is_none(),
            from_position: r.from_position,
            to_position: r.to_position,
            events_checked: r.events_checked,
            checkpoints_checked: r.checkpoints_checked,
            signatures_checked: r.signatures_checked,
            last_hash: r.last_hash,
            failures: r
                .failure
                .map(|f| VerificationFailure {
                    kind: f.kind.into(),
                    position: f.position,
                    event_id: f.event_id,
                    detail: f.detail,
                })
                .into_iter()
                .collect(),
        }
    }
}

impl Example for VerificationReport {
    fn example() -> Self {
        Self {
            verified: false,
            from_position: 0,
            to_position: 48_576_790_528,
            events_checked: 1,
            checkpoints_checked: 0,
            signatures_checked: true,
            last_hash: "c88838c21ffb8c235df32ae802a7f1b9dac413f4284977b438b6061072d28166".into(),
            failures: vec![VerificationFailure::example()],
        }
    }
}

#[derive(ApiResponse)]
pub enum VerificationStream {
    /// Newline-delimited JSON: `{"progress":{"checked":n,"total":m}}` about every second,
    /// then one `{"report":{…}}` (a `VerificationReport`), or `{"error":"…"}` if the
    /// verification could not run to its end.
    #[oai(status = 200, content_type = "application/x-ndjson")]
    Ok(Binary<Body>),
}

/// An anchor from the query; a malformed one is a 400 `invalid-parameter`.
fn anchor(
    position: Option<i64>,
    hash: Option<&str>,
    signature: Option<&str>,
) -> Result<Option<Anchor>, ApiError> {
    Anchor::parse(position, hash, signature)
        .map_err(|detail| ApiError::new(ProblemKind::InvalidParameter, detail))
}

pub struct AuditApi {
    pub services: Arc<Services>,
}

impl AuditApi {
    fn public_key(&self) -> Option<ed25519_dalek::VerifyingKey> {
        self.services.audit_key.as_ref().map(|k| k.public_key())
    }
}

#[OpenApi(tag = "ApiTags::Events")]
impl AuditApi {
    /// The checkpoint key
    ///
    /// The public key that verifies the signed checkpoints of the audit chain. Anyone may
    /// read it; keep a copy to verify anchors without trusting this server later. 404 when
    /// the server signs no checkpoints (no `AUDIT_SIGNING_KEY`).
    #[oai(
        path = "/audit/public-key",
        method = "get",
        operation_id = "auditPublicKey"
    )]
    async fn public_key_endpoint(&self) -> Result<Json<AuditPublicKey>, ApiError> {
        let key = self.public_key().ok_or_else(|| {
            ApiError::new(
                ProblemKind::NotFound,
                "this server signs no audit checkpoints (no AUDIT_SIGNING_KEY)".to_owned(),
            )
        })?;
        Ok(Json(AuditPublicKey {
            algorithm: "Ed25519".into(),
            pem: keys::public_key_pem(&key),
            hex: hex::encode(key.as_bytes()),
        }))
    }

    /// List signed checkpoints
    ///
    /// System admins and auditors. Newest first; each is an anchor to keep (position, hash,
    /// signature) and to verify from later.
    #[oai(
        path = "/audit/checkpoints",
        method = "get",
        operation_id = "listAuditCheckpoints"
    )]
    async fn checkpoints(
        &self,
        caller: Data<&Caller>,
        /// Only checkpoints before this position (the previous page's `next_before`).
        #[oai(validator(minimum(value = "1")))]
        before: Query<Option<i64>>,
        /// 1 to 500 (default 50).
        #[oai(validator(minimum(value = "1"), maximum(value = "500")))]
        limit: Query<Option<i64>>,
    ) -> Result<Json<CheckpointPage>, ApiError> {
        self.services
            .authz
            .system(caller.user()?, "system.verify_log")?;
        let limit = limit.0.unwrap_or(50);
        let items = keys::latest_checkpoints(&self.services.pool, before.0, limit).await?;
        let next_before = (items.len() as i64 == limit)
            .then(|| items.last().map(|c| c.position))
            .flatten();
        Ok(Json(CheckpointPage {
            items: items.into_iter().map(Into::into).collect(),
            next_before,
        }))
    }

    /// Verify the log
    ///
    /// System admins and auditors. Recomputes the audit chain from the log, from the start
    /// or after an anchor (`position`, `hash`, and `signature` if it is a checkpoint's), up
    /// to the newest seal, and names the first event that is not what was sealed: altered,
    /// deleted, inserted or reordered events, altered seals, checkpoints whose signature or
    /// hash do not match. Reads only. A large log takes a while: `/audit/verify/stream`
    /// reports progress meanwhile.
    #[oai(path = "/audit/verify", method = "get", operation_id = "verifyLog")]
    async fn verify(
        &self,
        caller: Data<&Caller>,
        /// The anchor's log position.
        position: Query<Option<i64>>,
        /// The anchor's hash (64 hex digits).
        hash: Query<Option<String>>,
        /// The anchor's signature (base64), when it is a signed checkpoint.
        signature: Query<Option<String>>,
    ) -> Result<Json<VerificationReport>, ApiError> {
        self.services
            .authz
            .system(caller.user()?, "system.verify_log")?;
        let anchor = anchor(position.0, hash.0.as_deref(), signature.0.as_deref())?;
        let report = verify::verify(
            &self.services.pool,
            anchor.as_ref(),
            self.public_key().as_ref(),
            |_| {},
        )
        .await
        .map_err(|e| ApiError::internal(&e))?;
        Ok(Json(report.into()))
    }

    /// Verify the log, with progress
    ///
    /// As `GET /audit/verify`, answered as newline-delimited JSON: a progress line about
    /// every second while it runs, then the report.
    #[oai(
        path = "/audit/verify/stream",
        method = "get",
        operation_id = "verifyLogStream"
    )]
    async fn verify_stream(
        &self,
        caller: Data<&Caller>,
        /// The anchor's log position.
        position: Query<Option<i64>>,
        /// The anchor's hash (64 hex digits).
        hash: Query<Option<String>>,
        /// The anchor's signature (base64), when it is a signed checkpoint.
        signature: Query<Option<String>>,
    ) -> Result<VerificationStream, ApiError> {
        self.services
            .authz
            .system(caller.user()?, "system.verify_log")?;
        let anchor = anchor(position.0, hash.0.as_deref(), signature.0.as_deref())?;
        let (lines, receiver) = tokio::sync::mpsc::channel::<Vec<u8>>(16);
        let pool = self.services.pool.clone();
        let key = self.public_key();
        tokio::spawn(async move {
            let progress_lines = lines.clone();
            let mut last = std::time::Instant::now();
            let outcome = verify::verify(&pool, anchor.as_ref(), key.as_ref(), |p| {
                if last.elapsed() >= std::time::Duration::from_secs(1) {
                    last = std::time::Instant::now();
                    let line = ndjson(&serde_json::json!({"progress": p}));
                    // A slow reader misses progress lines, never the report.
                    let _ = progress_lines.try_send(line);
                }
            })
            .await;
            let last_line = match outcome {
                Ok(report) => {
                    let report = VerificationReport::from(report);
                    serde_json::json!({"report": poem_openapi::types::ToJSON::to_json(&report)})
                }
                Err(error) => {
                    tracing::error!(error = format!("{error:#}"), "verification failed to run");
                    serde_json::json!({"error": "the verification could not run to its end"})
                }
            };
            let _ = lines.send(ndjson(&last_line)).await;
        });
        let stream = futures::stream::unfold(receiver, |mut receiver| async move {
            let line = receiver.recv().await?;
            Some((Ok::<_, std::io::Error>(line), receiver))
        });
        Ok(VerificationStream::Ok(Binary(Body::from_bytes_stream(
            stream,
        ))))
    }
}

fn ndjson(value: &serde_json::Value) -> Vec<u8> {
    let mut line = serde_json::to_vec(value).expect("JSON encodes");
    line.push(b'\n');
    line
}
