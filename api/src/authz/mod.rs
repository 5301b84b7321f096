//! Authorization: one Cedar policy (`api/policy/raptscallions.cedar`, schema beside it) asked
//! by every endpoint. Entities are built per request from the read models: the caller with
//! only the roles that lie on the requested resource's ancestry, and that ancestry.
//!
//! A resource the caller may not read is answered 404 (its existence is not leaked); one they
//! may read but not change, 403.
//!
//! - `policy`: the policy and its schema, compiled in, parsed and validated (strict) at
//!   start-up, and asked one question at a time ([`Policy`]); the actions of each kind of
//!   resource.
//! - `entities`: who asks ([`Who`]) and what about ([`Target`], with the facts read for it),
//!   and the Cedar entities built from them for one request.
//! - `decisions`: [`Authz`], what endpoints call: it loads a target's facts (through the
//!   directory cache), remembers decisions, and answers 404 or 403.

mod decisions;
mod entities;
mod policy;

pub use decisions::{Authz, LearningSessionFacts};
pub use entities::{Target, Who};
pub use policy::{
    Policy, PolicyError, ACCOUNT_ACTIONS, CLASS_ACTIONS, GROUP_ACTIONS, LEARNING_SESSION_ACTIONS,
    POLICY, SCHEMA, SYSTEM_ACTIONS,
};
