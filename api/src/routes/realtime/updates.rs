//! `GET /realtime/updates`: a topic's stored live updates after a position, in order, paged.
//! A dashboard that was offline (or whose NATS connection dropped) asks for what it missed
//! here; the bodies are the messages published on NATS, documented here for both.

use std::sync::Arc;

use poem::web::Data;
use poem_openapi::param::Query;
use poem_openapi::payload::Json;
use poem_openapi::types::{Example, ParseFromJSON};
use poem_openapi::{Enum, Object, OpenApi, Union};
use projections::realtime::{self, StoredUpdate, Topic};
use uuid::Uuid;

use super::{authorize_topic, Facts};
use crate::caller::Caller;
use crate::problem::{ApiError, ProblemKind};
use crate::routes::tags::ApiTags;
use crate::routes::views::{
    ConcernDto, DashboardCountersDto, DashboardEventDto, InterventionDto, NotificationDto,
};
use crate::state::Services;

/// The most updates one page holds.
pub const MAX_LIMIT: i64 = 500;
const DEFAULT_LIMIT: i64 = 100;

/// A change to a class's dashboard (topic `class.<id>.dashboard`): its counters as of
/// `position`, and the recent events added since the class's previous update (several when
/// the service applied several of the class's events at once).
#[derive(Debug, Object)]
#[oai(rename = "DashboardUpdate", example)]
pub struct DashboardUpdateDto {
    /// The log position of the change; the dashboard is exact as of it.
    pub position: i64,
    pub class_id: Uuid,
    /// As in `GET /classes/{id}/dashboard` (without `recent_events`).
    pub dashboard: DashboardCountersDto,
    /// The items this change adds to the dashboard's `recent_events`, oldest first; the last
    /// one is at `position`.
    pub events: Vec<DashboardEventDto>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename = "NotificationChange", rename_all = "snake_case")]
pub enum NotificationChangeDto {
    Created,
    Read,
}

/// A notification of the user created or read (topic `user.<id>.notifications`).
#[derive(Debug, Object)]
#[oai(rename = "NotificationUpdate", example)]
pub struct NotificationUpdateDto {
    pub position: i64,
    pub change: NotificationChangeDto,
    /// The notification after the change, as an item of `GET /notifications`.
    pub notification: NotificationDto,
    /// The user's unread notifications as of `position`.
    pub unread_count: i64,
}

/// A struggle intervention of the class started or moved on (topic
/// `class.<id>.interventions`).
#[derive(Debug, Object)]
#[oai(rename = "InterventionUpdate", example)]
pub struct InterventionUpdateDto {
    pub position: i64,
    pub class_id: Uuid,
    /// The intervention after the change, as an item of `GET /classes/{id}/interventions`.
    pub intervention: InterventionDto,
}

/// A safety concern of the class opened or changed (topic `class.<id>.safety_concerns`).
#[derive(Debug, Object)]
#[oai(rename = "SafetyConcernUpdate", example)]
pub struct SafetyConcernUpdateDto {
    pub position: i64,
    pub class_id: Uuid,
    /// The concern after the change, as an item of `GET /safety-concerns`.
    pub concern: ConcernDto,
}

/// One live update; which kind follows from the topic.
#[derive(Debug, Union)]
#[oai(rename = "RealtimeUpdate", one_of)]
pub enum RealtimeUpdateDto {
    Dashboard(DashboardUpdateDto),
    Notification(NotificationUpdateDto),
    Intervention(InterventionUpdateDto),
    SafetyConcern(SafetyConcernUpdateDto),
}

impl RealtimeUpdateDto {
    /// A stored update of `topic` as the document describes it.
    pub fn parse(topic: &Topic, body: serde_json::Value) -> Result<Self, String> {
        fn parse<T: ParseFromJSON>(body: serde_json::Value) -> Result<T, String> {
            T::parse_from_json(Some(body)).map_err(|e| e.into_message())
        }
        Ok(match topic {
            Topic::ClassDashboard(_) => Self::Dashboard(parse(body)?),
            Topic::UserNotifications(_) => Self::Notification(parse(body)?),
            Topic::ClassInterventions(_) => Self::Intervention(parse(body)?),
            Topic::ClassSafetyConcerns(_) => Self::SafetyConcern(parse(body)?),
        })
    }
}

/// A page of a topic's live updates, oldest first.
#[derive(Debug, Object)]
#[oai(rename = "RealtimeUpdatePage", example)]
pub struct UpdatePage {
    pub topic: String,
    /// The updates above `after`, in log order (each carries its `position`).
    pub items: Vec<RealtimeUpdateDto>,
    /// Pass as `after` to continue: the position of the last item (`after` itself when
    /// there is none).
    pub next_after: i64,
    /// Whether more updates follow at once.
    pub more: bool,
}

pub struct RealtimeUpdatesApi {
    pub services: Arc<Services>,
}

fn invalid(detail: String) -> ApiError {
    ApiError::new(ProblemKind::InvalidParameter, detail)
}

#[OpenApi(tag = "ApiTags::Realtime")]
impl RealtimeUpdatesApi {
    /// A topic's live updates after a position
    ///
    /// The updates published on NATS for `topic`, kept for `REALTIME_RETENTION_MS` (a day by
    /// default): those above `after`, oldest first. Start from the `position` of the REST
    /// read the topic mirrors (or the last update received) and continue with `next_after`
    /// while `more`. `410 realtime-history-gone` when updates above `after` may have been
    /// pruned: load the snapshot again. Who may ask: as for the REST read (a user's own
    /// notifications; `class.read_dashboard`, `class.read_interventions`,
    /// `class.handle_safety_concerns` on the class).
    #[oai(
        path = "/realtime/updates",
        method = "get",
        operation_id = "realtimeUpdates"
    )]
    async fn updates(
        &self,
        caller: Data<&Caller>,
        /// `user.<id>.notifications`, `class.<id>.dashboard`, `class.<id>.interventions` or
        /// `class.<id>.safety_concerns`.
        topic: Query<String>,
        /// A log position (at least 0): the updates above it.
        after: Query<i64>,
        /// 1 to 500 (default 100).
        limit: Query<Option<i64>>,
    ) -> Result<Json<UpdatePage>, ApiError> {
        let principal = caller.user()?;
        let topic = Topic::parse(&topic.0).map_err(|e| invalid(format!("topic: {e}")))?;
        let after = after.0;
        if after < 0 {
            return Err(invalid("after: at least 0".to_owned()));
        }
        let limit = limit.0.unwrap_or(DEFAULT_LIMIT);
        if !(1..=MAX_LIMIT).contains(&limit) {
            return Err(invalid(format!("limit: between 1 and {MAX_LIMIT}")));
        }
        authorize_topic(&self.services, principal, &topic, Facts::Cached).await?;
        let pool = &self.services.pool;
        let mut rows = realtime::updates_after(pool, &topic, after, limit + 1).await?;
        // Read after the rows: a prune that removed some of them has moved it already.
        let pruned_below = realtime::pruned_below(pool, topic.source()).await?;
        if after < pruned_below {
            return Err(ApiError::new(
                ProblemKind::RealtimeHistoryGone,
                format!("updates up to position {pruned_below} are no longer kept"),
            ));
        }
        let more = rows.len() as i64 > limit;
        rows.truncate(limit as usize);
        let next_after = rows.last().map_or(after, |r| r.position);
        let items = rows
            .into_iter()
            .map(|StoredUpdate { position, body }| {
                RealtimeUpdateDto::parse(&topic, body).map_err(|error| {
                    ApiError::internal(&format!("update {topic} at {position}: {error}"))
                })
            })
            .collect::<Result<_, _>>()?;
        Ok(Json(UpdatePage {
            topic: topic.to_string(),
            items,
            next_after,
            more,
        }))
    }
}

impl Example for DashboardUpdateDto {
    fn example() -> Self {
        let concern = ConcernDto::example();
        Self {
            position: 48_252,
            class_id: concern.class_id,
            dashboard: DashboardCountersDto {
                open_safety_concerns: 1,
                ..DashboardCountersDto::example()
            },
            events: vec![DashboardEventDto {
                position: 48_252,
                event_type: "safety.concern_detected".into(),
                learning_session_id: None,
                student_id: None,
                summary: projections::dashboards::safety_concern_summary("recorded"),
                recorded_at: concern.opened_at,
            }],
        }
    }
}

impl Example for NotificationUpdateDto {
    fn example() -> Self {
        Self {
            position: 48_260,
            change: NotificationChangeDto::Created,
            notification: NotificationDto::example(),
            unread_count: 4,
        }
    }
}

impl Example for InterventionUpdateDto {
    fn example() -> Self {
        Self {
            position: 48_300,
            class_id: ConcernDto::example().class_id,
            intervention: InterventionDto::example(),
        }
    }
}

impl Example for SafetyConcernUpdateDto {
    fn example() -> Self {
        let concern = ConcernDto::example();
        Self {
            position: 48_270,
            class_id: concern.class_id,
            concern,
        }
    }
}

impl Example for UpdatePage {
    fn example() -> Self {
        let update = DashboardUpdateDto::example();
        Self {
            topic: Topic::ClassDashboard(update.class_id).to_string(),
            next_after: update.position,
            items: vec![RealtimeUpdateDto::Dashboard(update)],
            more: false,
        }
    }
}

#[cfg(test)]
mod tests {
    //! The messages the projections write (and the publisher sends) are, field for field and
    //! character for character, what this document describes and what the REST reads hold.

    use chrono::{DateTime, Utc};
    use poem_openapi::types::ToJSON;
    use projections::dashboards::{DashboardCounters, RecentEvent, StrugglingStudent};
    use projections::notifications::NotificationRow;
    use projections::realtime::{
        DashboardUpdate, InterventionUpdate, NotificationChange, NotificationUpdate,
        SafetyConcernUpdate,
    };
    use projections::workflows::{InterventionRow, SafetyConcernRow};

    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    const A: Uuid = Uuid::from_u128(1);
    const B: Uuid = Uuid::from_u128(2);
    const C: Uuid = Uuid::from_u128(3);

    /// `body` (as the projection writes it) is read back as `topic`'s update, whose document
    /// form is the same JSON; returns that update.
    fn documented(topic: Topic, body: &impl serde::Serialize) -> RealtimeUpdateDto {
        let written = serde_json::to_value(body).unwrap();
        let parsed = RealtimeUpdateDto::parse(&topic, written.clone()).unwrap();
        assert_eq!(parsed.to_json().unwrap(), written, "{topic}");
        parsed
    }

    #[test]
    fn a_dashboard_update_holds_the_rest_dashboard_s_counters_and_event() {
        let counters = DashboardCounters {
            active_sessions: 3,
            misbehavior_today: [1, 0, 2, 0],
            misbehavior_total: [4, 1, 2, 1],
            struggling_students: vec![StrugglingStudent {
                student_id: A,
                learning_session_id: B,
                topic: "fractions".into(),
                since: at("2026-12-07T09:00:00.123456Z"),
            }],
            open_safety_concerns: 1,
            assessments_awaiting_review: 2,
            submissions_awaiting_grade: 1,
        };
        let event = RecentEvent {
            position: 99,
            event_type: "learning.misbehavior_detected".into(),
            learning_session_id: Some(B),
            student_id: None,
            summary: "Misbehavior (high): spam".into(),
            recorded_at: at("2026-12-07T09:01:00Z"),
        };
        let update = DashboardUpdate {
            position: 99,
            class_id: C,
            dashboard: counters.clone().into(),
            events: vec![event.clone().into()],
        };
        let RealtimeUpdateDto::Dashboard(parsed) = documented(Topic::ClassDashboard(C), &update)
        else {
            panic!("a dashboard update");
        };
        // The same rows make the same JSON in the REST read.
        let rest = DashboardCountersDto::from(counters).to_json().unwrap();
        assert_eq!(rest, parsed.dashboard.to_json().unwrap());
        assert_eq!(
            DashboardEventDto::from(event).to_json().unwrap(),
            serde_json::to_value(&update.events[0]).unwrap()
        );
        assert!(rest["misbehavior"]["today"]["high"] == 2);
    }

    #[test]
    fn a_notification_update_holds_an_item_of_the_rest_list() {
        for (read_at, change) in [
            (None, NotificationChange::Created),
            (Some(at("2026-12-07T10:00:00.5Z")), NotificationChange::Read),
        ] {
            let row = NotificationRow {
                id: A,
                recipient_id: B,
                kind: "struggle".into(),
                title: "Title".into(),
                body: "Body".into(),
                class_id: C,
                learning_session_id: Some(B),
                assessment_id: None,
                student_id: Some(A),
                subject: serde_json::json!({}),
                position: 7,
                created_at: at("2026-12-07T09:00:00Z"),
                read_at,
            };
            let update = NotificationUpdate {
                position: 8,
                change,
                notification: row.clone().into(),
                unread_count: 2,
            };
            let RealtimeUpdateDto::Notification(parsed) =
                documented(Topic::UserNotifications(B), &update)
            else {
                panic!("a notification update");
            };
            assert_eq!(
                parsed.notification.to_json(),
                NotificationDto::from(row).to_json()
            );
        }
    }

    #[test]
    fn workflow_updates_hold_items_of_the_rest_lists() {
        let intervention = InterventionRow {
            id: A,
            class_id: C,
            learning_session_id: B,
            student_id: A,
            topic: "fractions".into(),
            step: "ended".into(),
            detections: 2,
            teachers_notified: Some(1),
            outcome: Some("self_recovered".into()),
            started_at: at("2026-12-07T09:00:00Z"),
            ended_at: Some(at("2026-12-07T09:05:00.000001Z")),
            started_position: 5,
        };
        let update = InterventionUpdate {
            position: 9,
            class_id: C,
            intervention: intervention.clone().into(),
        };
        let RealtimeUpdateDto::Intervention(parsed) =
            documented(Topic::ClassInterventions(C), &update)
        else {
            panic!("an intervention update");
        };
        assert_eq!(
            parsed.intervention.to_json(),
            InterventionDto::from(intervention).to_json()
        );

        let concern = SafetyConcernRow {
            id: A,
            class_id: C,
            group_id: B,
            learning_session_id: B,
            student_id: A,
            concern_type: "distress".into(),
            urgency: "immediate".into(),
            status: "acknowledged".into(),
            level: Some(0),
            session_paused: true,
            acknowledged_by: Some(B),
            acknowledged_at: Some(at("2026-12-07T09:02:00Z")),
            resolved_by: None,
            resolved_at: None,
            outcome: None,
            opened_at: at("2026-12-07T09:00:00Z"),
            opened_position: 4,
        };
        let update = SafetyConcernUpdate {
            position: 10,
            class_id: C,
            concern: concern.clone().into(),
        };
        let RealtimeUpdateDto::SafetyConcern(parsed) =
            documented(Topic::ClassSafetyConcerns(C), &update)
        else {
            panic!("a safety concern update");
        };
        assert_eq!(
            parsed.concern.to_json(),
            ConcernDto::from(concern).to_json()
        );
    }

    #[test]
    fn a_body_of_another_kind_is_not_read_as_the_topic_s() {
        let update = InterventionUpdate {
            position: 9,
            class_id: C,
            intervention: InterventionRow {
                id: A,
                class_id: C,
                learning_session_id: B,
                student_id: A,
                topic: "fractions".into(),
                step: "waiting".into(),
                detections: 1,
                teachers_notified: None,
                outcome: None,
                started_at: at("2026-12-07T09:00:00Z"),
                ended_at: None,
                started_position: 5,
            }
            .into(),
        };
        let body = serde_json::to_value(&update).unwrap();
        assert!(RealtimeUpdateDto::parse(&Topic::ClassDashboard(C), body).is_err());
    }
}
