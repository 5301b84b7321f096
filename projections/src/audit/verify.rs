//! Verification: recompute the chain from the log and compare it with the seals and the
//! signed checkpoints, from the start or from an anchor an auditor kept. Streams both tables
//! in position order (two cursors merged here), so memory does not grow with the log; only
//! reads.

use ed25519_dalek::VerifyingKey;
use futures::stream::{BoxStream, StreamExt as _};
use serde::Serialize;
use sqlx::PgPool;
use uuid::Uuid;

use super::chain::{hash_from_bytes, sealed_columns, Hash, SealedColumns, GENESIS};
use super::keys::{checkpoints_between, signature_valid, Checkpoint};

/// What an auditor kept from a checkpoint (or from an earlier verification).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Anchor {
    pub position: i64,
    pub hash: Hash,
    /// The checkpoint's signature, when the anchor is one.
    pub signature: Option<Vec<u8>>,
}

impl Anchor {
    /// From its parts as an auditor passes them: `position` and `hash` (64 hex digits)
    /// together, and `signature` (base64 of 64 bytes) when it is a checkpoint's; all absent
    /// is no anchor. The error says which part is wrong.
    pub fn parse(
        position: Option<i64>,
        hash: Option<&str>,
        signature: Option<&str>,
    ) -> Result<Option<Self>, String> {
        use base64::Engine as _;
        match (position, hash) {
            (None, None) if signature.is_none() => Ok(None),
            (Some(position), Some(hash)) => {
                if position <= 0 {
                    return Err("position: an anchor's position is positive".into());
                }
                let hash = super::chain::parse_hash(hash.trim())
                    .ok_or_else(|| "hash: 64 hex digits".to_owned())?;
                let signature = signature
                    .map(|s| {
                        base64::engine::general_purpose::STANDARD
                            .decode(s.trim())
                            .ok()
                            .filter(|bytes| bytes.len() == 64)
                            .ok_or_else(|| "signature: 64 bytes in base64".to_owned())
                    })
                    .transpose()?;
                Ok(Some(Self {
                    position,
                    hash,
                    signature,
                }))
            }
            _ => Err(
                "an anchor is `position` and `hash` together (and `signature` if signed)".into(),
            ),
        }
    }
}

/// How the log and its chain disagree.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FailureKind {
    /// The event's columns (payload, metadata, …) are not those that were sealed.
    EventAltered,
    /// A sealed event is gone from the log.
    EventDeleted,
    /// An event stands where none was sealed (below the newest seal).
    EventInserted,
    /// A sealed event stands at another position than it was sealed at.
    EventReordered,
    /// Another event stands where a sealed event was, and the sealed one is gone.
    EventReplaced,
    /// The stored seal is not the chain's (the events around it are intact).
    SealAltered,
    /// An event of the chain has no stored seal.
    SealDeleted,
    /// A checkpoint's signature does not verify with the public key.
    CheckpointSignature,
    /// A checkpoint's hash is not the chain's at its position, or it names no event.
    CheckpointMismatch,
    /// The anchor's signature does not verify with the public key.
    AnchorSignature,
    /// The seal at the anchor's position is not the anchor's hash: the chain up to it was
    /// rewritten since the anchor was taken.
    AnchorMismatch,
    /// No seal at the anchor's position.
    AnchorNotFound,
}

impl FailureKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::EventAltered => "event_altered",
            Self::EventDeleted => "event_deleted",
            Self::EventInserted => "event_inserted",
            Self::EventReordered => "event_reordered",
            Self::EventReplaced => "event_replaced",
            Self::SealAltered => "seal_altered",
            Self::SealDeleted => "seal_deleted",
            Self::CheckpointSignature => "checkpoint_signature",
            Self::CheckpointMismatch => "checkpoint_mismatch",
            Self::AnchorSignature => "anchor_signature",
            Self::AnchorMismatch => "anchor_mismatch",
            Self::AnchorNotFound => "anchor_not_found",
        }
    }
}

/// The first disagreement found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Failure {
    pub kind: FailureKind,
    /// The position where it was found.
    pub position: i64,
    /// The event concerned (for a deletion, the sealed one that is gone).
    pub event_id: Option<Uuid>,
    pub detail: String,
}

/// The outcome of a verification.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Report {
    /// Verified after this position (0: from the start; else the anchor's).
    pub from_position: i64,
    /// Up to this position: the newest seal when verification started.
    pub to_position: i64,
    pub events_checked: i64,
    pub checkpoints_checked: i64,
    /// Whether checkpoint signatures were checked (a public key was given).
    pub signatures_checked: bool,
    /// The chain's hash at `to_position` as recomputed (hex): with `to_position`, an anchor
    /// for the next, incremental verification.
    pub last_hash: String,
    pub failure: Option<Failure>,
}

/// How far a verification has come.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Progress {
    pub checked: i64,
    pub total: i64,
}

/// How often progress is reported, in events.
const PROGRESS_EVERY: i64 = 20_000;

#[derive(Debug, Clone)]
struct SealRow {
    position: i64,
    event_id: Uuid,
    hash: Hash,
}

/// One position of the merged walk: the event there, its seal, or both.
#[derive(Debug)]
struct Item {
    position: i64,
    event: Option<SealedColumns>,
    seal: Option<SealRow>,
}

/// Merges the two position-ordered cursors into items, with one item of lookahead.
struct Walk<'a> {
    events: BoxStream<'a, sqlx::Result<SealedColumns>>,
    seals: BoxStream<'a, sqlx::Result<SealRow>>,
    next_event: Option<SealedColumns>,
    next_seal: Option<SealRow>,
    events_done: bool,
    seals_done: bool,
    peeked: Option<Item>,
}

impl<'a> Walk<'a> {
    fn new(pool: &'a PgPool, after: i64, until: i64) -> Self {
        let events = sqlx::query_as::<_, SealedColumns>(concat!(
            "SELECT ",
            sealed_columns!(),
            " FROM events WHERE position > $1 AND position <= $2 ORDER BY position"
        ))
        .bind(after)
        .bind(until)
        .fetch(pool);
        let seals = sqlx::query_as::<_, (i64, Uuid, Vec<u8>)>(
            "SELECT position, event_id, hash FROM audit_seals \
             WHERE position > $1 AND position <= $2 ORDER BY position",
        )
        .bind(after)
        .bind(until)
        .fetch(pool)
        .map(|row| {
            let (position, event_id, hash) = row?;
            Ok(SealRow {
                position,
                event_id,
                hash: hash_from_bytes(&hash).map_err(|e| sqlx::Error::Decode(e.into()))?,
            })
        })
        .boxed();
        Self {
            events,
            seals,
            next_event: None,
            next_seal: None,
            events_done: false,
            seals_done: false,
            peeked: None,
        }
    }

    async fn fill(&mut self) -> sqlx::Result<()> {
        if self.next_event.is_none() && !self.events_done {
            match self.events.next().await.transpose()? {
                Some(event) => self.next_event = Some(event),
                None => self.events_done = true,
            }
        }
        if self.next_seal.is_none() && !self.seals_done {
            match self.seals.next().await.transpose()? {
                Some(seal) => self.next_seal = Some(seal),
                None => self.seals_done = true,
            }
        }
        Ok(())
    }

    async fn pull(&mut self) -> sqlx::Result<Option<Item>> {
        self.fill().await?;
        let position = match (&self.next_event, &self.next_seal) {
            (None, None) => return Ok(None),
            (Some(e), None) => e.position,
            (None, Some(s)) => s.position,
            (Some(e), Some(s)) => e.position.min(s.position),
        };
        let event = self.next_event.take_if(|e| e.position == position);
        let seal = self.next_seal.take_if(|s| s.position == position);
        Ok(Some(Item {
            position,
            event,
            seal,
        }))
    }

    async fn next(&mut self) -> sqlx::Result<Option<Item>> {
        match self.peeked.take() {
            Some(item) => Ok(Some(item)),
            None => self.pull().await,
        }
    }

    async fn peek(&mut self) -> sqlx::Result<Option<&Item>> {
        if self.peeked.is_none() {
            self.peeked = self.pull().await?;
        }
        Ok(self.peeked.as_ref())
    }
}

/// Recomputes the chain after `anchor` (or from the start) up to the newest seal, checking
/// every seal and every checkpoint (signatures too, with `key`), and stops at the first
/// disagreement. `progress` is called every few thousand events.
pub async fn verify(
    pool: &PgPool,
    anchor: Option<&Anchor>,
    key: Option<&VerifyingKey>,
    mut progress: impl FnMut(Progress) + Send,
) -> anyhow::Result<Report> {
    let from_position = anchor.map_or(0, |a| a.position);
    let (to_position, newest_ordinal): (i64, i64) = sqlx::query_as(
        "SELECT coalesce(max(position), 0), coalesce(max(ordinal), 0) FROM audit_seals",
    )
    .fetch_one(pool)
    .await?;
    let mut report = Report {
        from_position,
        to_position,
        events_checked: 0,
        checkpoints_checked: 0,
        signatures_checked: key.is_some(),
        last_hash: hex::encode(anchor.map_or(GENESIS, |a| a.hash)),
        failure: None,
    };
    let fail = |report: &mut Report, kind, position, event_id, detail: String| {
        report.failure = Some(Failure {
            kind,
            position,
            event_id,
            detail,
        });
    };
    let mut previous = GENESIS;
    let mut start_ordinal = 0;
    if let Some(anchor) = anchor {
        if let Some(signature) = &anchor.signature {
            let key = key.ok_or_else(|| {
                anyhow::anyhow!("a signed anchor needs the public key to check it")
            })?;
            if !signature_valid(key, anchor.position, &anchor.hash, signature) {
                fail(
                    &mut report,
                    FailureKind::AnchorSignature,
                    anchor.position,
                    None,
                    "the anchor's signature does not verify with the public key".into(),
                );
                return Ok(report);
            }
        }
        let stored: Option<(i64, Uuid, Vec<u8>)> =
            sqlx::query_as("SELECT ordinal, event_id, hash FROM audit_seals WHERE position = $1")
                .bind(anchor.position)
                .fetch_optional(pool)
                .await?;
        match stored {
            None => {
                fail(
                    &mut report,
                    FailureKind::AnchorNotFound,
                    anchor.position,
                    None,
                    "no seal at the anchor's position".into(),
                );
                return Ok(report);
            }
            Some((_, event_id, hash)) if hash != anchor.hash => {
                fail(
                    &mut report,
                    FailureKind::AnchorMismatch,
                    anchor.position,
                    Some(event_id),
                    format!(
                        "the seal at the anchor's position is {}, the anchor says {}",
                        hex::encode(hash),
                        hex::encode(anchor.hash)
                    ),
                );
                return Ok(report);
            }
            Some((ordinal, _, _)) => start_ordinal = ordinal,
        }
        previous = anchor.hash;
    }
    let total = newest_ordinal - start_ordinal;
    progress(Progress { checked: 0, total });
    let mut checkpoints = checkpoints_between(pool, from_position, to_position)
        .await?
        .into_iter()
        .peekable();
    let mut walk = Walk::new(pool, from_position, to_position);
    while let Some(item) = walk.next().await? {
        // A checkpoint at a position the walk has passed without stopping names no event.
        if let Some(cp) = checkpoints.next_if(|cp| cp.position < item.position) {
            fail(
                &mut report,
                FailureKind::CheckpointMismatch,
                cp.position,
                None,
                "a checkpoint at a position where the chain has no event".into(),
            );
            return Ok(report);
        }
        let position = item.position;
        match (item.event, item.seal) {
            (Some(event), Some(seal)) if event.event_id != seal.event_id => {
                let (kind, detail) = match where_is(pool, seal.event_id).await? {
                    Some(now_at) => (
                        FailureKind::EventReordered,
                        format!(
                            "event {} stands where event {} was sealed; that one is now at \
                             position {now_at}",
                            event.event_id, seal.event_id
                        ),
                    ),
                    None => (
                        FailureKind::EventReplaced,
                        format!(
                            "event {} stands where event {} was sealed, which is gone",
                            event.event_id, seal.event_id
                        ),
                    ),
                };
                fail(&mut report, kind, position, Some(seal.event_id), detail);
                return Ok(report);
            }
            (Some(event), Some(seal)) => {
                let computed = event.seal(&previous);
                if computed != seal.hash {
                    // Which of the two changed: the next seal was made from the original
                    // seal, so the chain goes on from whichever of them is intact.
                    let kind = match walk.peek().await? {
                        Some(Item {
                            event: Some(next),
                            seal: Some(next_seal),
                            ..
                        }) if next.event_id == next_seal.event_id => {
                            if next.seal(&computed) == next_seal.hash {
                                FailureKind::SealAltered
                            } else {
                                FailureKind::EventAltered
                            }
                        }
                        _ => match checkpoints.peek() {
                            Some(cp) if cp.position == position && cp.hash == computed => {
                                FailureKind::SealAltered
                            }
                            _ => FailureKind::EventAltered,
                        },
                    };
                    let detail = match kind {
                        FailureKind::SealAltered => format!(
                            "the stored seal is {}, the chain's is {}",
                            hex::encode(seal.hash),
                            hex::encode(computed)
                        ),
                        _ => format!(
                            "the event ({} {} #{}, {}) is not what was sealed",
                            event.aggregate_type,
                            event.aggregate_id,
                            event.sequence,
                            event.event_type
                        ),
                    };
                    fail(&mut report, kind, position, Some(event.event_id), detail);
                    return Ok(report);
                }
                previous = computed;
            }
            (Some(event), None) => {
                let computed = event.seal(&previous);
                let chained = matches!(
                    walk.peek().await?,
                    Some(Item { event: Some(next), seal: Some(next_seal), .. })
                        if next.seal(&computed) == next_seal.hash
                );
                let (kind, detail) = if chained {
                    (
                        FailureKind::SealDeleted,
                        "the event is in the chain but its seal is missing".to_owned(),
                    )
                } else {
                    (
                        FailureKind::EventInserted,
                        format!(
                            "event {} ({} {} #{}, {}) was never sealed at this position",
                            event.event_id,
                            event.aggregate_type,
                            event.aggregate_id,
                            event.sequence,
                            event.event_type
                        ),
                    )
                };
                fail(&mut report, kind, position, Some(event.event_id), detail);
                return Ok(report);
            }
            (None, Some(seal)) => {
                let (kind, detail) = match where_is(pool, seal.event_id).await? {
                    Some(now_at) => (
                        FailureKind::EventReordered,
                        format!(
                            "event {} was sealed here and is now at position {now_at}",
                            seal.event_id
                        ),
                    ),
                    None => (
                        FailureKind::EventDeleted,
                        format!("event {} was sealed here and is gone", seal.event_id),
                    ),
                };
                fail(&mut report, kind, position, Some(seal.event_id), detail);
                return Ok(report);
            }
            (None, None) => unreachable!("the walk yields an event, a seal or both"),
        }
        if let Some(cp) = checkpoints.next_if(|cp| cp.position == position) {
            if let Some(failure) = check_checkpoint(&cp, &previous, key) {
                report.failure = Some(failure);
                return Ok(report);
            }
            report.checkpoints_checked += 1;
        }
        report.events_checked += 1;
        if report.events_checked % PROGRESS_EVERY == 0 {
            progress(Progress {
                checked: report.events_checked,
                total,
            });
        }
    }
    if let Some(cp) = checkpoints.next() {
        fail(
            &mut report,
            FailureKind::CheckpointMismatch,
            cp.position,
            None,
            "a checkpoint at a position where the chain has no event".into(),
        );
        return Ok(report);
    }
    report.last_hash = hex::encode(previous);
    progress(Progress {
        checked: report.events_checked,
        total,
    });
    Ok(report)
}

fn check_checkpoint(cp: &Checkpoint, chain: &Hash, key: Option<&VerifyingKey>) -> Option<Failure> {
    if let Some(key) = key {
        if cp.public_key != key.as_bytes()
            || !signature_valid(key, cp.position, &cp.hash, &cp.signature)
        {
            return Some(Failure {
                kind: FailureKind::CheckpointSignature,
                position: cp.position,
                event_id: None,
                detail: if cp.public_key != key.as_bytes() {
                    format!(
                        "signed with key {}, not with the public key given",
                        hex::encode(&cp.public_key)
                    )
                } else {
                    "the signature does not verify with the public key".to_owned()
                },
            });
        }
    }
    (cp.hash != *chain).then(|| Failure {
        kind: FailureKind::CheckpointMismatch,
        position: cp.position,
        event_id: None,
        detail: format!(
            "the checkpoint says {}, the chain is {}",
            hex::encode(cp.hash),
            hex::encode(chain)
        ),
    })
}

/// Where an event now stands in the log, if anywhere.
async fn where_is(pool: &PgPool, event_id: Uuid) -> sqlx::Result<Option<i64>> {
    sqlx::query_scalar("SELECT position FROM events WHERE event_id = $1")
        .bind(event_id)
        .fetch_optional(pool)
        .await
}
