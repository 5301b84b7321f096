//! Issuing realtime credentials and revoking them (ADR 0011).
//!
//! Every issued credential is a row of `realtime_credentials` (its user public key, whose
//! session asked for it, the classes it watches, its expiry; never the JWT). The
//! `realtime-revocations` subscriber reads the log for what ends a grant
//! ([`application::realtime::revocation`]), marks the affected rows revoked and sends NATS the
//! application account's JWT listing every revoked credential that has not expired yet: the
//! server disconnects those connections at once and refuses them afterwards.

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::Context as _;
use application::realtime::{self, Revoke};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use projections::{LoggedEvent, Sink};
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

/// Issues credentials and sends account updates.
#[derive(Clone)]
pub struct Grants {
    pool: PgPool,
    keys: NatsKeys,
}

impl Grants {
    pub fn new(pool: PgPool, keys: NatsKeys) -> Self {
        Self { pool, keys }
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

    /// Sends the account JWT with the current revocations, inside `conn`'s transaction: the
    /// transaction commits only if NATS took the update (otherwise the caller retries).
    async fn push(
        &self,
        conn: &mut PgConnection,
        system: &async_nats::Client,
    ) -> anyhow::Result<()> {
        let issued_at: i64 = sqlx::query_scalar(
            "UPDATE realtime_account SET issued_at = greatest(issued_at + 1, $1) \
             RETURNING issued_at",
        )
        .bind(Utc::now().timestamp())
        .fetch_one(&mut *conn)
        .await?;
        let revoked: Vec<(String, DateTime<Utc>)> = sqlx::query_as(
            "SELECT user_key, revoked_at FROM realtime_credentials \
             WHERE revoked_at IS NOT NULL AND expires_at > now()",
        )
        .fetch_all(&mut *conn)
        .await?;
        let revocations: BTreeMap<String, i64> = revoked
            .into_iter()
            // A credential's JWT was issued before it was revoked; a second of margin covers
            // the clocks of two processes.
            .map(|(key, at)| (key, at.timestamp() + 1))
            .collect();
        let jwt = self.keys.account_jwt(&revocations, issued_at)?;
        self.keys.push_account(system, jwt).await
    }

    /// Revokes what `revoke` names; whether anything was.
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
    /// A connection of the system account (account updates).
    pub system: async_nats::Client,
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
                .push(&mut tx, &self.system)
                .await
                .context("sending the revocations to NATS")?;
            tx.commit().await?;
        }
        Ok(())
    }
}

/// Sends the account JWT at start-up and then every `interval`: a NATS server that lost its
/// account directory learns the revocations again, and expired credentials leave the list.
/// Every process runs it; the database orders their updates.
pub async fn refresh_account(
    grants: Grants,
    system: async_nats::Client,
    interval: Duration,
    mut shutdown: watch::Receiver<bool>,
) {
    loop {
        let pushed = async {
            let mut tx = grants.pool.begin().await?;
            grants.push(&mut tx, &system).await?;
            tx.commit().await?;
            anyhow::Ok(())
        }
        .await;
        if let Err(error) = pushed {
            tracing::warn!(error = %format!("{error:#}"), "sending the NATS account JWT failed; will retry");
        }
        tokio::select! {
            _ = tokio::time::sleep(interval) => {}
            _ = shutdown.wait_for(|stop| *stop) => return,
        }
    }
}
