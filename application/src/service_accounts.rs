//! Service accounts: the tutoring service's credentials, limited to some groups.

use std::sync::Arc;

use domain::group::GroupId;
use domain::service_account::{
    ServiceAccount, ServiceAccountCommand, ServiceAccountError, ServiceAccountId,
};
use domain::user::TokenHash;
use projections::identity as read;
use sqlx::PgPool;
use uuid::Uuid;

use crate::ports::AppendListener;
use crate::token_cache::TokenCache;
use crate::tokens;
use crate::{Appended, CommandContext, CommandError, CommandRunner, StoreError};

/// The prefix that tells a service-account secret from a session token.
pub const SECRET_PREFIX: &str = "svc_";

pub type ServiceAccountCommandError = CommandError<ServiceAccountError>;

/// An authenticated service account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServicePrincipal {
    pub id: ServiceAccountId,
    pub name: String,
    pub group_ids: Vec<GroupId>,
}

fn new_secret() -> (String, TokenHash) {
    let (token, _) = tokens::new_token();
    let secret = format!("{SECRET_PREFIX}{token}");
    let hash = tokens::hash_token(&secret);
    (secret, hash)
}

pub struct ServiceAccounts {
    runner: CommandRunner<ServiceAccount>,
    pool: PgPool,
    /// Secrets resolved a moment ago (by hash), under the rules of the session cache
    /// (ADR 0006): evicted here by rotate and revoke before they answer, and in every process
    /// by the `identity` projection's `service_account:<id>` notification.
    cache: TokenCache<ServicePrincipal>,
}

impl ServiceAccounts {
    pub fn new(pool: PgPool, listener: Arc<dyn AppendListener>) -> Self {
        Self {
            runner: CommandRunner::new(pool.clone(), listener),
            pool,
            cache: TokenCache::default(),
        }
    }

    /// The prefix of the identity channel's notifications about a service account
    /// (`service_account:<id>`, sent by the `identity` projection).
    pub const NOTIFICATION_PREFIX: &'static str = projections::identity::SERVICE_ACCOUNT_PREFIX;

    /// Applies the `<id>` of a `service_account:<id>` notification: evicts that account
    /// (everything, if the id does not parse).
    pub fn apply_notification(&self, id: &str) {
        match id.parse::<ServiceAccountId>() {
            Ok(id) => self.evict(id),
            Err(_) => self.cache.clear(),
        }
    }

    /// Forgets every cached secret (the notification listener lost its connection).
    pub fn clear_cache(&self) {
        self.cache.clear();
    }

    fn evict(&self, id: ServiceAccountId) {
        self.cache.evict(|p| p.id != id);
    }

    /// After a command that changes the secret's validity, before it answers: evicts the
    /// account, and keeps reads of a read model that has not applied the change out.
    fn changed(&self, id: ServiceAccountId, result: &Result<Appended, ServiceAccountCommandError>) {
        self.cache.after_command(result, |p| p.id != id);
    }

    /// Creates an account; the secret is returned once and stored only as its SHA-256.
    pub async fn create(
        &self,
        context: &CommandContext,
        name: String,
        group_ids: Vec<GroupId>,
    ) -> Result<(ServiceAccountId, String, Appended), ServiceAccountCommandError> {
        let (secret, secret_hash) = new_secret();
        let id = Uuid::now_v7();
        let appended = self
            .runner
            .execute_new(
                id,
                ServiceAccountCommand::Create {
                    name,
                    group_ids,
                    secret_hash,
                },
                context,
            )
            .await?;
        Ok((id, secret, appended))
    }

    /// Replaces the secret; the old one stops working once the read model has the change.
    pub async fn rotate(
        &self,
        context: &CommandContext,
        id: ServiceAccountId,
    ) -> Result<(String, Appended), ServiceAccountCommandError> {
        let (secret, secret_hash) = new_secret();
        let result = self
            .runner
            .execute(
                id,
                ServiceAccountCommand::RotateSecret { secret_hash },
                context,
            )
            .await;
        self.changed(id, &result);
        Ok((secret, result?))
    }

    pub async fn revoke(
        &self,
        context: &CommandContext,
        id: ServiceAccountId,
    ) -> Result<Appended, ServiceAccountCommandError> {
        let result = self
            .runner
            .execute(id, ServiceAccountCommand::Revoke, context)
            .await;
        self.changed(id, &result);
        result
    }

    /// Resolves a secret to its (not revoked) account.
    pub async fn authenticate(&self, secret: &str) -> Result<Option<ServicePrincipal>, StoreError> {
        let Some(token) = secret.strip_prefix(SECRET_PREFIX) else {
            return Ok(None);
        };
        if !tokens::looks_like_token(token) {
            return Ok(None);
        }
        let hash = tokens::hash_token(secret);
        if let Some(principal) = self.cache.get(&hash.0) {
            return Ok(Some(principal));
        }
        let generation = self.cache.generation();
        let Some(row) = read::service_account_by_secret_hash(&self.pool, &hash.0).await? else {
            return Ok(None);
        };
        if !tokens::hashes_equal(&TokenHash(row.secret_hash), &hash) {
            return Ok(None);
        }
        let principal = ServicePrincipal {
            id: row.id,
            name: row.name,
            group_ids: row.group_ids,
        };
        self.cache.insert(
            generation,
            row.read_checkpoint.unwrap_or(0),
            hash.0,
            principal.clone(),
        );
        Ok(Some(principal))
    }
}
