//! `/me`: the caller's memberships and what they may do.

use std::collections::BTreeMap;
use std::sync::Arc;

use poem::web::Data;
use poem_openapi::payload::Json;
use poem_openapi::{Object, OpenApi};
use projections::directory;
use uuid::Uuid;

use super::closed::{MemberRole, MembershipKind, OneOf};
use super::tags::ApiTags;
use crate::authz::Target;
use crate::caller::Caller;
use crate::problem::ApiError;
use crate::state::Services;

/// A role the caller holds in a group or class.
#[derive(Debug, Object)]
pub struct MembershipDto {
    /// `group` or `class`.
    pub kind: OneOf<MembershipKind>,
    pub id: Uuid,
    pub name: String,
    pub role: OneOf<MemberRole>,
    /// Set when the role is inherited as admin or counselor of this ancestor group.
    #[oai(nullable)]
    pub inherited_from: Option<Uuid>,
}

#[derive(Debug, Object)]
#[oai(example)]
pub struct Memberships {
    pub items: Vec<MembershipDto>,
}

/// What the caller may do: action names per resource, for showing or hiding actions in a
/// frontend (the server still decides every request).
#[derive(Debug, Object)]
#[oai(example)]
pub struct Abilities {
    /// System-wide actions (`system.*`).
    pub system: Vec<String>,
    /// Group id → allowed `group.*` actions.
    pub groups: BTreeMap<String, Vec<String>>,
    /// Class id → allowed `class.*` actions.
    pub classes: BTreeMap<String, Vec<String>>,
}

pub struct MeApi {
    pub services: Arc<Services>,
}

#[OpenApi(tag = "ApiTags::Auth")]
impl MeApi {
    /// My memberships
    ///
    /// Groups and classes where the caller has a role, including those inherited as admin or
    /// counselor of an ancestor group.
    #[oai(
        path = "/me/memberships",
        method = "get",
        operation_id = "myMemberships"
    )]
    async fn memberships(&self, caller: Data<&Caller>) -> Result<Json<Memberships>, ApiError> {
        let principal = caller.user()?;
        let rows = directory::memberships_of(&self.services.pool, principal.user_id).await?;
        Ok(Json(Memberships {
            items: rows
                .into_iter()
                .map(|m| MembershipDto {
                    kind: m.kind.into(),
                    id: m.id,
                    name: m.name,
                    role: m.role.into(),
                    inherited_from: m.inherited_from,
                })
                .collect(),
        }))
    }

    /// My abilities
    ///
    /// For every group and class the caller has a role in (directly or inherited), the
    /// actions the policy allows; plus the system-wide ones.
    #[oai(path = "/me/abilities", method = "get", operation_id = "myAbilities")]
    async fn abilities(&self, caller: Data<&Caller>) -> Result<Json<Abilities>, ApiError> {
        let principal = caller.user()?;
        let authz = &self.services.authz;
        let system = authz
            .policy
            .allowed_actions(principal, &Target::System)
            .into_iter()
            .map(str::to_owned)
            .collect();
        let mut groups = BTreeMap::new();
        let mut classes = BTreeMap::new();
        let rows = directory::memberships_of(&self.services.pool, principal.user_id).await?;
        for row in rows {
            let key = row.id.to_string();
            if row.kind == "group" {
                if groups.contains_key(&key) {
                    continue;
                }
                if let Some(target) = authz.group_target(principal, row.id).await? {
                    let actions = authz.policy.allowed_actions(principal, &target);
                    groups.insert(key, actions.into_iter().map(str::to_owned).collect());
                }
            } else {
                if classes.contains_key(&key) {
                    continue;
                }
                if let Some(target) = authz.class_target(principal, row.id).await? {
                    let actions = authz.policy.allowed_actions(principal, &target);
                    classes.insert(key, actions.into_iter().map(str::to_owned).collect());
                }
            }
        }
        Ok(Json(Abilities {
            system,
            groups,
            classes,
        }))
    }
}
