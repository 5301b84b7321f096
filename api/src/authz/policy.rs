//! The shipped Cedar policy: parsed and validated against its schema (strict) before the
//! service starts, then asked whether a caller may do an action on a target, with the
//! entities of that one request. And the actions of each kind of resource, which
//! `/me/abilities` goes through.

use std::str::FromStr;

use application::identity::Principal;
use cedar_policy::{
    Authorizer, Context, Decision, Entities, PolicySet, Request, Schema, ValidationMode, Validator,
};

use super::entities::{action, principal_entity, service_entity, target_entities, Target, Who};

/// The policy and schema shipped with the binary.
pub const POLICY: &str = include_str!("../../policy/raptscallions.cedar");
pub const SCHEMA: &str = include_str!("../../policy/raptscallions.cedarschema");

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
            Target::Account { .. } => ACCOUNT_ACTIONS,
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
    "system.verify_log",
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
    "class.handle_safety_concerns",
    "class.read_interventions",
    "class.create_learning_session",
    "class.create_submission",
    "class.read_assessments",
    "class.review_assessments",
    "class.read_dashboard",
    "class.manage_theme",
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

/// Actions on a person (the `Account` entity): adding them to a group or class also needs
/// `group.manage_members` or `class.manage_members` there.
pub const ACCOUNT_ACTIONS: &[&str] = &["account.add_to_roster"];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_policy_validates_against_its_schema() {
        Policy::shipped().unwrap();
    }

    fn principal(system_admin: bool) -> Principal {
        Principal {
            user_id: uuid::Uuid::now_v7(),
            session_id: uuid::Uuid::now_v7(),
            email: "ada@example.org".into(),
            name: "Ada".into(),
            system_admin,
            auditor: false,
            created_at: chrono::Utc::now(),
            session_expires_at: chrono::Utc::now(),
        }
    }

    #[test]
    fn a_person_may_be_added_by_who_already_sees_them_or_when_new() {
        use projections::directory::AccountFacts;
        let policy = Policy::shipped().unwrap();
        let add = |who: &Principal, facts: AccountFacts| {
            let target = Target::Account {
                id: uuid::Uuid::now_v7(),
                facts,
            };
            policy.decide(who, "account.add_to_roster", &target).0
        };
        let (district, school, sibling, class) = (
            uuid::Uuid::now_v7(),
            uuid::Uuid::now_v7(),
            uuid::Uuid::now_v7(),
            uuid::Uuid::now_v7(),
        );
        let caller = principal(false);
        let new = AccountFacts {
            groups: vec![],
            classes: vec![],
            roles: vec![],
            class_roles: vec![],
        };
        assert!(add(&caller, new.clone()), "nobody's account yet");

        // A student of a class in the school, seen by the district's admin.
        let student = |roles: Vec<(uuid::Uuid, String)>, class_roles| AccountFacts {
            groups: vec![],
            classes: vec![(class, vec![district, school])],
            roles,
            class_roles,
        };
        assert!(add(
            &caller,
            student(vec![(district, "admin".into())], vec![])
        ));
        assert!(add(
            &caller,
            student(vec![], vec![(class, "teacher".into())])
        ));
        assert!(!add(
            &caller,
            student(vec![(district, "counselor".into())], vec![])
        ));
        assert!(!add(
            &caller,
            student(vec![], vec![(class, "student".into())])
        ));
        assert!(!add(&caller, student(vec![], vec![])), "a stranger");
        assert!(add(&principal(true), student(vec![], vec![])));

        // A member of the sibling school: not seen by the school's admin.
        let sibling_member = |roles| AccountFacts {
            groups: vec![vec![district, sibling]],
            classes: vec![],
            roles,
            class_roles: vec![],
        };
        assert!(!add(&caller, sibling_member(vec![])));
        assert!(add(
            &caller,
            sibling_member(vec![(district, "admin".into())])
        ));
        assert!(add(
            &caller,
            sibling_member(vec![(sibling, "admin".into())])
        ));
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
