//! The hash chain's arithmetic: an event's canonical bytes, its seal, and the text a
//! checkpoint signs. Pure: the sealer and every verifier (this service's, or an auditor's
//! script following `docs/audit.md`) compute the same bytes from the same row.

use chrono::{DateTime, Utc};
use sha2::{Digest as _, Sha256};
use sqlx::postgres::PgRow;
use sqlx::{FromRow, Row};
use uuid::Uuid;

/// A seal: SHA-256 of the previous seal and the event's canonical bytes.
pub type Hash = [u8; 32];

/// What the first event is chained to.
pub const GENESIS: Hash = [0; 32];

/// The columns of an event as the chain covers them. `payload` and `metadata` are
/// PostgreSQL's text form of the stored `jsonb` (`payload::text`): one spelling per value,
/// whatever client wrote it, and what an auditor's `psql` prints.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SealedColumns {
    pub position: i64,
    pub event_id: Uuid,
    pub aggregate_type: String,
    pub aggregate_id: String,
    pub sequence: i64,
    pub event_type: String,
    pub event_version: String,
    pub payload: String,
    pub metadata: String,
    pub recorded_at: DateTime<Utc>,
}

/// The select list that reads [`SealedColumns`] from `events` (a macro, for `concat!`).
macro_rules! sealed_columns {
    () => {
        "position, event_id, aggregate_type, aggregate_id, sequence, event_type, \
         event_version, payload::text AS payload, metadata::text AS metadata, recorded_at"
    };
}
pub(crate) use sealed_columns;

/// Every event's [`SealedColumns`], unordered: `SELECT … FROM events`.
pub const SELECT_SEALED_COLUMNS: &str = concat!("SELECT ", sealed_columns!(), " FROM events");

impl<'r> FromRow<'r, PgRow> for SealedColumns {
    fn from_row(row: &'r PgRow) -> sqlx::Result<Self> {
        Ok(Self {
            position: row.try_get("position")?,
            event_id: row.try_get("event_id")?,
            aggregate_type: row.try_get("aggregate_type")?,
            aggregate_id: row.try_get("aggregate_id")?,
            sequence: row.try_get("sequence")?,
            event_type: row.try_get("event_type")?,
            event_version: row.try_get("event_version")?,
            payload: row.try_get("payload")?,
            metadata: row.try_get("metadata")?,
            recorded_at: row.try_get("recorded_at")?,
        })
    }
}

impl SealedColumns {
    /// The canonical bytes: ten netstrings (`<byte length>:<bytes>,`) in this order: event
    /// id (lowercase, hyphenated), position (decimal), aggregate type, aggregate id, sequence
    /// (decimal), event type, event version, payload, metadata, recorded time (UTC,
    /// `YYYY-MM-DDTHH:MM:SS.ffffffZ`, microseconds as PostgreSQL stores them).
    pub fn canonical_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(
            96 + self.aggregate_type.len()
                + self.aggregate_id.len()
                + self.event_type.len()
                + self.payload.len()
                + self.metadata.len(),
        );
        let recorded_at = self
            .recorded_at
            .format("%Y-%m-%dT%H:%M:%S%.6fZ")
            .to_string();
        for field in [
            self.event_id.hyphenated().to_string().as_str(),
            self.position.to_string().as_str(),
            &self.aggregate_type,
            &self.aggregate_id,
            self.sequence.to_string().as_str(),
            &self.event_type,
            &self.event_version,
            &self.payload,
            &self.metadata,
            &recorded_at,
        ] {
            netstring(&mut out, field.as_bytes());
        }
        out
    }

    /// This event's seal after `previous`.
    pub fn seal(&self, previous: &Hash) -> Hash {
        let mut hasher = Sha256::new();
        hasher.update(previous);
        hasher.update(self.canonical_bytes());
        hasher.finalize().into()
    }
}

fn netstring(out: &mut Vec<u8>, bytes: &[u8]) {
    out.extend_from_slice(bytes.len().to_string().as_bytes());
    out.push(b':');
    out.extend_from_slice(bytes);
    out.push(b',');
}

/// The text a checkpoint's signature covers: from what an auditor keeps (position and hash),
/// they rebuild it with `printf`.
pub fn checkpoint_message(position: i64, hash: &Hash) -> String {
    format!(
        "raptscallions audit checkpoint v1\nposition {position}\nhash {}\n",
        hex::encode(hash)
    )
}

/// A hash from its 64 hex digits.
pub fn parse_hash(text: &str) -> Option<Hash> {
    let bytes = hex::decode(text).ok()?;
    bytes.try_into().ok()
}

/// A hash as stored (`bytea` of 32 bytes); another length is a decoding error.
pub fn hash_from_bytes(bytes: &[u8]) -> sqlx::Result<Hash> {
    bytes.try_into().map_err(|_| {
        sqlx::Error::Decode(format!("a stored hash of {} bytes, not 32", bytes.len()).into())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event() -> SealedColumns {
        SealedColumns {
            position: 48_576_659_456,
            event_id: Uuid::parse_str("01938f6a-7c00-7000-8000-000000000001").unwrap(),
            aggregate_type: "group".into(),
            aggregate_id: "01938f6a-7c00-7000-8000-0000000000aa".into(),
            sequence: 1,
            event_type: "group.created".into(),
            event_version: "1.0".into(),
            payload: r#"{"name": "Lincoln High", "parent_id": null}"#.into(),
            metadata: r#"{"actor": "user:1", "correlation_id": "c"}"#.into(),
            recorded_at: DateTime::parse_from_rfc3339("2026-12-07T16:34:01.18177Z")
                .unwrap()
                .with_timezone(&Utc),
        }
    }

    #[test]
    fn canonical_bytes_are_netstrings_in_a_fixed_order() {
        let bytes = String::from_utf8(event().canonical_bytes()).unwrap();
        assert_eq!(
            bytes,
            "36:01938f6a-7c00-7000-8000-000000000001,11:48576659456,5:group,\
             36:01938f6a-7c00-7000-8000-0000000000aa,1:1,13:group.created,3:1.0,\
             43:{\"name\": \"Lincoln High\", \"parent_id\": null},\
             42:{\"actor\": \"user:1\", \"correlation_id\": \"c\"},\
             27:2026-12-07T16:34:01.181770Z,"
        );
    }

    #[test]
    fn a_seal_is_sha256_of_the_previous_seal_and_the_canonical_bytes() {
        // Golden, computed independently (Python hashlib over the bytes above).
        let seal = event().seal(&GENESIS);
        let mut hasher = Sha256::new();
        hasher.update([0u8; 32]);
        hasher.update(event().canonical_bytes());
        assert_eq!(seal, <Hash>::from(hasher.finalize()));
        assert_eq!(
            hex::encode(seal),
            "c88838c21ffb8c235df32ae802a7f1b9dac413f4284977b438b6061072d28166"
        );
    }

    #[test]
    fn every_column_changes_the_seal() {
        let base = event().seal(&GENESIS);
        let changes: [fn(&mut SealedColumns); 10] = [
            |e| e.position += 1,
            |e| e.event_id = Uuid::nil(),
            |e| e.aggregate_type.push('x'),
            |e| e.aggregate_id.push('x'),
            |e| e.sequence += 1,
            |e| e.event_type.push('x'),
            |e| e.event_version.push('x'),
            |e| e.payload.push(' '),
            |e| e.metadata.push(' '),
            |e| e.recorded_at += chrono::Duration::microseconds(1),
        ];
        for change in changes {
            let mut e = event();
            change(&mut e);
            assert_ne!(e.seal(&GENESIS), base);
        }
        assert_ne!(event().seal(&[1; 32]), base);
    }

    #[test]
    fn a_field_boundary_cannot_move() {
        // "ab" + "c" and "a" + "bc" are different netstrings.
        let mut a = event();
        a.aggregate_type = "groupx".into();
        a.aggregate_id = "1".into();
        let mut b = event();
        b.aggregate_type = "group".into();
        b.aggregate_id = "x1".into();
        assert_ne!(a.canonical_bytes(), b.canonical_bytes());
    }

    #[test]
    fn the_checkpoint_message_is_three_lines_of_text() {
        assert_eq!(
            checkpoint_message(42, &[0xab; 32]),
            format!(
                "raptscallions audit checkpoint v1\nposition 42\nhash {}\n",
                "ab".repeat(32)
            )
        );
        assert_eq!(parse_hash(&"ab".repeat(32)), Some([0xab; 32]));
        assert_eq!(parse_hash("abc"), None);
    }
}
