//! What a request is about, as the policy sees it: who asks ([`Who`]), the resource with the
//! facts read for it ([`Target`]), and the Cedar entities built from them: the caller with
//! only the roles that lie on the resource's ancestry, the resource, and that ancestry.

use std::collections::{HashMap, HashSet};
use std::str::FromStr;

use application::identity::Principal;
use application::service_accounts::ServicePrincipal;
use cedar_policy::{Entity, EntityId, EntityTypeName, EntityUid, RestrictedExpression};
use projections::directory::{AccountFacts, ClassFacts, GroupFacts};
use uuid::Uuid;

pub(super) fn uid(kind: &str, id: impl ToString) -> EntityUid {
    EntityUid::from_type_name_and_id(
        EntityTypeName::from_str(kind).expect("entity type names are constants"),
        EntityId::new(id.to_string()),
    )
}

pub(super) fn action(name: &str) -> EntityUid {
    uid("Action", name)
}

/// Who asks: a signed-in user or a service account.
#[derive(Debug, Clone, Copy)]
pub enum Who<'a> {
    User(&'a Principal),
    Service(&'a ServicePrincipal),
}

impl Who<'_> {
    pub(super) fn uid(&self) -> EntityUid {
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
    /// A person others act on (add to a group or class), with where they hold roles.
    Account {
        id: Uuid,
        facts: AccountFacts,
    },
}

impl Target {
    pub(super) fn read_action(&self) -> Option<&'static str> {
        match self {
            Self::System => None,
            Self::Group { .. } => Some("group.read"),
            Self::Class { .. } => Some("class.read"),
            Self::LearningSession { .. } => Some("learning_session.read"),
            Self::Account { .. } => None,
        }
    }
}

/// A role held in a group: `(group id, role name)`.
type GroupRoleFact = (Uuid, String);

/// The caller as a Cedar entity, with the roles relevant to `target`.
pub(super) fn principal_entity(principal: &Principal, target: &Target) -> Entity {
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
    let (roles, class_roles): (&[GroupRoleFact], Vec<(Uuid, &str)>) = match target {
        Target::System => (&empty, vec![]),
        Target::Group { facts, .. } => (&facts.roles, vec![]),
        Target::Class { id, facts }
        | Target::LearningSession {
            class_id: id,
            facts,
            ..
        } => (
            &facts.group.roles,
            facts
                .class_role
                .as_deref()
                .map(|r| (*id, r))
                .into_iter()
                .collect(),
        ),
        Target::Account { facts, .. } => (
            &facts.roles,
            facts
                .class_roles
                .iter()
                .map(|(c, r)| (*c, r.as_str()))
                .collect(),
        ),
    };
    let classes = |wanted: &str| {
        RestrictedExpression::new_set(
            class_roles
                .iter()
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
pub(super) fn service_entity(service: &ServicePrincipal, target: &Target) -> Entity {
    let path: &[Uuid] = match target {
        Target::System | Target::Account { .. } => &[],
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
pub(super) fn target_entities(target: &Target) -> (EntityUid, Vec<Entity>) {
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
        Target::Account { id, facts } => {
            // Every group on the paths of the person's places, once, in its parent.
            let mut groups: HashMap<Uuid, Option<Uuid>> = HashMap::new();
            let paths = facts
                .groups
                .iter()
                .chain(facts.classes.iter().map(|(_, path)| path));
            for path in paths {
                for (i, g) in path.iter().enumerate() {
                    groups.insert(*g, i.checked_sub(1).map(|p| path[p]));
                }
            }
            let mut entities: Vec<Entity> = groups
                .iter()
                .map(|(g, parent)| {
                    Entity::new_no_attrs(
                        uid("Group", g),
                        parent.iter().map(|p| uid("Group", p)).collect(),
                    )
                })
                .collect();
            let mut places: HashSet<EntityUid> = facts
                .groups
                .iter()
                .filter_map(|path| path.last())
                .map(|g| uid("Group", g))
                .collect();
            for (class, path) in &facts.classes {
                entities.push(Entity::new_no_attrs(
                    uid("Class", class),
                    path.last().iter().map(|g| uid("Group", g)).collect(),
                ));
                places.insert(uid("Class", class));
            }
            let affiliated = !places.is_empty();
            entities.push(
                Entity::new(
                    uid("Account", id),
                    HashMap::from([(
                        "affiliated".to_owned(),
                        RestrictedExpression::new_bool(affiliated),
                    )]),
                    places,
                )
                .expect("literal attributes always evaluate"),
            );
            (uid("Account", id), entities)
        }
    }
}
