//! Assessments with audit traces: recorded by the tutoring service for a learning session,
//! reviewed by the class's teachers (and group admins above the class). Every answer is
//! checked against the `assessment.recorded` event of the log, not against the read model it
//! is read from: `trace.verified` says whether what it shows is what was recorded.

use std::sync::Arc;

use std::collections::HashMap;

use application::assessments::{content_hash, AssessedSession, NewAssessment};
use chrono::{DateTime, Utc};
use domain::assessment::{Assessment, AssessmentError, AssessmentEvent, CriterionScore};
use domain::Aggregate as _;
use poem::web::Data;
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object, OpenApi};
use projections::assessments::{self as read, AssessmentRow};
use projections::log::{self, LoggedEvent};
use uuid::Uuid;

use super::tags::ApiTags;
use super::text::Text;
use crate::authz::{Target, Who};
use crate::caller::{command_context, Caller, RequestId};
use crate::problem::{command_error, ApiError, ProblemKind};
use crate::state::Services;

#[derive(Debug, Object)]
#[oai(rename = "CriterionScore")]
pub struct ScoreDto {
    pub criterion: String,
    pub score: f64,
    pub max: f64,
}

#[derive(Debug, Object)]
#[oai(rename = "AssessmentTrace")]
pub struct TraceDto {
    pub model: String,
    pub prompt_hash: String,
    pub input_snapshot: serde_json::Value,
    pub raw_response: String,
    pub parsed_result: serde_json::Value,
    /// Hex SHA-256 of the canonical input snapshot and raw response, computed by the server
    /// when the assessment was recorded.
    pub content_hash: String,
    /// The same hash computed now from the trace shown here.
    pub computed_hash: String,
    /// Whether this answer shows what the log recorded: every field that the recording set
    /// (the ids, `scores`, `confidence`, `recorded_at` and the whole trace, `content_hash`
    /// included) equals the payload of the assessment's `assessment.recorded` event in the
    /// event log, and `computed_hash` equals `content_hash`. `false` means that the read model
    /// the answer comes from, or the event itself, was altered. The review fields come from
    /// later events and are not covered.
    pub verified: bool,
}

#[derive(Debug, Object)]
#[oai(rename = "Assessment", example)]
pub struct AssessmentDto {
    pub id: Uuid,
    pub learning_session_id: Uuid,
    pub class_id: Uuid,
    pub student_id: Uuid,
    #[oai(nullable)]
    pub assignment_id: Option<Uuid>,
    pub scores: Vec<ScoreDto>,
    pub confidence: f64,
    pub recorded_at: DateTime<Utc>,
    #[oai(nullable)]
    pub reviewed_by: Option<Uuid>,
    #[oai(nullable)]
    pub reviewed_at: Option<DateTime<Utc>>,
    #[oai(nullable)]
    pub review_notes: Option<String>,
    pub trace: TraceDto,
}

/// The type of the event that records an assessment: the first of its stream.
const RECORDED: &str = "assessment.recorded";

/// The fields of an answer built from `row` that differ from what the log's
/// `assessment.recorded` event `recorded` holds (none: the answer shows what was recorded).
/// Compared: the ids, the scores, the confidence, `recorded_at` and the whole trace with its
/// content hash, i.e. everything the answer shows that the recording set. The review fields
/// come from later events and are not compared. A missing or unreadable recording differs
/// in everything.
fn departures_from_log(row: &AssessmentRow, recorded: Option<&LoggedEvent>) -> Vec<&'static str> {
    let payload = recorded.and_then(|event| {
        match serde_json::from_value::<AssessmentEvent>(event.payload.clone()) {
            Ok(payload) => Some((event, payload)),
            Err(error) => {
                tracing::warn!(assessment = %row.id, %error, "unreadable assessment.recorded event");
                None
            }
        }
    });
    let Some((
        event,
        AssessmentEvent::Recorded {
            learning_session_id,
            class_id,
            student_id,
            assignment_id,
            scores,
            confidence,
            trace,
            ..
        },
    )) = payload
    else {
        return vec![RECORDED];
    };
    let shown_scores: Option<Vec<CriterionScore>> = serde_json::from_value(row.scores.clone()).ok();
    [
        (
            "learning_session_id",
            learning_session_id == row.learning_session_id,
        ),
        ("class_id", class_id == row.class_id),
        ("student_id", student_id == row.student_id),
        ("assignment_id", assignment_id == row.assignment_id),
        ("scores", shown_scores.as_ref() == Some(&scores)),
        (
            "confidence",
            confidence.to_bits() == row.confidence.to_bits(),
        ),
        ("recorded_at", event.recorded_at == row.recorded_at),
        ("trace.model", trace.model == row.model),
        ("trace.prompt_hash", trace.prompt_hash == row.prompt_hash),
        (
            "trace.input_snapshot",
            trace.input_snapshot == row.input_snapshot,
        ),
        ("trace.raw_response", trace.raw_response == row.raw_response),
        (
            "trace.parsed_result",
            trace.parsed_result == row.parsed_result,
        ),
        ("trace.content_hash", trace.content_hash == row.content_hash),
    ]
    .into_iter()
    .filter_map(|(field, same)| (!same).then_some(field))
    .collect()
}

impl AssessmentDto {
    /// The answer for `row`, checked against `recorded`, the `assessment.recorded` event of
    /// the assessment's stream in the log (`None`: the log has none).
    fn checked(row: AssessmentRow, recorded: Option<&LoggedEvent>) -> Result<Self, ApiError> {
        let computed_hash = content_hash(&row.input_snapshot, &row.raw_response);
        let mut departures = departures_from_log(&row, recorded);
        if computed_hash != row.content_hash {
            departures.push("trace.computed_hash");
        }
        let verified = departures.is_empty();
        if !verified {
            tracing::warn!(
                assessment = %row.id,
                fields = ?departures,
                "assessment differs from its assessment.recorded event"
            );
        }
        let scores: Vec<CriterionScore> =
            serde_json::from_value(row.scores).map_err(|e| ApiError::internal(&e))?;
        Ok(Self {
            id: row.id,
            learning_session_id: row.learning_session_id,
            class_id: row.class_id,
            student_id: row.student_id,
            assignment_id: row.assignment_id,
            scores: scores
                .into_iter()
                .map(|s| ScoreDto {
                    criterion: s.criterion,
                    score: s.score,
                    max: s.max,
                })
                .collect(),
            confidence: row.confidence,
            recorded_at: row.recorded_at,
            reviewed_by: row.reviewed_by,
            reviewed_at: row.reviewed_at,
            review_notes: row.review_notes,
            trace: TraceDto {
                model: row.model,
                prompt_hash: row.prompt_hash,
                input_snapshot: row.input_snapshot,
                raw_response: row.raw_response,
                parsed_result: row.parsed_result,
                content_hash: row.content_hash,
                computed_hash,
                verified,
            },
        })
    }
}

/// The answers for `rows`, each checked against its `assessment.recorded` event, read from
/// the log (one indexed look-up per assessment).
async fn checked_against_log(
    pool: &sqlx::PgPool,
    rows: Vec<AssessmentRow>,
) -> Result<Vec<AssessmentDto>, ApiError> {
    let ids: Vec<String> = rows.iter().map(|row| row.id.to_string()).collect();
    let recorded = log::events_of_streams(pool, Assessment::TYPE, &ids, RECORDED).await?;
    let mut by_stream: HashMap<String, LoggedEvent> = HashMap::with_capacity(recorded.len());
    for event in recorded {
        // One recording per stream; should there be more, the first one counts.
        by_stream.entry(event.aggregate_id.clone()).or_insert(event);
    }
    rows.into_iter()
        .map(|row| {
            let event = by_stream.get(&row.id.to_string());
            AssessmentDto::checked(row, event)
        })
        .collect()
}

/// The answer for `row`, checked against the `assessment.recorded` event of its stream.
async fn checked_one(pool: &sqlx::PgPool, row: AssessmentRow) -> Result<AssessmentDto, ApiError> {
    let stream = log::read_stream(pool, Assessment::TYPE, &row.id.to_string()).await?;
    let recorded = stream.iter().find(|event| event.event_type == RECORDED);
    AssessmentDto::checked(row, recorded)
}

#[derive(Debug, Object)]
#[oai(deny_unknown_fields, rename = "CriterionScoreInput", example)]
pub struct ScoreInput {
    pub criterion: Text,
    pub score: f64,
    /// Greater than 0; `score` lies between 0 and `max`.
    pub max: f64,
}

#[derive(Debug, Object)]
#[oai(deny_unknown_fields, rename = "AssessmentTraceInput", example)]
pub struct TraceInput {
    pub model: Text,
    pub prompt_hash: Text,
    /// What the model was given (any JSON).
    pub input_snapshot: serde_json::Value,
    /// The model's response, verbatim.
    pub raw_response: Text,
    /// What the service parsed out of it (any JSON).
    pub parsed_result: serde_json::Value,
}

#[derive(Debug, Object)]
#[oai(deny_unknown_fields, example)]
pub struct RecordAssessment {
    #[oai(nullable)]
    pub assignment_id: Option<Uuid>,
    /// 1 to 50 criteria.
    pub scores: Vec<ScoreInput>,
    /// Between 0 and 1; below 0.8 the assessment waits for a teacher's review.
    pub confidence: f64,
    pub trace: TraceInput,
}

#[derive(Debug, Object)]
#[oai(deny_unknown_fields, example)]
pub struct ReviewAssessment {
    #[oai(nullable)]
    pub notes: Option<Text>,
}

#[derive(Debug, Object)]
#[oai(rename = "AssessmentList", example)]
pub struct AssessmentList {
    pub items: Vec<AssessmentDto>,
}

#[derive(ApiResponse)]
pub enum Recorded {
    #[oai(status = 201)]
    Created(Json<AssessmentDto>, #[oai(header = "Location")] String),
}

fn rejected(error: AssessmentError) -> ApiError {
    match error {
        AssessmentError::NotFound => ApiError::not_found("resource"),
        AssessmentError::AlreadyRecorded => ApiError::kind(ProblemKind::Conflict),
        AssessmentError::AlreadyReviewed => ApiError::new(
            ProblemKind::Conflict,
            "the assessment has already been reviewed".to_owned(),
        ),
        AssessmentError::InvalidScores
        | AssessmentError::InvalidConfidence
        | AssessmentError::TextSize(_) => {
            ApiError::new(ProblemKind::InvalidRequest, error.to_string())
        }
    }
}

pub struct AssessmentsApi {
    pub services: Arc<Services>,
}

impl AssessmentsApi {
    /// The assessment if the caller may read it (404 otherwise, whether or not it exists),
    /// and whether they may also `action` it.
    async fn readable(
        &self,
        caller: &Caller,
        id: Uuid,
        position: Option<i64>,
    ) -> Result<(AssessmentRow, Target), ApiError> {
        self.services.caught_up(read::NAME, position).await?;
        let Who::User(principal) = caller.who()? else {
            return Err(ApiError::not_found("resource"));
        };
        let row = read::get(&self.services.pool, id)
            .await?
            .ok_or_else(|| ApiError::not_found("resource"))?;
        let target = self
            .services
            .authz
            .class_target(principal, row.class_id)
            .await?
            .ok_or_else(|| ApiError::not_found("resource"))?;
        if !self
            .services
            .authz
            .policy
            .decide(principal, "class.read_assessments", &target)
            .0
        {
            return Err(ApiError::not_found("resource"));
        }
        Ok((row, target))
    }
}

#[OpenApi(tag = "ApiTags::Assessments")]
impl AssessmentsApi {
    /// Record an assessment with its trace
    ///
    /// For the tutoring service (service accounts of the session's groups) and system admins.
    /// The server computes the trace's content hash.
    #[oai(
        path = "/learning-sessions/:id/assessments",
        method = "post",
        operation_id = "recordAssessment"
    )]
    async fn record(
        &self,
        caller: Data<&Caller>,
        request_id: Data<&RequestId>,
        id: Path<Uuid>,
        body: Json<RecordAssessment>,
    ) -> Result<Recorded, ApiError> {
        let (_, session) = self
            .services
            .authz
            .learning_session_as(caller.who()?, id.0, "learning_session.record_assessment")
            .await?;
        let body = body.0;
        // An assessment names a real assignment of the session's class, or none.
        if let Some(assignment_id) = body.assignment_id {
            let facts = self.services.submissions.assignment(assignment_id).await?;
            if facts.is_none_or(|a| a.class_id != session.class_id) {
                return Err(ApiError::new(
                    ProblemKind::AssignmentNotFound,
                    "assignment_id: no assignment of the session's class has this id".to_owned(),
                ));
            }
        }
        let new = NewAssessment {
            assignment_id: body.assignment_id,
            scores: body
                .scores
                .into_iter()
                .map(|s| CriterionScore {
                    criterion: s.criterion.0,
                    score: s.score,
                    max: s.max,
                })
                .collect(),
            confidence: body.confidence,
            model: body.trace.model.0,
            prompt_hash: body.trace.prompt_hash.0,
            input_snapshot: body.trace.input_snapshot,
            raw_response: body.trace.raw_response.0,
            parsed_result: body.trace.parsed_result,
        };
        let (assessment_id, appended) = self
            .services
            .assessments
            .record(
                &command_context(&caller, &request_id),
                AssessedSession {
                    id: session.id,
                    class_id: session.class_id,
                    group_id: session.group_id,
                    student_id: session.student_id,
                },
                new,
            )
            .await
            .map_err(|e| command_error(e, rejected))?;
        self.services
            .caught_up(read::NAME, appended.position)
            .await?;
        let row = read::get(&self.services.pool, assessment_id)
            .await?
            .ok_or_else(|| ApiError::not_found("resource"))?;
        Ok(Recorded::Created(
            Json(checked_one(&self.services.pool, row).await?),
            format!("/assessments/{assessment_id}"),
        ))
    }

    /// Get an assessment with its trace
    ///
    /// `trace.verified` tells whether what the answer shows (the ids, scores, confidence,
    /// time and the whole trace with its content hash) is what the assessment's
    /// `assessment.recorded` event in the event log holds, and whether the trace still
    /// hashes to the recorded content hash.
    #[oai(
        path = "/assessments/:id",
        method = "get",
        operation_id = "getAssessment"
    )]
    async fn get(
        &self,
        caller: Data<&Caller>,
        id: Path<Uuid>,
    ) -> Result<Json<AssessmentDto>, ApiError> {
        let (row, _) = self.readable(&caller, id.0, None).await?;
        Ok(Json(checked_one(&self.services.pool, row).await?))
    }

    /// Review an assessment
    ///
    /// For the class's teachers and group admins above the class; once per assessment.
    #[oai(
        path = "/assessments/:id/review",
        method = "post",
        operation_id = "reviewAssessment"
    )]
    async fn review(
        &self,
        caller: Data<&Caller>,
        request_id: Data<&RequestId>,
        id: Path<Uuid>,
        body: Json<ReviewAssessment>,
    ) -> Result<Json<AssessmentDto>, ApiError> {
        let principal = caller.user()?;
        let (_, target) = self.readable(&caller, id.0, None).await?;
        self.services
            .authz
            .require(principal, "class.review_assessments", &target)?;
        let appended = self
            .services
            .assessments
            .review(
                &command_context(&caller, &request_id),
                id.0,
                principal.user_id,
                body.0.notes.map(|n| n.0),
            )
            .await
            .map_err(|e| command_error(e, rejected))?;
        let (row, _) = self.readable(&caller, id.0, appended.position).await?;
        Ok(Json(checked_one(&self.services.pool, row).await?))
    }

    /// Assessments waiting for review
    ///
    /// Unreviewed assessments of the class with a confidence below 0.8, oldest first;
    /// `assignment_id` keeps those recorded for one assignment.
    #[oai(
        path = "/classes/:id/assessments/review-queue",
        method = "get",
        operation_id = "assessmentReviewQueue"
    )]
    async fn review_queue(
        &self,
        caller: Data<&Caller>,
        id: Path<Uuid>,
        /// Only the assessments recorded for this assignment.
        assignment_id: Query<Option<Uuid>>,
    ) -> Result<Json<AssessmentList>, ApiError> {
        self.services
            .authz
            .class(caller.user()?, id.0, "class.read_assessments")
            .await?;
        let rows = read::review_queue(&self.services.pool, id.0, assignment_id.0).await?;
        Ok(Json(AssessmentList {
            items: checked_against_log(&self.services.pool, rows).await?,
        }))
    }
}
