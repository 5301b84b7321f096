//! Authorization: one Cedar policy (`api/policy/raptscallions.cedar`, schema beside it) asked
//! by every endpoint. Entities are built per request from the read models: the caller with
//! only the roles that lie on the requested resource's ancestry, and that ancestry.
//!
//! A resource the caller may not read is answered 404 (its existence is not leaked); one they
//! may read but not change, 403.

use std::collections::{HashMap, HashSet};
use std::str::FromStr;

use application::identity::Principal;
use application::service_accounts::ServicePrincipal;
use cedar_policy::{
    Authorizer, Context, Decision, Entities, Entity, EntityId, EntityTypeName, EntityUid,
    PolicySet, Request, RestrictedExpression, Schema, ValidationMode, Validator,
};
use projections::directory::{self, ClassFacts, GroupFacts};
use projections::Checkpoints;
use sqlx::PgPool;
use std::time::Duration;
use uuid::Uuid;

use crate::directory_cache::{DecisionKey, DirectoryCache};
use crate::problem::{ApiError, ProblemKind};

/// The policy and schema shipped with the binary.
pub const POLICY: &str = include_str!("../policy/raptscallions.cedar");
pub const SCHEMA: &str = include_str!("../policy/raptscallions.cedarschema");

/// The policy failed to parse or validate.
#[derive(Debug, thiserror::Error)]
#[error("the authorization policy is invalid: {0}")]
pub struct PolicyError(String);

/// A parsed, validated policy.
pub struct Policy {
    schema: Schema,
    policies: PolicySet,
    authorizer: Authorizer,
}

impl Policy {
    /// Parses the policy and schema and validates the policy against the schema (strict).
    pub fn new(policy: &str, schema: &str) -> Result<Self, PolicyError> {
        let (schema, _warnings) = Schema::from_cedarschema_str(schema)
            .map_err(|e| PolicyError(format!("schema: {e}")))?;
        let policies =
            PolicySet::from_str(policy).map_err(|e| PolicyError(format!("policy: {e}")))?;
        let result = Validator::new(schema.clone()).validate(&policies, ValidationMode::Strict);
        if !result.validation_passed() {
            let errors: Vec<String> = result.validation_errors().map(|e| e.to_string()).collect();
            return Err(PolicyError(errors.join("; ")));
        }
        Ok(Self {
            schema,
            policies,
            authorizer: Authorizer::new(),
        })
    }

    /// The shipped policy.
    pub fn shipped() -> Result<Self, PolicyError> {
        Self::new(POLICY, SCHEMA)
    }
}

fn uid(kind: &str, id: impl ToString) -> EntityUid {
    EntityUid::from_type_name_and_id(
        EntityTypeName::from_str(kind).expect("entity type names are constants"),
        EntityId::new(id.to_string()),
    )
}

fn action(name: &str) -> EntityUid {
    uid("Action", name)
}

/// Who asks: a signed-in user or a service account.
#[derive(Debug, Clone, Copy)]
pub enum Who<'a> {
    User(&'a Principal),
    Service(&'a ServicePrincipal),
}

impl Who<'_> {
    fn uid(&self) -> EntityUid {
        match self {
            Self::User(p) => uid("User", p.user_id),
            Self::Service(s) => uid("ServiceAccount", s.id),
        }
    }

    /// The user whose roles are looked up (a service account has none).
    pub fn user_id(&self) -> Uuid {
        match self {
            Self::User(p) => p.user_id,
            Self::Service(_) => Uuid::nil(),
        }
    }
}

/// What a request is about.
#[derive(Debug, Clone)]
pub enum Target {
    System,
    Group {
        id: Uuid,
        facts: GroupFacts,
    },
    Class {
        id: Uuid,
        facts: ClassFacts,
    },
    LearningSession {
        id: Uuid,
        student: Uuid,
        class_id: Uuid,
        facts: ClassFacts,
    },
}

impl Target {
    fn read_action(&self) -> Option<&'static str> {
        match self {
            Self::System => None,
            Self::Group { .. } => Some("group.read"),
            Self::Class { .. } => Some("class.read"),
            Self::LearningSession { .. } => Some("learning_session.read"),
        }
    }
}

/// A role held in a group: `(group id, role name)`.
type GroupRoleFact = (Uuid, String);

/// The caller as a Cedar entity, with the roles relevant to `target`.
fn principal_entity(principal: &Principal, target: &Target) -> Entity {
    let groups = |wanted: &str, roles: &[(Uuid, String)]| {
        RestrictedExpression::new_set(
            roles
                .iter()
                .filter(|(_, role)| role == wanted)
                .map(|(g, _)| RestrictedExpression::new_entity_uid(uid("Group", g)))
                .collect::<Vec<_>>(),
        )
    };
    let empty: Vec<(Uuid, String)> = vec![];
    let (roles, class_role): (&[GroupRoleFact], Option<(Uuid, &str)>) = match target {
        Target::System => (&empty, None),
        Target::Group { facts, .. } => (&facts.roles, None),
        Target::Class { id, facts }
        | Target::LearningSession {
            class_id: id,
            facts,
            ..
        } => (
            &facts.group.roles,
            facts.class_role.as_deref().map(|r| (*id, r)),
        ),
    };
    let classes = |wanted: &str| {
        RestrictedExpression::new_set(
            class_role
                .filter(|(_, r)| *r == wanted)
                .map(|(c, _)| RestrictedExpression::new_entity_uid(uid("Class", c))),
        )
    };
    let attrs = HashMap::from([
        (
            "system_admin".to_owned(),
            RestrictedExpression::new_bool(principal.system_admin),
        ),
        (
            "auditor".to_owned(),
            RestrictedExpression::new_bool(principal.auditor),
        ),
        ("admin_of".to_owned(), groups("admin", roles)),
        ("counselor_of".to_owned(), groups("counselor", roles)),
        ("member_of".to_owned(), groups("member", roles)),
        ("teacher_of".to_owned(), classes("teacher")),
        ("student_of".to_owned(), classes("student")),
    ]);
    Entity::new(uid("User", principal.user_id), attrs, HashSet::new())
        .expect("literal attributes always evaluate")
}

/// A service account as a Cedar entity, with only its groups on the target's ancestry.
fn service_entity(service: &ServicePrincipal, target: &Target) -> Entity {
    let path: &[Uuid] = match target {
        Target::System => &[],
        Target::Group { facts, .. } => &facts.path,
        Target::Class { facts, .. } | Target::LearningSession { facts, .. } => &facts.group.path,
    };
    let groups = service
        .group_ids
        .iter()
        .filter(|g| path.contains(g))
        .map(|g| RestrictedExpression::new_entity_uid(uid("Group", g)));
    Entity::new(
        uid("ServiceAccount", service.id),
        HashMap::from([("groups".to_owned(), RestrictedExpression::new_set(groups))]),
        HashSet::new(),
    )
    .expect("literal attributes always evaluate")
}

/// The target and its ancestry as Cedar entities.
fn target_entities(target: &Target) -> (EntityUid, Vec<Entity>) {
    let chain = |path: &[Uuid]| -> Vec<Entity> {
        path.iter()
            .enumerate()
            .map(|(i, g)| {
                let parents = if i == 0 {
                    HashSet::new()
                } else {
                    HashSet::from([uid("Group", path[i - 1])])
                };
                Entity::new_no_attrs(uid("Group", g), parents)
            })
            .collect()
    };
    match target {
        Target::System => (
            uid("System", "raptscallions"),
            vec![Entity::new_no_attrs(
                uid("System", "raptscallions"),
                HashSet::new(),
            )],
        ),
        Target::Group { id, facts } => (uid("Group", id), chain(&facts.path)),
        Target::Class { id, facts } => {
            let mut entities = chain(&facts.group.path);
            entities.push(Entity::new_no_attrs(
                uid("Class", id),
                HashSet::from([uid("Group", facts.group_id)]),
            ));
            (uid("Class", id), entities)
        }
        Target::LearningSession {
            id,
            student,
            class_id,
            facts,
        } => {
            let mut entities = chain(&facts.group.path);
            entities.push(Entity::new_no_attrs(
                uid("Class", class_id),
                HashSet::from([uid("Group", facts.group_id)]),
            ));
            let session = Entity::new(
                uid("LearningSession", id),
                HashMap::from([(
                    "student".to_owned(),
                    RestrictedExpression::new_entity_uid(uid("User", student)),
                )]),
                HashSet::from([uid("Class", class_id)]),
            )
            .expect("literal attributes always evaluate");
            entities.push(session);
            (uid("LearningSession", id), entities)
        }
    }
}

impl Policy {
    /// Whether `principal` may do `action_name` on `target`, with the determining policies.
    pub fn decide(
        &self,
        principal: &Principal,
        action_name: &str,
        target: &Target,
    ) -> (bool, Vec<String>) {
        self.decide_as(Who::User(principal), action_name, target)
    }

    /// [`Policy::decide`] for any kind of caller.
    pub fn decide_as(
        &self,
        who: Who<'_>,
        action_name: &str,
        target: &Target,
    ) -> (bool, Vec<String>) {
        self.evaluate(who, action_name, target)
    }

    /// Asks Cedar.
    fn evaluate(&self, who: Who<'_>, action_name: &str, target: &Target) -> (bool, Vec<String>) {
        let (resource, mut entities) = target_entities(target);
        entities.push(match who {
            Who::User(principal) => principal_entity(principal, target),
            Who::Service(service) => service_entity(service, target),
        });
        let entities = match Entities::from_entities(entities, Some(&self.schema)) {
            Ok(entities) => entities,
            Err(error) => {
                tracing::error!(%error, "authorization entities do not fit the schema");
                return (false, vec![]);
            }
        };
        let request = match Request::new(
            who.uid(),
            action(action_name),
            resource.clone(),
            Context::empty(),
            Some(&self.schema),
        ) {
            Ok(request) => request,
            Err(error) => {
                tracing::error!(%error, action = action_name, "authorization request does not fit the schema");
                return (false, vec![]);
            }
        };
        let response = self
            .authorizer
            .is_authorized(&request, &self.policies, &entities);
        let allowed = response.decision() == Decision::Allow;
        let policies: Vec<String> = response
            .diagnostics()
            .reason()
            .map(ToString::to_string)
            .collect();
        for error in response.diagnostics().errors() {
            tracing::error!(%error, "policy evaluation error");
        }
        tracing::debug!(
            principal = %who.uid(),
            action = action_name,
            resource = %resource,
            allowed,
            policies = ?policies,
            "authorization decision"
        );
        (allowed, policies)
    }

    /// Every action of the schema that applies to `target` and is allowed.
    pub fn allowed_actions(&self, principal: &Principal, target: &Target) -> Vec<&'static str> {
        let candidates: &[&'static str] = match target {
            Target::System => SYSTEM_ACTIONS,
            Target::Group { .. } => GROUP_ACTIONS,
            Target::Class { .. } => CLASS_ACTIONS,
            Target::LearningSession { .. } => LEARNING_SESSION_ACTIONS,
        };
        candidates
            .iter()
            .copied()
            .filter(|a| self.decide(principal, a, target).0)
            .collect()
    }
}

pub const SYSTEM_ACTIONS: &[&str] = &[
    "system.create_top_level_group",
    "system.read_events",
    "system.replay",
    "system.manage_users",
    "system.manage_service_accounts",
    "system.manage_dead_letters",
];
pub const GROUP_ACTIONS: &[&str] = &[
    "group.read",
    "group.update",
    "group.archive",
    "group.move",
    "group.create_subgroup",
    "group.read_members",
    "group.manage_members",
    "group.list_classes",
    "group.create_class",
    "group.read_tools",
    "group.manage_tools",
    "group.read_usage",
    "group.manage_theme",
];
pub const CLASS_ACTIONS: &[&str] = &[
    "class.read",
    "class.update",
    "class.archive",
    "class.move",
    "class.read_members",
    "class.manage_members",
    "class.read_assignments",
    "class.manage_assignments",
    "class.view_submissions",
    "class.grade",
    "class.read_learning_sessions",
    "class.read_safety_concerns",
    "class.create_learning_session",
    "class.create_submission",
    "class.read_assessments",
    "class.review_assessments",
    "class.read_dashboard",
];

pub const LEARNING_SESSION_ACTIONS: &[&str] = &[
    "learning_session.read",
    "learning_session.post_message",
    "learning_session.record_detection",
    "learning_session.record_assessment",
    "learning_session.pause",
    "learning_session.resume",
    "learning_session.complete",
];

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
                    projections::groups::NAME,
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
        let target = self
            .group_target(principal, id)
            .await?
            .ok_or_else(|| ApiError::not_found("resource"))?;
        self.require(principal, action, &target)?;
        Ok(target)
    }

    /// `require` on a class (404 when it does not exist).
    pub async fn class(
        &self,
        principal: &Principal,
        id: Uuid,
        action: &str,
    ) -> Result<Target, ApiError> {
        let target = self
            .class_target(principal, id)
            .await?
            .ok_or_else(|| ApiError::not_found("resource"))?;
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

    /// `require` on the system (403 when denied).
    pub fn system(&self, principal: &Principal, action: &str) -> Result<(), ApiError> {
        self.require(principal, action, &Target::System)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_policy_validates_against_its_schema() {
        Policy::shipped().unwrap();
    }

    #[test]
    fn a_broken_policy_fails_validation() {
        // An action the schema does not know.
        let unknown_action =
            POLICY.replace("Action::\"group.read_tools\"", "Action::\"group.fly\"");
        assert!(Policy::new(&unknown_action, SCHEMA).is_err());
        // An attribute the schema does not have.
        let unknown_attr = POLICY.replace("principal.system_admin", "principal.superuser");
        assert!(Policy::new(&unknown_attr, SCHEMA).is_err());
        // A syntax error.
        assert!(Policy::new("permit (principal, action, resource", SCHEMA).is_err());
    }
}
