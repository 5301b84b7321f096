//! The event history: the global log and single streams, for auditors.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::{Object, OpenApi};
use projections::log::{self, LogFilter, LoggedEvent, Scope};
use projections::replay::AsOf;
use uuid::Uuid;

use super::tags::ApiTags;
use crate::caller::Caller;
use crate::problem::{ApiError, ProblemKind};
use crate::state::Services;
use poem::web::Data;

/// The stream an event belongs to.
#[derive(Debug, Object)]
#[oai(example)]
pub struct StreamRef {
    pub aggregate_type: String,
    pub aggregate_id: String,
}

/// Who caused an event, when, and as part of what.
#[derive(Debug, Object)]
#[oai(example)]
pub struct EventMetadata {
    pub event_id: Uuid,
    /// The principal that issued the command (`anonymous`, `user:<id>`, …).
    #[oai(nullable)]
    pub actor: Option<String>,
    /// The request id of the HTTP request that caused the event.
    #[oai(nullable)]
    pub correlation_id: Option<String>,
    /// The event or command that caused this one, if any.
    #[oai(nullable)]
    pub causation_id: Option<String>,
    pub recorded_at: DateTime<Utc>,
}

/// One event of the log.
#[derive(Debug, Object)]
#[oai(rename = "Event", example)]
pub struct EventDto {
    /// Global position: strictly increasing in log order; not dense.
    pub position: i64,
    pub stream: StreamRef,
    /// Position within the stream, from 1.
    pub sequence: i64,
    #[oai(rename = "type")]
    pub event_type: String,
    pub version: String,
    pub payload: serde_json::Value,
    pub metadata: EventMetadata,
}

impl From<LoggedEvent> for EventDto {
    fn from(event: LoggedEvent) -> Self {
        let meta = |key: &str| event.meta(key).map(str::to_owned);
        let metadata = EventMetadata {
            event_id: event.event_id,
            actor: meta("actor"),
            correlation_id: meta("correlation_id"),
            causation_id: meta("causation_id"),
            recorded_at: event.recorded_at,
        };
        Self {
            position: event.position,
            stream: StreamRef {
                aggregate_type: event.aggregate_type,
                aggregate_id: event.aggregate_id,
            },
            sequence: event.sequence,
            event_type: event.event_type,
            version: event.event_version,
            payload: log::redacted(&event.payload),
            metadata,
        }
    }
}

/// A page of the log.
#[derive(Debug, Object)]
#[oai(example)]
pub struct EventPage {
    pub items: Vec<EventDto>,
    /// Pass as `after` to continue; equal to the request's `after` when nothing new is there.
    pub next_after: i64,
}

/// One stream.
#[derive(Debug, Object)]
#[oai(example)]
pub struct EventStream {
    pub items: Vec<EventDto>,
}

/// The examples of the OpenAPI document: an account's first two events, built from log rows
/// through the same conversion as real answers, so the password hash shows as it always
/// does: redacted.
mod examples {
    use poem_openapi::types::Example;
    use projections::log::LoggedEvent;
    use serde_json::json;
    use uuid::Uuid;

    use super::{EventDto, EventMetadata, EventPage, EventStream, StreamRef};
    use crate::routes::identity::examples::{at, USER};

    fn logged(sequence: i64) -> LoggedEvent {
        let (event_type, payload, recorded_at) = if sequence == 1 {
            (
                "user.registered",
                json!({"type": "user.registered", "email": "ada@example.org",
                       "name": "Ada Lovelace", "system_admin": false,
                       "password_hash": "$argon2id$v=19$m=19456,t=2,p=1$…"}),
                "2026-09-01T08:00:00Z",
            )
        } else {
            (
                "user.password_changed",
                json!({"type": "user.password_changed",
                       "password_hash": "$argon2id$v=19$m=19456,t=2,p=1$…"}),
                "2026-10-12T16:20:00Z",
            )
        };
        LoggedEvent {
            position: 0x0002_9a4f_0000 + sequence * 0x0100_0000,
            event_id: Uuid::from_u128(0x0193_2c4e_8a11_7000_8000_0000_0000_0000 + sequence as u128),
            aggregate_type: "user".into(),
            aggregate_id: USER.to_string(),
            sequence,
            event_type: event_type.into(),
            event_version: "1".into(),
            payload,
            metadata: json!({"actor": format!("user:{USER}"),
                             "correlation_id": "01932c4e-89f0-7a1b-8c2d-3e4f5a6b7c8d",
                             "causation_id": null}),
            recorded_at: at(recorded_at),
        }
    }

    impl Example for EventDto {
        fn example() -> Self {
            logged(2).into()
        }
    }

    impl Example for StreamRef {
        fn example() -> Self {
            EventDto::example().stream
        }
    }

    impl Example for EventMetadata {
        fn example() -> Self {
            EventDto::example().metadata
        }
    }

    impl Example for EventPage {
        fn example() -> Self {
            let items: Vec<EventDto> = [logged(1), logged(2)].into_iter().map(Into::into).collect();
            let next_after = items.last().map_or(0, |event| event.position);
            Self { items, next_after }
        }
    }

    impl Example for EventStream {
        fn example() -> Self {
            Self {
                items: [logged(1), logged(2)].into_iter().map(Into::into).collect(),
            }
        }
    }
}

/// A stream's state as it stood at a moment.
#[derive(Debug, Object)]
#[oai(example)]
pub struct StreamState {
    pub aggregate_type: String,
    pub aggregate_id: String,
    /// The newest event folded in: its sequence in the stream, log position and time.
    pub sequence: i64,
    pub position: i64,
    pub recorded_at: DateTime<Utc>,
    /// The aggregate's state after that event, as the service folds it (secret fields such
    /// as password hashes are `"[redacted]"`).
    pub state: serde_json::Value,
}

impl poem_openapi::types::Example for StreamState {
    fn example() -> Self {
        Self {
            aggregate_type: "group".into(),
            aggregate_id: "0193b2a4-5c1d-7e2f-8a3b-4c5d6e7f8a9b".into(),
            sequence: 1,
            position: 48_576_659_456,
            recorded_at: DateTime::parse_from_rfc3339("2026-12-07T16:34:01Z")
                .expect("example time")
                .with_timezone(&Utc),
            state: serde_json::json!({"created": true, "name": "Lincoln High", "parent_id": null,
                                      "archived": false, "members": {}}),
        }
    }
}

/// How long `GET /events` waits for transactions still open before it answers with what is
/// final. Ordinary transactions end within milliseconds; one left open (a forgotten `BEGIN`
/// in another session of the cluster) would otherwise slow every read of the log.
const FINAL_WAIT: std::time::Duration = std::time::Duration::from_secs(1);

pub struct EventsApi {
    pub services: Arc<Services>,
}

/// The `actor` filter as event metadata records it (see the parameter's description).
fn actor_filter(value: &str) -> Result<String, ApiError> {
    let invalid = || {
        ApiError::new(
            ProblemKind::InvalidParameter,
            "actor: a user id (UUID), or user:<uuid>, service:<uuid>, system:<name> or anonymous"
                .to_owned(),
        )
    };
    if value == "anonymous" {
        return Ok(value.to_owned());
    }
    if let Ok(id) = Uuid::parse_str(value) {
        return Ok(format!("user:{id}"));
    }
    match value.split_once(':') {
        Some((kind @ ("user" | "service"), id)) => Uuid::parse_str(id)
            .map(|id| format!("{kind}:{id}"))
            .map_err(|_| invalid()),
        Some(("system", name))
            if (1..=64).contains(&name.len())
                && name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')) =>
        {
            Ok(value.to_owned())
        }
        _ => Err(invalid()),
    }
}

#[OpenApi(tag = "ApiTags::Events")]
impl EventsApi {
    /// Read the event log
    ///
    /// System admins and auditors. Secrets in payloads (password hashes, token hashes) are redacted.
    /// Events in global order after `after`. Only events of finished transactions are
    /// returned, so paging by `next_after` never skips an event, even one whose transaction
    /// committed late. The answer includes everything committed before the request (it
    /// waits up to 1 s for transactions still open; past that it answers with what is final
    /// and `next_after` continues later).
    ///
    /// Filters combine (an event is returned when it passes all of them), and paging works
    /// the same with any of them: `aggregate_type`, `aggregate_id`, `event_type`,
    /// `correlation_id`, `actor`, the time range `from` (inclusive) to `to` (exclusive) on
    /// `metadata.recorded_at`, and the class (`class_id`) or group (`group_id`) the event
    /// touches, for questions like "what did this person do last week in this school".
    ///
    /// **An event touches a class or group** when its stream is that class or group, or when
    /// its stream is one whose events name it in their payload: a learning session, an
    /// assessment, a safety concern or a struggle intervention touches the class (and the
    /// group) its first event names, so all of its events do, whoever caused them; a
    /// notification touches the class it is about; a class touches each group it was created
    /// or moved in; a tool its group; a service account its groups; a group each parent it
    /// was created or moved under. Memberships are events of the class's or group's stream.
    /// `group_id` covers the group's subtree as the directory has it now: the group, every
    /// group below it and every class in those groups (the request first waits, up to
    /// `READ_YOUR_WRITES_TIMEOUT_MS`, for the directory to reflect every change committed
    /// before it: `503 read-model-lagging` past that). The subtree is the one of now: after a
    /// move, a class's or group's events are found under its new place, and under its old
    /// one only through the streams that named the old place (its own stream; for a class,
    /// also the sessions, assessments and safety concerns started while it was there). Which
    /// streams touch a scope is decided when each page is read.
    ///
    /// Malformed values (a time that is not RFC 3339, an actor of no known form, an id that
    /// is not a UUID), `from` later than `to`, or `class_id` together with `group_id` are
    /// `400 invalid-parameter`.
    #[oai(path = "/events", method = "get", operation_id = "listEvents")]
    #[allow(clippy::too_many_arguments)]
    async fn list(
        &self,
        caller: Data<&Caller>,
        /// Return events after this position (default 0: from the start).
        #[oai(validator(minimum(value = "0")))]
        after: Query<Option<i64>>,
        /// Page size, 1 to 1000 (default 100).
        #[oai(validator(minimum(value = "1"), maximum(value = "1000")))]
        limit: Query<Option<i64>>,
        aggregate_type: Query<Option<String>>,
        aggregate_id: Query<Option<String>>,
        event_type: Query<Option<String>>,
        correlation_id: Query<Option<String>>,
        /// Only events of commands issued by this actor (`metadata.actor`): a user's id (a
        /// UUID, the same as `user:<id>`), or the actor as recorded: `user:<uuid>`,
        /// `service:<uuid>` (a service account), `system:<name>` (the service itself, for
        /// example `system:workflows`) or `anonymous`.
        actor: Query<Option<String>>,
        /// Only events recorded at or after this time (RFC 3339, for example
        /// `2026-11-30T00:00:00Z`; send an offset's `+` as `%2B`).
        from: Query<Option<DateTime<Utc>>>,
        /// Only events recorded before this time (RFC 3339). Not earlier than `from`.
        to: Query<Option<DateTime<Utc>>>,
        /// Only events that touch this class (see the operation's description). Not with
        /// `group_id`.
        class_id: Query<Option<Uuid>>,
        /// Only events that touch this group, a group below it or one of their classes (see
        /// the operation's description). Not with `class_id`.
        group_id: Query<Option<Uuid>>,
    ) -> Result<Json<EventPage>, ApiError> {
        self.services
            .authz
            .system(caller.user()?, "system.read_events")?;
        let after = after.0.unwrap_or(0);
        let actor = actor.0.as_deref().map(actor_filter).transpose()?;
        if let (Some(from), Some(to)) = (from.0, to.0) {
            if from > to {
                return Err(ApiError::new(
                    ProblemKind::InvalidParameter,
                    "from: later than to".to_owned(),
                ));
            }
        }
        let scope = match (class_id.0, group_id.0) {
            (Some(_), Some(_)) => {
                return Err(ApiError::new(
                    ProblemKind::InvalidParameter,
                    "class_id and group_id: give one of them (a group covers its classes)"
                        .to_owned(),
                ))
            }
            (Some(class), None) => Some(Scope {
                classes: vec![class],
                groups: Vec::new(),
            }),
            (None, Some(group)) => {
                // The subtree as of every change committed before this request.
                self.services
                    .caught_up_with_log(&projections::directory::DirectoryProjection)
                    .await?;
                let subtree =
                    projections::directory::group_subtree(&self.services.pool, group).await?;
                let mut groups = subtree.groups;
                if !groups.contains(&group) {
                    // Not in the directory: only what names it.
                    groups.push(group);
                }
                Some(Scope {
                    classes: subtree.classes,
                    groups,
                })
            }
            (None, None) => None,
        };
        let filter = LogFilter {
            aggregate_type: aggregate_type.0,
            aggregate_id: aggregate_id.0,
            event_type: event_type.0,
            correlation_id: correlation_id.0,
            actor,
            from: from.0,
            to: to.0,
            scope,
        };
        // What was committed before this request, the caller's own writes included, is in
        // the answer unless a transaction elsewhere stays open past the wait.
        if !log::wait_until_final(&self.services.pool, FINAL_WAIT).await? {
            tracing::debug!("GET /events answered before every earlier write was final");
        }
        let events =
            log::read_after(&self.services.pool, after, limit.0.unwrap_or(100), &filter).await?;
        let next_after = events.last().map_or(after, |e| e.position);
        Ok(Json(EventPage {
            items: events.into_iter().map(EventDto::from).collect(),
            next_after,
        }))
    }

    /// Read one stream
    ///
    /// Every event of one aggregate, in sequence order. 404 when the stream has no events.
    #[oai(
        path = "/streams/:aggregate_type/:aggregate_id",
        method = "get",
        operation_id = "getStream"
    )]
    async fn stream(
        &self,
        caller: Data<&Caller>,
        aggregate_type: Path<String>,
        aggregate_id: Path<String>,
    ) -> Result<Json<EventStream>, ApiError> {
        self.services
            .authz
            .system(caller.user()?, "system.read_events")?;
        let events = log::read_stream(&self.services.pool, &aggregate_type, &aggregate_id).await?;
        if events.is_empty() {
            return Err(ApiError::not_found("stream"));
        }
        Ok(Json(EventStream {
            items: events.into_iter().map(EventDto::from).collect(),
        }))
    }

    /// A stream's state at a moment
    ///
    /// System admins and auditors. The aggregate's state folded from its events up to `at`:
    /// a log position (digits) or an RFC 3339 time (the events recorded by then); without
    /// `at`, its state now. 404 when the stream has no event by then.
    #[oai(
        path = "/streams/:aggregate_type/:aggregate_id/state",
        method = "get",
        operation_id = "getStreamState"
    )]
    async fn stream_state(
        &self,
        caller: Data<&Caller>,
        aggregate_type: Path<String>,
        aggregate_id: Path<String>,
        /// A log position (`48576659456`) or an RFC 3339 time (`2026-12-07T09:00:00Z`).
        at: Query<Option<String>>,
    ) -> Result<Json<StreamState>, ApiError> {
        self.services
            .authz
            .system(caller.user()?, "system.read_events")?;
        let at: Option<AsOf> =
            at.0.as_deref()
                .map(str::parse)
                .transpose()
                .map_err(|e: String| {
                    ApiError::new(ProblemKind::InvalidParameter, format!("at: {e}"))
                })?;
        let events =
            projections::log::read_stream(&self.services.pool, &aggregate_type, &aggregate_id)
                .await?;
        let events: Vec<_> = events
            .into_iter()
            .take_while(|e| match at {
                None => true,
                Some(AsOf::Position(p)) => e.position <= p,
                Some(AsOf::Time(t)) => e.recorded_at <= t,
            })
            .collect();
        let Some(last) = events.last() else {
            return Err(ApiError::new(
                ProblemKind::NotFound,
                "the stream has no event by then".to_owned(),
            ));
        };
        let payloads: Vec<serde_json::Value> = events.iter().map(|e| e.payload.clone()).collect();
        let state = domain::history::fold_json(&aggregate_type, &payloads)
            .ok_or_else(|| ApiError::not_found("aggregate type"))?
            .map_err(|e| ApiError::internal(&e))?;
        Ok(Json(StreamState {
            aggregate_type: aggregate_type.0.clone(),
            aggregate_id: aggregate_id.0.clone(),
            sequence: last.sequence,
            position: last.position,
            recorded_at: last.recorded_at,
            state: projections::log::redacted(&state),
        }))
    }
}
