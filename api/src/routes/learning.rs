//! `/learning-sessions`: students working with tools, watched over by teachers, counselors
//! and the tutoring service.

use std::sync::Arc;

use application::learning::without_concerns::{self, Reader};
use application::learning::StartError;
use chrono::{DateTime, Utc};
use domain::learning::{Detection, LearningSessionError, MessageRole, Severity, Status, Urgency};
use poem::web::Data;
use poem_openapi::param::Path;
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Enum, Object, OpenApi, Union};
use projections::learning::{self as read, LearningSessionRow};
use uuid::Uuid;

use super::closed::{LearningSessionStatus, OneOf};
use super::tags::ApiTags;
use super::text::Text;
use crate::authz::{LearningSessionFacts, Who};
use crate::caller::{command_context, Caller, RequestId};
use crate::problem::{command_error, ApiError, ProblemKind};
use crate::state::Services;

#[derive(Debug, Object)]
#[oai(rename = "LearningSession", example)]
pub struct LearningSessionDto {
    pub id: Uuid,
    pub student_id: Uuid,
    pub class_id: Uuid,
    pub tool_id: Uuid,
    /// `active`, `paused` or `completed`.
    pub status: OneOf<LearningSessionStatus>,
    pub message_count: i32,
    pub detection_count: i32,
    #[oai(nullable)]
    pub summary: Option<String>,
    #[oai(nullable)]
    pub topics_covered: Option<Vec<String>>,
    pub started_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    #[oai(nullable)]
    pub completed_at: Option<DateTime<Utc>>,
    /// Messages, detections, pauses and resumptions in order (only on single reads).
    #[oai(nullable)]
    pub entries: Option<Vec<EntryDto>>,
}

#[derive(Debug, Object)]
#[oai(rename = "LearningSessionEntry")]
pub struct EntryDto {
    pub sequence: i64,
    /// The event type, e.g. `session.message_posted`, `behavior.misbehavior_detected`.
    pub kind: String,
    pub data: serde_json::Value,
    pub recorded_at: DateTime<Utc>,
}

impl From<LearningSessionRow> for LearningSessionDto {
    fn from(row: LearningSessionRow) -> Self {
        Self {
            id: row.id,
            student_id: row.student_id,
            class_id: row.class_id,
            tool_id: row.tool_id,
            status: row.status.into(),
            message_count: row.message_count,
            detection_count: row.detection_count,
            summary: row.summary,
            // Written as a JSON array of strings (`projections::learning`).
            topics_covered: row
                .topics_covered
                .and_then(|topics| serde_json::from_value(topics).ok()),
            started_at: row.started_at,
            updated_at: row.updated_at,
            completed_at: row.completed_at,
            entries: None,
        }
    }
}

#[derive(Debug, Object)]
#[oai(rename = "LearningSessionList", example)]
pub struct LearningSessionList {
    pub items: Vec<LearningSessionDto>,
}

#[derive(Debug, Object)]
#[oai(rename = "StartSession", deny_unknown_fields, example)]
pub struct StartLearningSession {
    pub class_id: Uuid,
    pub tool_id: Uuid,
}

#[derive(Debug, Clone, Copy, Enum)]
#[oai(rename_all = "snake_case")]
pub enum RoleDto {
    Student,
    Assistant,
}

#[derive(Debug, Object)]
#[oai(deny_unknown_fields, example)]
pub struct PostMessage {
    pub role: RoleDto,
    /// At most 8,000 characters.
    pub content: Text,
}

#[derive(Debug, Clone, Copy, Enum)]
#[oai(rename_all = "snake_case")]
pub enum SeverityDto {
    Low,
    Medium,
    High,
    Critical,
}

pub use super::closed::UrgencyDto;

// No deny_unknown_fields: the union's `type` discriminator is part of the object.
#[derive(Debug, Object)]
#[oai(example)]
pub struct Misbehavior {
    pub category: Text,
    pub severity: SeverityDto,
    pub evidence: Text,
}

// No deny_unknown_fields: the union's `type` discriminator is part of the object.
#[derive(Debug, Object)]
#[oai(example)]
pub struct Struggle {
    pub topic: Text,
    pub indicators: Vec<String>,
    pub duration_seconds: u32,
}

// No deny_unknown_fields: the union's `type` discriminator is part of the object.
#[derive(Debug, Object)]
#[oai(example)]
pub struct SafetyConcern {
    pub concern_type: Text,
    pub urgency: UrgencyDto,
    #[oai(nullable)]
    pub evidence: Option<Text>,
}

/// The student got past a topic they struggled with: a running struggle intervention on the
/// topic ends as `self_recovered` (without one, it is recorded and changes nothing).
// No deny_unknown_fields: the union's `type` discriminator is part of the object.
#[derive(Debug, Object)]
#[oai(example)]
pub struct Recovery {
    pub topic: Text,
}

/// A detection, by `type`.
#[derive(Debug, Union)]
#[oai(discriminator_name = "type")]
pub enum DetectionBody {
    #[oai(mapping = "misbehavior")]
    Misbehavior(Misbehavior),
    #[oai(mapping = "struggle")]
    Struggle(Struggle),
    #[oai(mapping = "safety_concern")]
    SafetyConcern(SafetyConcern),
    #[oai(mapping = "recovery")]
    Recovery(Recovery),
}

#[derive(Debug, Object)]
#[oai(deny_unknown_fields, rename = "PauseOrResume", example)]
pub struct Reason {
    pub reason: Text,
}

#[derive(Debug, Object)]
#[oai(deny_unknown_fields, rename = "CompleteLearningSession", example)]
pub struct Complete {
    pub summary: Text,
    pub topics_covered: Vec<String>,
}

#[derive(ApiResponse)]
pub enum Started {
    #[oai(status = 201)]
    Created(Json<LearningSessionDto>, #[oai(header = "Location")] String),
}

fn rejected(error: LearningSessionError) -> ApiError {
    match error {
        LearningSessionError::NotFound => ApiError::not_found("resource"),
        LearningSessionError::AlreadyStarted => ApiError::kind(ProblemKind::Conflict),
        LearningSessionError::Completed => ApiError::kind(ProblemKind::SessionCompleted),
        LearningSessionError::Paused => ApiError::kind(ProblemKind::SessionPaused),
        LearningSessionError::NotPaused => ApiError::new(
            ProblemKind::Conflict,
            "the learning session is not paused".to_owned(),
        ),
        LearningSessionError::MessageSize | LearningSessionError::TextSize => {
            ApiError::new(ProblemKind::InvalidRequest, error.to_string())
        }
    }
}

/// How much of a session a caller is shown, as the policy decides. Its safety concerns (the
/// `safety.concern_detected` entries, counted in `detection_count`, and the reason of the
/// safety workflow's pause) go only to those it lets read the class's safety concerns
/// (`class.read_safety_concerns`, the decision `GET /safety-concerns?class_id=` makes): of
/// those who may read a session, the counselors above the class and system admins. Everyone
/// else who may read the session is shown it without them
/// (`application::learning::without_concerns`): its teachers and the tutoring service, and
/// always its own student, whatever else they are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Viewer {
    /// All of the session.
    Whole,
    /// The session without its safety concerns, as this reader is shown it.
    WithoutConcerns(Reader),
}

impl Viewer {
    const THE_STUDENT: Self = Self::WithoutConcerns(Reader::TheStudent);
}

/// Whether `who` is the student of a session of `student_id`.
fn is_the_student(who: Who<'_>, student_id: Uuid) -> bool {
    matches!(who, Who::User(p) if p.user_id == student_id)
}

/// Which way [`LearningApi::pause_or_resume`] goes.
#[derive(Debug, Clone, Copy)]
enum Pausing {
    Pause,
    Resume,
}

pub struct LearningApi {
    pub services: Arc<Services>,
}

impl LearningApi {
    /// How `who` is shown the sessions of `class_id` that are not their own: whole if the
    /// policy lets them read the class's safety concerns, without them otherwise.
    async fn viewer_in_class(&self, who: Who<'_>, class_id: Uuid) -> Result<Viewer, ApiError> {
        let whole = self
            .services
            .authz
            .allows_on_class(who, class_id, "class.read_safety_concerns")
            .await?;
        Ok(if whole {
            Viewer::Whole
        } else {
            Viewer::WithoutConcerns(Reader::Watcher)
        })
    }

    /// How `who`, who may read the session, is shown it.
    async fn viewer(
        &self,
        who: Who<'_>,
        session: &LearningSessionFacts,
    ) -> Result<Viewer, ApiError> {
        // Its own student, whatever else they are, without asking the policy (posting a
        // message answers with the session).
        if is_the_student(who, session.student_id) {
            return Ok(Viewer::THE_STUDENT);
        }
        self.viewer_in_class(who, session.class_id).await
    }

    /// The session once the read model has passed `position`. Writes answer without the
    /// history (`entries`), which only `GET` returns: a busy session's history is long, and
    /// the tutoring service posting a detection does not need it back.
    async fn read_after_write(
        &self,
        id: Uuid,
        position: Option<i64>,
        viewer: Viewer,
    ) -> Result<Json<LearningSessionDto>, ApiError> {
        self.services
            .caught_up(read::NAME, position)
            .await
            .map_err(|e| e.located(format!("/learning-sessions/{id}")))?;
        let row = read::get(&self.services.pool, id)
            .await?
            .ok_or_else(|| ApiError::not_found("resource"))?;
        let mut items = self.shown_to(vec![(row, viewer)]).await?;
        Ok(Json(items.remove(0)))
    }

    /// Sessions, each as its [`Viewer`] is shown it, without their entries.
    async fn shown_to(
        &self,
        rows: Vec<(LearningSessionRow, Viewer)>,
    ) -> Result<Vec<LearningSessionDto>, ApiError> {
        let hiding: Vec<Uuid> = rows
            .iter()
            .filter(|(_, viewer)| *viewer != Viewer::Whole)
            .map(|(row, _)| row.id)
            .collect();
        let concerns = if hiding.is_empty() {
            Default::default()
        } else {
            read::safety_concern_counts(&self.services.pool, &hiding).await?
        };
        Ok(rows
            .into_iter()
            .map(|(row, viewer)| {
                let hidden = match viewer {
                    Viewer::Whole => 0,
                    Viewer::WithoutConcerns(_) => concerns.get(&row.id).copied().unwrap_or(0),
                };
                let mut dto = LearningSessionDto::from(row);
                dto.detection_count =
                    without_concerns::detection_count(dto.detection_count, hidden);
                dto
            })
            .collect())
    }

    /// The session with its history.
    async fn read_with_entries(
        &self,
        id: Uuid,
        viewer: Viewer,
    ) -> Result<Json<LearningSessionDto>, ApiError> {
        // Detections answer without waiting for the projection (ADR 0007): a read waits
        // until it has everything of the session's stream.
        self.services
            .caught_up_with_stream(
                read::NAME,
                <domain::learning::LearningSession as domain::Aggregate>::TYPE,
                id,
            )
            .await?;
        let Json(mut dto) = self.read_after_write(id, None, viewer).await?;
        let mut entries = read::entries(&self.services.pool, id).await?;
        if let Viewer::WithoutConcerns(reader) = viewer {
            entries = without_concerns::entries(entries, reader);
        }
        dto.entries = Some(
            entries
                .into_iter()
                .map(|e| EntryDto {
                    sequence: e.sequence,
                    kind: e.kind,
                    data: e.data,
                    recorded_at: e.recorded_at,
                })
                .collect(),
        );
        Ok(Json(dto))
    }

    /// Pausing and resuming are one rule in two directions: whoever the policy lets
    /// (`learning_session.pause` or `.resume`) stops or restarts the session with a reason,
    /// and gets the session back once the read model has it.
    async fn pause_or_resume(
        &self,
        caller: &Caller,
        request_id: &RequestId,
        id: Uuid,
        body: &Reason,
        pausing: Pausing,
    ) -> Result<Json<LearningSessionDto>, ApiError> {
        let action = match pausing {
            Pausing::Pause => "learning_session.pause",
            Pausing::Resume => "learning_session.resume",
        };
        let principal = caller.user()?;
        let (_, session) = self
            .services
            .authz
            .learning_session(principal, id, action)
            .await?;
        let viewer = self.viewer(Who::User(principal), &session).await?;
        let context = command_context(caller, request_id);
        let reason = body.reason.0.clone();
        let learning = &self.services.learning;
        let appended = match pausing {
            Pausing::Pause => learning.pause(&context, id, reason).await,
            Pausing::Resume => learning.resume(&context, id, reason).await,
        }
        .map_err(|e| command_error(e, rejected))?;
        self.read_after_write(id, appended.position, viewer).await
    }
}

#[OpenApi(tag = "ApiTags::Learning")]
impl LearningApi {
    /// Start a learning session
    ///
    /// For students of the class, with a tool offered to the class's group (or a group
    /// above it).
    #[oai(
        path = "/learning-sessions",
        method = "post",
        operation_id = "startLearningSession"
    )]
    async fn start(
        &self,
        caller: Data<&Caller>,
        request_id: Data<&RequestId>,
        body: Json<StartLearningSession>,
    ) -> Result<Started, ApiError> {
        let principal = caller.user()?;
        let target = self
            .services
            .authz
            .class(principal, body.class_id, "class.create_learning_session")
            .await?;
        let crate::authz::Target::Class { facts, .. } = &target else {
            return Err(ApiError::internal(&"class target expected"));
        };
        let (id, appended) = self
            .services
            .learning
            .start(
                &command_context(&caller, &request_id),
                principal.user_id,
                body.class_id,
                &facts.group.path,
                body.tool_id,
            )
            .await
            .map_err(|e| match e {
                StartError::ToolNotAvailable => ApiError::kind(ProblemKind::ToolNotAvailable),
                StartError::Command(e) => command_error(e, rejected),
                StartError::Store(e) => e.into(),
            })?;
        let session = self
            .read_after_write(id, appended.position, Viewer::THE_STUDENT)
            .await?;
        Ok(Started::Created(
            session,
            format!("/learning-sessions/{id}"),
        ))
    }

    /// Get a learning session, with its history
    ///
    /// The session with `entries`: its messages, detections, pauses and resumptions in order.
    /// Its safety concerns are shown only to those who may read the class's safety concerns
    /// (`class.read_safety_concerns`: counselors above the class, system admins). Everyone else
    /// (the session's student, whatever else they are; its teachers; the tutoring service) is
    /// shown no such entry, a `detection_count` without them, and a reason for the safety
    /// workflow's pause that says nothing of the concern: "paused by your school" to the
    /// student, "paused for a counselor's review" to the others.
    #[oai(
        path = "/learning-sessions/:id",
        method = "get",
        operation_id = "getLearningSession"
    )]
    async fn get(
        &self,
        caller: Data<&Caller>,
        id: Path<Uuid>,
    ) -> Result<Json<LearningSessionDto>, ApiError> {
        let who = caller.who()?;
        let (_, session) = self
            .services
            .authz
            .learning_session_as(who, id.0, "learning_session.read")
            .await?;
        let viewer = self.viewer(who, &session).await?;
        self.read_with_entries(id.0, viewer).await
    }

    /// Learning sessions of a class
    ///
    /// Every learning session of the class. Their `detection_count` counts the safety
    /// concerns only for those who may read the class's safety concerns.
    #[oai(
        path = "/classes/:id/learning-sessions",
        method = "get",
        operation_id = "classLearningSessions"
    )]
    async fn of_class(
        &self,
        caller: Data<&Caller>,
        id: Path<Uuid>,
    ) -> Result<Json<LearningSessionList>, ApiError> {
        let principal = caller.user()?;
        self.services
            .authz
            .class(principal, id.0, "class.read_learning_sessions")
            .await?;
        let who = Who::User(principal);
        let in_class = self.viewer_in_class(who, id.0).await?;
        self.services
            .caught_up_with_log(&projections::learning::LearningProjection)
            .await?;
        let rows = read::of_class(&self.services.pool, id.0).await?;
        let rows = rows
            .into_iter()
            .map(|row| {
                let viewer = if is_the_student(who, row.student_id) {
                    Viewer::THE_STUDENT
                } else {
                    in_class
                };
                (row, viewer)
            })
            .collect();
        Ok(Json(LearningSessionList {
            items: self.shown_to(rows).await?,
        }))
    }

    /// My learning sessions
    ///
    /// The signed-in user's own learning sessions.
    #[oai(
        path = "/me/learning-sessions",
        method = "get",
        operation_id = "myLearningSessions"
    )]
    async fn mine(&self, caller: Data<&Caller>) -> Result<Json<LearningSessionList>, ApiError> {
        let principal = caller.user()?;
        self.services
            .caught_up_with_log(&projections::learning::LearningProjection)
            .await?;
        let rows = read::of_student(&self.services.pool, principal.user_id).await?;
        let rows = rows
            .into_iter()
            .map(|row| (row, Viewer::THE_STUDENT))
            .collect();
        Ok(Json(LearningSessionList {
            items: self.shown_to(rows).await?,
        }))
    }

    /// Post a message
    ///
    /// Students post their own messages (`role: student`); assistant messages come from the
    /// tutoring service.
    #[oai(
        path = "/learning-sessions/:id/messages",
        method = "post",
        operation_id = "postMessage"
    )]
    async fn post_message(
        &self,
        caller: Data<&Caller>,
        request_id: Data<&RequestId>,
        id: Path<Uuid>,
        body: Json<PostMessage>,
    ) -> Result<Json<LearningSessionDto>, ApiError> {
        let who = caller.who()?;
        let (_, session) = self
            .services
            .authz
            .learning_session_as(who, id.0, "learning_session.post_message")
            .await?;
        let role = match (body.role, who) {
            (RoleDto::Student, Who::User(p)) if session.student_id == p.user_id => {
                MessageRole::Student
            }
            (RoleDto::Assistant, Who::Service(_)) => MessageRole::Assistant,
            (RoleDto::Assistant, Who::User(p)) if p.system_admin => MessageRole::Assistant,
            _ => return Err(ApiError::kind(ProblemKind::Forbidden)),
        };
        let appended = self
            .services
            .learning
            .post_message(
                &command_context(&caller, &request_id),
                id.0,
                role,
                body.content.0.clone(),
            )
            .await
            .map_err(|e| command_error(e, rejected))?;
        let viewer = self.viewer(who, &session).await?;
        self.read_after_write(id.0, appended.position, viewer).await
    }

    /// Record a detection
    ///
    /// `type`: `misbehavior` (category, severity low|medium|high|critical, evidence),
    /// `struggle` (topic, indicators, duration_seconds) or `safety_concern` (concern_type,
    /// urgency immediate|same_day|monitor, evidence).
    #[oai(
        path = "/learning-sessions/:id/detections",
        method = "post",
        operation_id = "recordDetection"
    )]
    async fn detection(
        &self,
        caller: Data<&Caller>,
        request_id: Data<&RequestId>,
        id: Path<Uuid>,
        body: Json<DetectionBody>,
    ) -> Result<Json<LearningSessionDto>, ApiError> {
        let (_, row) = self
            .services
            .authz
            .learning_session_as(caller.who()?, id.0, "learning_session.record_detection")
            .await?;
        let detection = match body.0 {
            DetectionBody::Misbehavior(m) => Detection::Misbehavior {
                category: m.category.0,
                severity: match m.severity {
                    SeverityDto::Low => Severity::Low,
                    SeverityDto::Medium => Severity::Medium,
                    SeverityDto::High => Severity::High,
                    SeverityDto::Critical => Severity::Critical,
                },
                evidence: m.evidence.0,
            },
            DetectionBody::Struggle(s) => Detection::Struggle {
                topic: s.topic.0,
                indicators: s.indicators,
                duration_seconds: s.duration_seconds,
            },
            DetectionBody::SafetyConcern(c) => Detection::SafetyConcern {
                concern_type: c.concern_type.0,
                urgency: match c.urgency {
                    UrgencyDto::Immediate => Urgency::Immediate,
                    UrgencyDto::SameDay => Urgency::SameDay,
                    UrgencyDto::Monitor => Urgency::Monitor,
                },
                evidence: c.evidence.map(|e| e.0).unwrap_or_default(),
            },
            DetectionBody::Recovery(r) => Detection::Recovery { topic: r.topic.0 },
        };
        let (appended, state) = self
            .services
            .learning
            .record_detection(&command_context(&caller, &request_id), id.0, detection)
            .await
            .map_err(|e| command_error(e, rejected))?;
        // Answered from the write side without waiting for the projection (ADR 0007): the
        // counters and the status from the session's state after this detection, the rest
        // from the session's unchanging facts. Its `detection_count` counts every detection,
        // safety concerns included, although a service account's read of the session leaves
        // them out: the write side does not count them apart, and those who record
        // detections (the tutoring service, system admins) are those who send the concerns.
        Ok(Json(LearningSessionDto {
            id: row.id,
            student_id: row.student_id,
            class_id: row.class_id,
            tool_id: row.tool_id,
            status: match state.status {
                Status::Active => "active",
                Status::Paused => "paused",
                Status::Completed => "completed",
            }
            .into(),
            message_count: state.messages as i32,
            detection_count: state.detections as i32,
            // Set only by completion, and a completed session refuses detections.
            summary: None,
            topics_covered: None,
            started_at: row.started_at,
            updated_at: appended.recorded_at.unwrap_or(row.started_at),
            completed_at: None,
            entries: None,
        }))
    }

    /// Pause a learning session
    ///
    /// Pauses an active session with a `reason`: no message can be posted until it is resumed.
    /// 409 `session-completed` for a completed session.
    #[oai(
        path = "/learning-sessions/:id/pause",
        method = "post",
        operation_id = "pauseLearningSession"
    )]
    async fn pause(
        &self,
        caller: Data<&Caller>,
        request_id: Data<&RequestId>,
        id: Path<Uuid>,
        body: Json<Reason>,
    ) -> Result<Json<LearningSessionDto>, ApiError> {
        self.pause_or_resume(&caller, &request_id, id.0, &body, Pausing::Pause)
            .await
    }

    /// Resume a paused learning session
    ///
    /// Resumes a paused session with a `reason`. 409 `session-completed` for a completed session.
    #[oai(
        path = "/learning-sessions/:id/resume",
        method = "post",
        operation_id = "resumeLearningSession"
    )]
    async fn resume(
        &self,
        caller: Data<&Caller>,
        request_id: Data<&RequestId>,
        id: Path<Uuid>,
        body: Json<Reason>,
    ) -> Result<Json<LearningSessionDto>, ApiError> {
        self.pause_or_resume(&caller, &request_id, id.0, &body, Pausing::Resume)
            .await
    }

    /// Complete a learning session
    ///
    /// Completes the session with its `summary` and `topics_covered`. A completed session
    /// takes no further change (409 `session-completed`).
    #[oai(
        path = "/learning-sessions/:id/complete",
        method = "post",
        operation_id = "completeLearningSession"
    )]
    async fn complete(
        &self,
        caller: Data<&Caller>,
        request_id: Data<&RequestId>,
        id: Path<Uuid>,
        body: Json<Complete>,
    ) -> Result<Json<LearningSessionDto>, ApiError> {
        let principal = caller.user()?;
        let (_, session) = self
            .services
            .authz
            .learning_session(principal, id.0, "learning_session.complete")
            .await?;
        let viewer = self.viewer(Who::User(principal), &session).await?;
        let appended = self
            .services
            .learning
            .complete(
                &command_context(&caller, &request_id),
                id.0,
                body.summary.0.clone(),
                body.topics_covered.clone(),
            )
            .await
            .map_err(|e| command_error(e, rejected))?;
        self.read_after_write(id.0, appended.position, viewer).await
    }
}
