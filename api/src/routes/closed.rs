//! Closed sets of strings: the values a field may take (roles, statuses, kinds, outcomes),
//! each declared once as a poem-openapi enum, so that the document lists them and generated
//! clients get a type instead of a plain string.
//!
//! A DTO field of such a set is a [`OneOf<E>`]: a string on the wire and in Rust, exactly as
//! before, documented as the enum `E`. The values come from read-model rows and domain types
//! as strings; a value outside the set is a bug that debug builds (and so the tests) catch
//! when the answer is written. In a request body a [`OneOf`] takes any string, and the
//! handler decides on it as before (a role outside the roster's is a `422 invalid-request`
//! after the permission check, not before it).

use std::borrow::Cow;
use std::marker::PhantomData;

use poem_openapi::registry::{MetaSchemaRef, Registry};
use poem_openapi::types::{ParseError, ParseFromJSON, ParseResult, ToJSON, Type};
use poem_openapi::Enum;
use serde_json::Value;

/// A string of the closed set `E` (a poem-openapi enum whose schema documents it).
pub struct OneOf<E>(pub String, PhantomData<fn() -> E>);

impl<E> OneOf<E> {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl<E> std::fmt::Debug for OneOf<E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl<E> Clone for OneOf<E> {
    fn clone(&self) -> Self {
        Self(self.0.clone(), PhantomData)
    }
}

impl<E> PartialEq for OneOf<E> {
    fn eq(&self, other: &Self) -> bool {
        self.0 == other.0
    }
}

impl<E> Eq for OneOf<E> {}

impl<E> From<String> for OneOf<E> {
    fn from(value: String) -> Self {
        Self(value, PhantomData)
    }
}

impl<E> From<&str> for OneOf<E> {
    fn from(value: &str) -> Self {
        Self(value.to_owned(), PhantomData)
    }
}

impl<E: Type> Type for OneOf<E> {
    const IS_REQUIRED: bool = true;
    type RawValueType = String;
    type RawElementValueType = String;

    fn name() -> Cow<'static, str> {
        E::name()
    }

    fn schema_ref() -> MetaSchemaRef {
        E::schema_ref()
    }

    fn register(registry: &mut Registry) {
        E::register(registry);
    }

    fn as_raw_value(&self) -> Option<&String> {
        Some(&self.0)
    }

    fn raw_element_iter<'a>(&'a self) -> Box<dyn Iterator<Item = &'a String> + 'a> {
        Box::new(std::iter::once(&self.0))
    }
}

impl<E: Type + ParseFromJSON> ToJSON for OneOf<E> {
    fn to_json(&self) -> Option<Value> {
        let value = Value::String(self.0.clone());
        debug_assert!(
            E::parse_from_json(Some(value.clone())).is_ok(),
            "{:?} is not one of {}",
            self.0,
            E::name()
        );
        Some(value)
    }
}

/// Any JSON string (not a number or a boolean, as with `Text`): the handler decides.
impl<E: Type + ParseFromJSON> ParseFromJSON for OneOf<E> {
    fn parse_from_json(value: Option<Value>) -> ParseResult<Self> {
        match value.unwrap_or_default() {
            Value::String(s) => Ok(s.into()),
            other => Err(ParseError::expected_type(other)),
        }
    }
}

/// A role in a group.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "snake_case")]
pub enum GroupRole {
    /// Manages the group and everything below it.
    Admin,
    /// Reads the classes, dashboards and safety concerns of the group and below it.
    Counselor,
    Member,
}

/// A role in a class.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "snake_case")]
pub enum ClassRole {
    Teacher,
    Student,
}

/// A role in a group (`admin`, `counselor`, `member`) or a class (`teacher`, `student`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "snake_case")]
pub enum MemberRole {
    Admin,
    Counselor,
    Member,
    Teacher,
    Student,
}

/// Whether a membership is of a group or of a class.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "snake_case")]
pub enum MembershipKind {
    Group,
    Class,
}

/// Where a value of a resolved theme comes from: the group or the class that sets it
/// (`source_id`), or the product's default.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "snake_case")]
pub enum ThemeSource {
    Group,
    Class,
    Default,
}

/// A learning session's status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "snake_case")]
pub enum LearningSessionStatus {
    Active,
    Paused,
    Completed,
}

/// What a notification (and its email) is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "snake_case")]
pub enum NotificationKind {
    Misbehavior,
    Struggle,
    SafetyConcern,
    AssessmentReview,
}

/// The step a struggle intervention is at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "snake_case")]
pub enum InterventionStep {
    Notifying,
    Waiting,
    Deciding,
    Intervening,
    Ended,
}

/// How a struggle intervention ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "snake_case")]
pub enum InterventionOutcome {
    SelfRecovered,
    SessionEnded,
    AiIntervention,
}

/// The kind of a workflow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "snake_case")]
pub enum WorkflowType {
    StruggleIntervention,
    SafetyEscalation,
}

/// The state of a workflow: a struggle intervention's step (`notifying` … `ended`) or a
/// safety escalation's (`escalating` … `resolved`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "snake_case")]
pub enum WorkflowState {
    Notifying,
    Waiting,
    Deciding,
    Intervening,
    Ended,
    Escalating,
    AwaitingFollowUp,
    AwaitingResolution,
    Resolved,
}

/// How a workflow ended: a struggle intervention's outcome (`self_recovered`,
/// `session_ended`, `ai_intervention`) or a resolved safety concern's (`addressed`,
/// `referred`, `no_action_needed`, `false_positive`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "snake_case")]
pub enum WorkflowOutcome {
    SelfRecovered,
    SessionEnded,
    AiIntervention,
    Addressed,
    Referred,
    NoActionNeeded,
    FalsePositive,
}

/// A provider to sign in with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "snake_case")]
pub enum Provider {
    Google,
    Microsoft,
    Clever,
}

/// The process's state in `/health`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "snake_case")]
pub enum HealthStatus {
    Ok,
    Degraded,
}

/// The NATS connection's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "snake_case")]
pub enum NatsState {
    Ok,
    Connecting,
    Disconnected,
}

/// Whether the database answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "snake_case")]
pub enum DatabaseState {
    Ok,
    Unreachable,
}

/// Whether every migration is applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "snake_case")]
pub enum MigrationsState {
    Ok,
    Pending,
    Unknown,
}

/// What happens to a dead-lettered email asked to be sent again.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "snake_case")]
pub enum RetryStatus {
    RetryRequested,
}

/// How urgent a safety concern is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "snake_case")]
pub enum UrgencyDto {
    Immediate,
    SameDay,
    Monitor,
}

/// Where a safety concern stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "snake_case")]
pub enum ConcernStatus {
    /// Nobody has acknowledged it.
    Open,
    Acknowledged,
    Resolved,
}

/// How a resolved safety concern was handled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "snake_case")]
pub enum OutcomeDto {
    Addressed,
    Referred,
    NoActionNeeded,
    FalsePositive,
}
