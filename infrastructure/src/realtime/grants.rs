//! Issuing realtime credentials and revoking them (ADR 0011).
//!
//! Every issued credential is a row of `realtime_credentials` (its user public key, whose
//! session asked for it, the classes it watches, its expiry; never the JWT). The
//! `realtime-revocations` subscriber reads the log for what ends a grant
//! ([`application::realtime::revocation`]), marks the affected rows revoked and sends NATS the
//! application account's JWT listing every revoked credential that has not expired yet: the
//! server disconnects those connections at once and refuses them afterwards.
//!
//! The sink revokes the rows that exist when it reads a revoking event. A credential decided
//! on facts that do not have that event yet (the read models lag the log, or the event came
//! while the request was deciding) but stored after the sink ran would be missed; so issuing
//! is checked against the log (ADR 0011, "Issuing against revocation"): before deciding, the
//! API reads how far the read models that decide have got ([`Grants::decided_from`]); after
//! storing the credential it looks in the log above that point for an event that revokes it
//! ([`Grants::recheck`]); if there is one, it revokes the credential itself
//! ([`Grants::revoke_issued`]) and decides again once the read models have the event.

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::Context as _;
use application::realtime::{self, Revoke};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use projections::directory::DirectoryProjection;
use projections::identity::IdentityProjection;
use projections::log::read_range;
use projections::{LoggedEvent, Projection, Sink};
use sqlx::{PgConnection, PgPool};
use tokio::sync::watch;
use uuid::Uuid;

use super::auth::{IssuedCredential, NatsKeys};

/// What a credential grants, decided by the caller of [`Grants::issue`] (the API, from the
/// policy).
#[derive(Debug, Clone)]
pub struct GrantRequest {
    pub user_id: Uuid,
    pub auth_session_id: Uuid,
    pub class_ids: Vec<Uuid>,
    /// The NATS subjects it may subscribe to.
    pub subjects: Vec<String>,
    pub expires_at: DateTime<Utc>,
}

/// The read models a credential is decided from: the directory (roles, the class tree) and
/// identity (the session, the account's flags).
pub fn deciding_read_models() -> [&'static dyn Projection; 2] {
    [&DirectoryProjection, &IdentityProjection]
}

/// Events of the log read at most by one [`Grants::recheck`]; beyond them it cannot tell, and
/// the credential is decided again once the read models have caught up that far.
const RECHECK_LIMIT: usize = 5_000;
const RECHECK_PAGE: i64 = 500;

/// How long after its expiry a credential stays: named in the account JWT's revocations if it
/// was revoked, and kept as a row. The NATS server judges a JWT's expiry by its own clock,
/// which may be behind the database's; once this has passed, the server refuses the JWT for
/// its expiry alone and the row serves nothing ([`Grants::prune_expired`] deletes it).
pub const EXPIRY_MARGIN: Duration = Duration::from_secs(60);

/// Whether a credential just stored may stand.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recheck {
    /// Nothing above the facts it was decided on revokes it.
    Stands,
    /// An event at this position revokes it (or the log above the facts is too long to tell
    /// up to here): revoke it, and decide again once the read models have passed it.
    DecideAgainAfter(i64),
}

/// Issues credentials and sends account updates.
#[derive(Clone)]
pub struct Grants {
    pool: PgPool,
    keys: NatsKeys,
    /// A connection of the system account (account updates).
    system: async_nats::Client,
}

impl Grants {
    pub fn new(pool: PgPool, keys: NatsKeys, system: async_nats::Client) -> Self {
        Self { pool, keys, system }
    }

    /// The log position up to which the read models that decide a credential
    /// ([`deciding_read_models`]) have everything: the lowest of their checkpoints. Read it
    /// before reading the facts (from the read models themselves, not a cache), then
    /// [`recheck`](Self::recheck) from it.
    pub async fn decided_from(&self) -> anyhow::Result<i64> {
        let names = deciding_read_models().map(|p| p.name());
        let position: Option<i64> = sqlx::query_scalar(
            "SELECT min(coalesce(c.position, 0)) FROM unnest($1::text[]) AS m(name) \
             LEFT JOIN subscriber_checkpoints c ON c.name = m.name",
        )
        .bind(names)
        .fetch_one(&self.pool)
        .await
        .context("reading the checkpoints of the directory and identity")?;
        Ok(position.unwrap_or(0))
    }

    /// Whether the credential stored for `request`, decided on facts that have everything up
    /// to `decided_from`, may stand: looks in the log above that position for an event that
    /// revokes it. Call it after the credential is stored: an event that this does not see
    /// commits after it, and the revocation sink, which reads that event later, finds the
    /// stored row.
    pub async fn recheck(
        &self,
        decided_from: i64,
        request: &GrantRequest,
    ) -> anyhow::Result<Recheck> {
        let mut after = decided_from;
        let mut read = 0;
        loop {
            // Every committed event above the point, not only those below the log's safe
            // bound: this must see whatever the sink may already have handled.
            let events = read_range(
                &self.pool,
                after,
                i64::MAX,
                None,
                RECHECK_PAGE,
                Some(realtime::AGGREGATE_TYPES),
            )
            .await
            .context("reading the log for revocations")?;
            for event in &events {
                let revoke = realtime::revocation(
                    &event.aggregate_type,
                    &event.aggregate_id,
                    &event.payload,
                );
                if revoke.is_some_and(|r| {
                    r.covers(request.auth_session_id, request.user_id, &request.class_ids)
                }) {
                    return Ok(Recheck::DecideAgainAfter(event.position));
                }
            }
            read += events.len();
            let Some(last) = events.last() else {
                return Ok(Recheck::Stands);
            };
            if (events.len() as i64) < RECHECK_PAGE {
                return Ok(Recheck::Stands);
            }
            if read >= RECHECK_LIMIT {
                return Ok(Recheck::DecideAgainAfter(last.position));
            }
            after = last.position;
        }
    }

    /// Revokes the credential `user_key` at once (a [`recheck`](Self::recheck) found it
    /// overtaken), and sends NATS the account JWT that lists it.
    pub async fn revoke_issued(&self, user_key: &str) -> anyhow::Result<()> {
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "UPDATE realtime_credentials SET revoked_at = now() \
             WHERE user_key = $1 AND revoked_at IS NULL",
        )
        .bind(user_key)
        .execute(&mut *tx)
        .await?;
        self.push(&mut tx)
            .await
            .context("sending the revocation to NATS")?;
        tx.commit().await?;
        Ok(())
    }

    /// Signs a bearer user JWT for `request` and records it.
    pub async fn issue(&self, request: &GrantRequest) -> anyhow::Result<IssuedCredential> {
        let credential = self.keys.user_credential(
            &format!("user:{}", request.user_id),
            &request.subjects,
            request.expires_at.timestamp(),
        )?;
        sqlx::query(
            "INSERT INTO realtime_credentials \
                 (user_key, user_id, auth_session_id, class_ids, subjects, expires_at) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&credential.user_key)
        .bind(request.user_id)
        .bind(request.auth_session_id)
        .bind(&request.class_ids)
        .bind(&request.subjects)
        .bind(request.expires_at)
        .execute(&self.pool)
        .await?;
        Ok(credential)
    }

    /// Deletes the credentials that expired more than [`EXPIRY_MARGIN`] ago (a revoked one
    /// stays until then: the account JWT must name it while the server may still take it);
    /// how many.
    pub async fn prune_expired(&self) -> anyhow::Result<u64> {
        let deleted = sqlx::query(
            "DELETE FROM realtime_credentials \
             WHERE expires_at < now() - make_interval(secs => $1)",
        )
        .bind(EXPIRY_MARGIN.as_secs_f64())
        .execute(&self.pool)
        .await
        .context("deleting expired realtime credentials")?;
        Ok(deleted.rows_affected())
    }

    /// Sends NATS the account JWT with the current revocations.
    pub async fn send_account(&self) -> anyhow::Result<()> {
        let mut tx = self.pool.begin().await?;
        self.push(&mut tx).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Sends the account JWT with the current revocations, inside `conn`'s transaction: the
    /// transaction commits only if NATS took the update (otherwise the caller retries).
    async fn push(&self, conn: &mut PgConnection) -> anyhow::Result<()> {
        let issued_at: i64 = sqlx::query_scalar(
            "UPDATE realtime_account SET issued_at = greatest(issued_at + 1, $1) \
             RETURNING issued_at",
        )
        .bind(Utc::now().timestamp())
        .fetch_one(&mut *conn)
        .await?;
        let revoked: Vec<(String, DateTime<Utc>)> = sqlx::query_as(
            "SELECT user_key, revoked_at FROM realtime_credentials \
             WHERE revoked_at IS NOT NULL AND expires_at > now() - make_interval(secs => $1)",
        )
        .bind(EXPIRY_MARGIN.as_secs_f64())
        .fetch_all(&mut *conn)
        .await?;
        let revocations: BTreeMap<String, i64> = revoked
            .into_iter()
            // A credential's JWT was issued before it was revoked; a second of margin covers
            // the clocks of two processes.
            .map(|(key, at)| (key, at.timestamp() + 1))
            .collect();
        let jwt = self.keys.account_jwt(&revocations, issued_at)?;
        self.keys.push_account(&self.system, jwt).await
    }

    /// Revokes what `revoke` names; whether anything was. The condition per kind is the one
    /// [`Revoke::covers`] decides for a single credential.
    async fn revoke(&self, conn: &mut PgConnection, revoke: Revoke) -> anyhow::Result<bool> {
        // One statement: which rows, by a condition on an optional id.
        let (condition, id) = match revoke {
            Revoke::Session(id) => ("auth_session_id = $1", Some(id)),
            Revoke::User(id) => ("user_id = $1", Some(id)),
            Revoke::Class(id) => ("$1 = ANY(class_ids)", Some(id)),
            Revoke::Everyone => ("$1::uuid IS NULL", None),
        };
        let sql = format!(
            "UPDATE realtime_credentials SET revoked_at = now() \
             WHERE revoked_at IS NULL AND expires_at > now() AND {condition} RETURNING user_key"
        );
        let query = sqlx::query_scalar::<_, String>(&sql).bind(id);
        Ok(!query.fetch_all(&mut *conn).await?.is_empty())
    }
}

/// The `realtime-revocations` subscriber.
pub struct Revocations {
    pub grants: Grants,
}

impl Revocations {
    pub const NAME: &'static str = "realtime-revocations";
}

#[async_trait]
impl Sink for Revocations {
    fn name(&self) -> &'static str {
        Self::NAME
    }

    fn aggregate_types(&self) -> Option<&'static [&'static str]> {
        Some(realtime::AGGREGATE_TYPES)
    }

    /// Marks and sends in one transaction: if NATS does not take the update, nothing is marked
    /// and the batch comes again (NATS down: every connection is down too; the update goes out
    /// when it returns).
    async fn deliver(&self, events: &[LoggedEvent]) -> anyhow::Result<()> {
        let revokes: Vec<Revoke> = events
            .iter()
            .filter_map(|e| realtime::revocation(&e.aggregate_type, &e.aggregate_id, &e.payload))
            .collect();
        if revokes.is_empty() {
            return Ok(());
        }
        let mut tx = self.grants.pool.begin().await?;
        let mut any = false;
        for revoke in revokes {
            any |= self.grants.revoke(&mut tx, revoke).await?;
        }
        if any {
            self.grants
                .push(&mut tx)
                .await
                .context("sending the revocations to NATS")?;
            tx.commit().await?;
        }
        Ok(())
    }
}

/// Sends the account JWT at start-up and then every `interval`: a NATS server that lost its
/// account directory learns the revocations again, and expired credentials leave the list.
/// Each time first deletes the credentials that expired more than [`EXPIRY_MARGIN`] ago.
/// Every process runs it; the database orders their updates.
pub async fn refresh_account(
    grants: Grants,
    interval: Duration,
    mut shutdown: watch::Receiver<bool>,
) {
    loop {
        match grants.prune_expired().await {
            Ok(0) => {}
            Ok(deleted) => tracing::debug!(deleted, "deleted expired realtime credentials"),
            Err(error) => {
                tracing::warn!(error = %format!("{error:#}"), "deleting expired realtime credentials failed; will retry");
            }
        }
        if let Err(error) = grants.send_account().await {
            tracing::warn!(error = %format!("{error:#}"), "sending the NATS account JWT failed; will retry");
        }
        tokio::select! {
            _ = tokio::time::sleep(interval) => {}
            _ = shutdown.wait_for(|stop| *stop) => return,
        }
    }
}
