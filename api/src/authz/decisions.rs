//! The decisions endpoints ask for: [`Authz`] loads a target's facts from the read models
//! (through the [`DirectoryCache`], and a learning session's unchanging facts from memory),
//! asks the [`Policy`], remembers its decisions, and answers a refusal as 404 (the caller
//! cannot read the resource, or it does not exist) or 403 (they can read it, not do this).

use std::collections::HashMap;
use std::time::Duration;

use application::identity::Principal;
use projections::directory::{self, ClassFacts, GroupFacts};
use projections::Checkpoints;
use sqlx::PgPool;
use uuid::Uuid;

use super::entities::{Target, Who};
use super::policy::Policy;
use crate::directory_cache::{DecisionKey, DirectoryCache};
use crate::problem::{ApiError, ProblemKind};

/// What never changes about a learning session once started: who, where, with what, since
/// when. Cached without invalidation (ADR 0007).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LearningSessionFacts {
    pub id: Uuid,
    pub student_id: Uuid,
    pub class_id: Uuid,
    pub group_id: Uuid,
    pub tool_id: Uuid,
    pub started_at: chrono::DateTime<chrono::Utc>,
}

/// Learning sessions kept at most in [`Authz`]'s learning-session cache; beyond it, it
/// starts over.
const LEARNING_SESSION_CAPACITY: usize = 100_000;

/// Asks the policy on behalf of endpoints, loading the facts from the read models (through
/// the [`DirectoryCache`]).
pub struct Authz {
    pub policy: Policy,
    /// The unchanging facts of learning sessions read so far.
    learning_sessions: std::sync::RwLock<HashMap<Uuid, LearningSessionFacts>>,
    pool: PgPool,
    pub cache: DirectoryCache,
    checkpoints: Checkpoints,
    read_your_writes_timeout: Duration,
}

impl Authz {
    pub fn new(
        policy: Policy,
        pool: PgPool,
        checkpoints: Checkpoints,
        read_your_writes_timeout: Duration,
    ) -> Self {
        Self {
            policy,
            learning_sessions: Default::default(),
            pool,
            cache: DirectoryCache::default(),
            checkpoints,
            read_your_writes_timeout,
        }
    }

    /// A group's facts for a user (`None`: no such group).
    async fn group_facts(&self, id: Uuid, user_id: Uuid) -> Result<Option<GroupFacts>, ApiError> {
        if let Some(facts) = self.cache.group_facts(id, user_id) {
            return Ok(Some(facts));
        }
        let generation = self.cache.generation();
        let mut facts = directory::group_facts(&self.pool, id, user_id).await?;
        if facts.is_none() {
            // Created a moment ago? `POST /groups` answers before the projection has the
            // group (ADR 0007): if its stream exists, wait for the projection and look again.
            let exists = self
                .checkpoints
                .wait_for_stream(
                    projections::directory::NAME,
                    <domain::group::Group as domain::Aggregate>::TYPE,
                    &id.to_string(),
                    self.read_your_writes_timeout,
                )
                .await?;
            if exists {
                facts = directory::group_facts(&self.pool, id, user_id).await?;
            }
        }
        if let Some(facts) = &facts {
            self.cache
                .put_group_facts(generation, id, user_id, facts.clone());
        }
        Ok(facts)
    }

    /// A class's facts for a user (`None`: no such class).
    async fn class_facts(&self, id: Uuid, user_id: Uuid) -> Result<Option<ClassFacts>, ApiError> {
        if let Some(facts) = self.cache.class_facts(id, user_id) {
            return Ok(Some(facts));
        }
        let generation = self.cache.generation();
        let facts = directory::class_facts(&self.pool, id, user_id).await?;
        if let Some(facts) = &facts {
            self.cache
                .put_class_facts(generation, id, user_id, facts.clone());
        }
        Ok(facts)
    }

    /// A class row (`None`: no such class).
    pub async fn class_row(&self, id: Uuid) -> Result<Option<directory::ClassRow>, ApiError> {
        if let Some(row) = self.cache.class_row(id) {
            return Ok(Some(row));
        }
        let generation = self.cache.generation();
        let row = directory::get_class(&self.pool, id).await?;
        if let Some(row) = &row {
            self.cache.put_class_row(generation, row.clone());
        }
        Ok(row)
    }

    /// [`Policy::decide_as`], remembered for users: a decision is a pure function of the
    /// caller's attributes, the action and the target with its facts, all of which are in
    /// the key, so a remembered decision is never stale.
    pub fn decide_as(&self, who: Who<'_>, action: &str, target: &Target) -> (bool, Vec<String>) {
        let Who::User(principal) = who else {
            return self.policy.decide_as(who, action, target);
        };
        let key = DecisionKey {
            user_id: principal.user_id,
            system_admin: principal.system_admin,
            auditor: principal.auditor,
            action: action.to_owned(),
            resource: format!("{target:?}"),
        };
        if let Some(decision) = self.cache.decision(&key) {
            tracing::debug!(
                principal = %who.uid(),
                action,
                allowed = decision.0,
                policies = ?decision.1,
                "authorization decision (remembered)"
            );
            return decision;
        }
        let generation = self.cache.generation();
        let decision = self.policy.decide_as(who, action, target);
        self.cache.put_decision(generation, key, decision.clone());
        decision
    }

    pub async fn group_target(
        &self,
        principal: &Principal,
        id: Uuid,
    ) -> Result<Option<Target>, ApiError> {
        Ok(self
            .group_facts(id, principal.user_id)
            .await?
            .map(|facts| Target::Group { id, facts }))
    }

    pub async fn class_target(
        &self,
        principal: &Principal,
        id: Uuid,
    ) -> Result<Option<Target>, ApiError> {
        Ok(self
            .class_facts(id, principal.user_id)
            .await?
            .map(|facts| Target::Class { id, facts }))
    }

    /// Allows, or answers 404 (cannot read it) / 403 (can read, cannot do this).
    pub fn require(
        &self,
        principal: &Principal,
        action: &str,
        target: &Target,
    ) -> Result<(), ApiError> {
        self.require_as(Who::User(principal), action, target)
    }

    /// [`Authz::require`] for any kind of caller.
    pub fn require_as(&self, who: Who<'_>, action: &str, target: &Target) -> Result<(), ApiError> {
        if self.decide_as(who, action, target).0 {
            return Ok(());
        }
        match target.read_action() {
            Some(read) if read != action && self.decide_as(who, read, target).0 => {
                Err(ApiError::kind(ProblemKind::Forbidden))
            }
            Some(_) => Err(ApiError::not_found("resource")),
            None => Err(ApiError::kind(ProblemKind::Forbidden)),
        }
    }

    /// `require` on a group (404 when it does not exist, with the same body as when it
    /// cannot be read).
    pub async fn group(
        &self,
        principal: &Principal,
        id: Uuid,
        action: &str,
    ) -> Result<Target, ApiError> {
        let target = self.group_target(principal, id).await?;
        self.require_found(principal, action, target)
    }

    /// `require` on a class (404 when it does not exist).
    pub async fn class(
        &self,
        principal: &Principal,
        id: Uuid,
        action: &str,
    ) -> Result<Target, ApiError> {
        let target = self.class_target(principal, id).await?;
        self.require_found(principal, action, target)
    }

    /// Whether the policy allows `action` on the class, as [`Authz::class`] decides it but
    /// without refusing: for a read that shows some callers more than others. A class that
    /// does not exist allows nothing, and neither does a service account (the schema gives
    /// `class.*` actions to users only).
    pub async fn allows_on_class(
        &self,
        who: Who<'_>,
        id: Uuid,
        action: &str,
    ) -> Result<bool, ApiError> {
        let Who::User(principal) = who else {
            return Ok(false);
        };
        Ok(match self.class_target(principal, id).await? {
            Some(target) => self.decide_as(who, action, &target).0,
            None => false,
        })
    }

    /// [`Authz::class`] on the class's facts as the directory has them now, not as this
    /// process's cache remembers them: for a decision that must reflect every change the
    /// `groups` checkpoint read before it covers (a live dashboard's credential).
    pub async fn class_uncached(
        &self,
        principal: &Principal,
        id: Uuid,
        action: &str,
    ) -> Result<Target, ApiError> {
        let target = directory::class_facts(&self.pool, id, principal.user_id)
            .await?
            .map(|facts| Target::Class { id, facts });
        self.require_found(principal, action, target)
    }

    /// `require` on a target that may not exist: a missing one is answered as one the caller
    /// cannot read (404, the same body).
    fn require_found(
        &self,
        principal: &Principal,
        action: &str,
        target: Option<Target>,
    ) -> Result<Target, ApiError> {
        let target = target.ok_or_else(|| ApiError::not_found("resource"))?;
        self.require(principal, action, &target)?;
        Ok(target)
    }

    /// `require` on a learning session (404 when it does not exist or cannot be read).
    pub async fn learning_session(
        &self,
        principal: &Principal,
        id: Uuid,
        action: &str,
    ) -> Result<(Target, LearningSessionFacts), ApiError> {
        self.learning_session_as(Who::User(principal), id, action)
            .await
    }

    /// A learning session's unchanging facts, from memory after the first read.
    async fn learning_session_facts(
        &self,
        id: Uuid,
    ) -> Result<Option<LearningSessionFacts>, ApiError> {
        if let Some(facts) = self
            .learning_sessions
            .read()
            .expect("learning session facts")
            .get(&id)
        {
            return Ok(Some(facts.clone()));
        }
        let Some(row) = projections::learning::get(&self.pool, id).await? else {
            return Ok(None);
        };
        let facts = LearningSessionFacts {
            id: row.id,
            student_id: row.student_id,
            class_id: row.class_id,
            group_id: row.group_id,
            tool_id: row.tool_id,
            started_at: row.started_at,
        };
        let mut sessions = self
            .learning_sessions
            .write()
            .expect("learning session facts");
        if sessions.len() >= LEARNING_SESSION_CAPACITY {
            sessions.clear();
        }
        sessions.insert(id, facts.clone());
        Ok(Some(facts))
    }

    /// [`Authz::learning_session`] for any kind of caller.
    pub async fn learning_session_as(
        &self,
        who: Who<'_>,
        id: Uuid,
        action: &str,
    ) -> Result<(Target, LearningSessionFacts), ApiError> {
        let session = self
            .learning_session_facts(id)
            .await?
            .ok_or_else(|| ApiError::not_found("resource"))?;
        let facts = self
            .class_facts(session.class_id, who.user_id())
            .await?
            .ok_or_else(|| ApiError::not_found("resource"))?;
        let target = Target::LearningSession {
            id,
            student: session.student_id,
            class_id: session.class_id,
            facts,
        };
        self.require_as(who, action, &target)?;
        Ok((target, session))
    }

    /// Whether `principal` may add the person `account_id` to a group or class whose
    /// members they manage (`account.add_to_roster`): only someone they can already see in
    /// a member list, or someone who belongs nowhere yet. Read from the directory each time.
    pub async fn may_add(&self, principal: &Principal, account_id: Uuid) -> Result<bool, ApiError> {
        let facts = directory::account_facts(&self.pool, account_id, principal.user_id).await?;
        let target = Target::Account {
            id: account_id,
            facts,
        };
        Ok(self
            .decide_as(Who::User(principal), "account.add_to_roster", &target)
            .0)
    }

    /// `require` on the system (403 when denied).
    pub fn system(&self, principal: &Principal, action: &str) -> Result<(), ApiError> {
        self.require(principal, action, &Target::System)
    }
}
