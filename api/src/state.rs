//! What every endpoint shares: the [`Services`] a request is served with (the use cases, the
//! policy, the rate limits, the database and NATS) and the read-your-writes waits that let a
//! write's answer, and the caller's next read, see the write.

use std::sync::Arc;
use std::time::Duration;

use application::assessments::Assessments;
use application::classes::Classes;
use application::external::ExternalSignIn;
use application::groups::Groups;
use application::identity::Identity;
use application::learning::LearningSessions;
use application::notifications::Notifications;
use application::service_accounts::ServiceAccounts;
use application::tools::Tools;
use application::workflows::SafetyConcerns;
use infrastructure::config::AuthConfig;
use projections::{Checkpoints, Subscribers};
use sqlx::PgPool;
use uuid::Uuid;

use crate::authz::Authz;
use crate::problem::ApiError;
use crate::rate_limit::AuthLimits;

/// What the endpoints use.
pub struct Services {
    pub pool: PgPool,
    pub nats: async_nats::Client,
    pub groups: Groups,
    pub classes: Classes,
    pub tools: Tools,
    pub assignments: application::assignments::Assignments,
    pub submissions: application::assignments::Submissions,
    pub learning: LearningSessions,
    pub assessments: Assessments,
    pub notifications: Arc<Notifications>,
    pub service_accounts: ServiceAccounts,
    pub safety_concerns: SafetyConcerns,
    pub authz: Authz,
    pub identity: Arc<Identity>,
    pub external: ExternalSignIn,
    pub auth: AuthConfig,
    pub limits: AuthLimits,
    pub checkpoints: Checkpoints,
    pub subscribers: Subscribers,
    pub read_your_writes_timeout: Duration,
    /// Signs the audit chain's checkpoints; `None` when `AUDIT_SIGNING_KEY` is unset.
    pub audit_key: Option<Arc<projections::audit::AuditKey>>,
    /// Live dashboards' credentials; `None` when the NATS keys are not configured.
    pub realtime: Option<RealtimeCredentials>,
    /// `GET /metrics`'s figures.
    pub metrics: Arc<projections::metrics::Metrics>,
}

/// What `POST /realtime/credentials` needs.
pub struct RealtimeCredentials {
    pub grants: infrastructure::realtime::grants::Grants,
    pub websocket_url: String,
    pub ttl: Duration,
    pub subject_prefix: String,
}

impl Services {
    /// Read-your-writes: waits (bounded) until projection `name` has passed `position`.
    pub async fn caught_up(&self, name: &str, position: Option<i64>) -> Result<(), ApiError> {
        self.wait_for(name, position).await?;
        // This request changed the directory: decide the next ones on the new state.
        if position.is_some() && name == projections::directory::NAME {
            self.authz.cache.invalidate();
        }
        Ok(())
    }

    /// Waits (bounded) until projection `name` has applied everything of one stream: writes
    /// that answer without waiting for their projection (ADR 0007) are reflected by the next
    /// read that calls this first.
    pub async fn caught_up_with_stream(
        &self,
        name: &str,
        aggregate_type: &str,
        id: Uuid,
    ) -> Result<(), ApiError> {
        self.checkpoints
            .wait_for_stream(
                name,
                aggregate_type,
                &id.to_string(),
                self.read_your_writes_timeout,
            )
            .await?;
        Ok(())
    }

    /// [`caught_up`](Self::caught_up) after creating a group or class: a new entity is in
    /// no cached authorization entry (missing ones are never cached, and it has no members
    /// yet), so the directory cache keeps its generation.
    pub async fn caught_up_created(
        &self,
        name: &str,
        position: Option<i64>,
    ) -> Result<(), ApiError> {
        self.wait_for(name, position).await
    }

    /// Waits (bounded) until `projection` has applied everything committed so far.
    pub async fn caught_up_with_log(
        &self,
        projection: &dyn projections::Projection,
    ) -> Result<(), ApiError> {
        Ok(self
            .checkpoints
            .wait_for_handled(
                projection.name(),
                projection.aggregate_types(),
                None,
                self.read_your_writes_timeout,
            )
            .await?)
    }

    /// After a write that reached `position`: a read model still behind when the wait ends
    /// is a 202 with the position ([`ApiError::accepted`]): the write happened, and must not
    /// look failed.
    async fn wait_for(&self, name: &str, position: Option<i64>) -> Result<(), ApiError> {
        let Some(position) = position else {
            return Ok(());
        };
        match self
            .checkpoints
            .wait_for(name, position, self.read_your_writes_timeout)
            .await
        {
            Ok(()) => Ok(()),
            Err(projections::WaitError::Store(e)) => Err(e.into()),
            Err(error) => {
                tracing::warn!(%error, position, "read model did not catch up in time; answering 202");
                Err(ApiError::accepted(position))
            }
        }
    }
}
