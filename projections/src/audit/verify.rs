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
                hash: hash_from_bytes(&hash)?,
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
    let start_ordinal = match anchor {
        None => 0,
        Some(anchor) => match check_anchor(pool, anchor, key).await? {
            Ok(ordinal) => ordinal,
            Err(failure) => {
                report.failure = Some(failure);
                return Ok(report);
            }
        },
    };
    let total = newest_ordinal - start_ordinal;
    progress(Progress { checked: 0, total });
    let mut chain = Chain {
        previous: anchor.map_or(GENESIS, |a| a.hash),
        checkpoints: checkpoints_between(pool, from_position, to_position)
            .await?
            .into_iter()
            .peekable(),
        walk: Walk::new(pool, from_position, to_position),
        pool,
        key,
    };
    report.failure = loop {
        match chain.step().await? {
            Step::Checked { checkpoint } => {
                report.events_checked += 1;
                report.checkpoints_checked += i64::from(checkpoint);
                if report.events_checked % PROGRESS_EVERY == 0 {
                    progress(Progress {
                        checked: report.events_checked,
                        total,
                    });
                }
            }
            Step::Failed(failure) => break Some(failure),
            Step::End => break None,
        }
    };
    if report.failure.is_none() {
        report.last_hash = hex::encode(chain.previous);
        progress(Progress {
            checked: report.events_checked,
            total,
        });
    }
    Ok(report)
}

fn failure(kind: FailureKind, position: i64, event_id: Option<Uuid>, detail: String) -> Failure {
    Failure {
        kind,
        position,
        event_id,
        detail,
    }
}

/// Checks an auditor's anchor: its signature, and that the stored chain still has its hash
/// at its position. The ordinal of the seal there, or what is wrong.
async fn check_anchor(
    pool: &PgPool,
    anchor: &Anchor,
    key: Option<&VerifyingKey>,
) -> anyhow::Result<Result<i64, Failure>> {
    if let Some(signature) = &anchor.signature {
        let key =
            key.ok_or_else(|| anyhow::anyhow!("a signed anchor needs the public key to check it"))?;
        if !signature_valid(key, anchor.position, &anchor.hash, signature) {
            return Ok(Err(failure(
                FailureKind::AnchorSignature,
                anchor.position,
                None,
                "the anchor's signature does not verify with the public key".into(),
            )));
        }
    }
    let stored: Option<(i64, Uuid, Vec<u8>)> =
        sqlx::query_as("SELECT ordinal, event_id, hash FROM audit_seals WHERE position = $1")
            .bind(anchor.position)
            .fetch_optional(pool)
            .await?;
    Ok(match stored {
        None => Err(failure(
            FailureKind::AnchorNotFound,
            anchor.position,
            None,
            "no seal at the anchor's position".into(),
        )),
        Some((_, event_id, hash)) if hash != anchor.hash => Err(failure(
            FailureKind::AnchorMismatch,
            anchor.position,
            Some(event_id),
            format!(
                "the seal at the anchor's position is {}, the anchor says {}",
                hex::encode(hash),
                hex::encode(anchor.hash)
            ),
        )),
        Some((ordinal, _, _)) => Ok(ordinal),
    })
}

/// What one step of the walk found.
enum Step {
    /// The event at the next position agrees with its seal (and with a checkpoint there,
    /// `checkpoint`).
    Checked {
        checkpoint: bool,
    },
    Failed(Failure),
    End,
}

/// The walk along the log and its seals, with the chain recomputed so far.
struct Chain<'a> {
    previous: Hash,
    checkpoints: std::iter::Peekable<std::vec::IntoIter<Checkpoint>>,
    walk: Walk<'a>,
    pool: &'a PgPool,
    key: Option<&'a VerifyingKey>,
}

impl Chain<'_> {
    async fn step(&mut self) -> anyhow::Result<Step> {
        let Some(item) = self.walk.next().await? else {
            // A checkpoint after the newest seal names no event of the chain.
            return Ok(match self.checkpoints.next() {
                Some(cp) => Step::Failed(stray_checkpoint(&cp)),
                None => Step::End,
            });
        };
        // A checkpoint at a position the walk passed without stopping names no event.
        if let Some(cp) = self.checkpoints.next_if(|cp| cp.position < item.position) {
            return Ok(Step::Failed(stray_checkpoint(&cp)));
        }
        let position = item.position;
        let failed = match (item.event, item.seal) {
            (Some(event), Some(seal)) if event.event_id != seal.event_id => {
                let (kind, detail) = match where_is(self.pool, seal.event_id).await? {
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
                failure(kind, position, Some(seal.event_id), detail)
            }
            (Some(event), Some(seal)) => {
                let computed = event.seal(&self.previous);
                if computed == seal.hash {
                    self.previous = computed;
                    return self.checkpoint_at(position);
                }
                self.altered(event, seal, computed).await?
            }
            (Some(event), None) => self.unsealed(event).await?,
            (None, Some(seal)) => {
                let (kind, detail) = match where_is(self.pool, seal.event_id).await? {
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
                failure(kind, position, Some(seal.event_id), detail)
            }
            (None, None) => unreachable!("the walk yields an event, a seal or both"),
        };
        Ok(Step::Failed(failed))
    }

    /// The chain agrees up to `position`: a checkpoint there must agree too.
    fn checkpoint_at(&mut self, position: i64) -> anyhow::Result<Step> {
        let Some(cp) = self.checkpoints.next_if(|cp| cp.position == position) else {
            return Ok(Step::Checked { checkpoint: false });
        };
        Ok(match check_checkpoint(&cp, &self.previous, self.key) {
            Some(failed) => Step::Failed(failed),
            None => Step::Checked { checkpoint: true },
        })
    }

    /// An event whose recomputed seal is not the stored one: which of the two changed. The
    /// next seal was made from the original seal, so the chain goes on from whichever of
    /// them is intact; for the newest seal, a checkpoint there decides.
    async fn altered(
        &mut self,
        event: SealedColumns,
        seal: SealRow,
        computed: Hash,
    ) -> anyhow::Result<Failure> {
        let position = event.position;
        let seal_altered = match self.walk.peek().await? {
            Some(Item {
                event: Some(next),
                seal: Some(next_seal),
                ..
            }) if next.event_id == next_seal.event_id => next.seal(&computed) == next_seal.hash,
            _ => self
                .checkpoints
                .peek()
                .is_some_and(|cp| cp.position == position && cp.hash == computed),
        };
        Ok(if seal_altered {
            failure(
                FailureKind::SealAltered,
                position,
                Some(event.event_id),
                format!(
                    "the stored seal is {}, the chain's is {}",
                    hex::encode(seal.hash),
                    hex::encode(computed)
                ),
            )
        } else {
            failure(
                FailureKind::EventAltered,
                position,
                Some(event.event_id),
                format!(
                    "the event ({} {} #{}, {}) is not what was sealed",
                    event.aggregate_type, event.aggregate_id, event.sequence, event.event_type
                ),
            )
        })
    }

    /// An event with no seal below the newest seal: its seal was deleted if the chain goes
    /// on through it, else it was inserted.
    async fn unsealed(&mut self, event: SealedColumns) -> anyhow::Result<Failure> {
        let computed = event.seal(&self.previous);
        let chained = matches!(
            self.walk.peek().await?,
            Some(Item { event: Some(next), seal: Some(next_seal), .. })
                if next.seal(&computed) == next_seal.hash
        );
        Ok(if chained {
            failure(
                FailureKind::SealDeleted,
                event.position,
                Some(event.event_id),
                "the event is in the chain but its seal is missing".to_owned(),
            )
        } else {
            failure(
                FailureKind::EventInserted,
                event.position,
                Some(event.event_id),
                format!(
                    "event {} ({} {} #{}, {}) was never sealed at this position",
                    event.event_id,
                    event.aggregate_type,
                    event.aggregate_id,
                    event.sequence,
                    event.event_type
                ),
            )
        })
    }
}

fn stray_checkpoint(cp: &Checkpoint) -> Failure {
    failure(
        FailureKind::CheckpointMismatch,
        cp.position,
        None,
        "a checkpoint at a position where the chain has no event".into(),
    )
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
