//! Assignments and submissions (issue #21).
//!
//! Who may do what, all asked of the Cedar policy on the assignment's class:
//! - `class.manage_assignments` (the class's teachers, group admins above it, system admins):
//!   create, change, publish, close, archive; they also read drafts and archived ones.
//! - `class.read_assignments` (also the class's students): read published and closed,
//!   not archived, assignments. A draft is a 404 to a student, as if it did not exist.
//! - `class.create_submission` (the class's students): start and submit their own
//!   submission. Only the student it belongs to submits it.
//! - `class.view_submissions` (teachers, group admins above): every submission of the
//!   class; a student reads only their own (with `class.read_assignments`).
//! - `class.grade` (the class's teachers only: admins above the class see submissions but
//!   do not grade them; system admins may).
//!
//! A submission's AI assessments (those recorded for the same assignment and student) are
//! shown to whoever may read the class's assessments, and to the student once it is graded.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use domain::assignment::{AssignmentCommand, AssignmentError, AssignmentTitle};
use domain::submission::SubmissionError;
use poem::web::Data;
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::types::MaybeUndefined;
use poem_openapi::{ApiResponse, Enum, Object, OpenApi};
use projections::assignments::{self as read, AssignmentRow, SubmissionRow};
use uuid::Uuid;

use super::tags::ApiTags;
use super::text::Text;
use crate::authz::Target;
use crate::caller::{command_context, Caller, RequestId};
use crate::problem::{command_error, ApiError, ProblemKind};
use crate::state::Services;

mod examples;

/// Where an assignment is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename = "AssignmentStatus", rename_all = "snake_case")]
pub enum AssignmentStatusDto {
    /// Only the class's adults see it.
    Draft,
    /// Students read it and submit.
    Published,
    /// No more submissions; grading goes on.
    Closed,
}

impl AssignmentStatusDto {
    fn parse(status: &str) -> Self {
        match status {
            "published" => Self::Published,
            "closed" => Self::Closed,
            _ => Self::Draft,
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            Self::Draft => "draft",
            Self::Published => "published",
            Self::Closed => "closed",
        }
    }
}

#[derive(Debug, Object)]
#[oai(rename = "Assignment", example)]
pub struct AssignmentDto {
    pub id: Uuid,
    pub class_id: Uuid,
    pub title: String,
    pub instructions: String,
    /// A tool of the class's group or a group above it, for the work.
    #[oai(nullable)]
    pub tool_id: Option<Uuid>,
    #[oai(nullable)]
    pub due_at: Option<DateTime<Utc>>,
    /// The highest score a grade may give; null: graded with feedback only.
    #[oai(nullable)]
    pub max_score: Option<u32>,
    pub status: AssignmentStatusDto,
    pub archived: bool,
    #[oai(nullable)]
    pub created_by: Option<Uuid>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub version: i64,
    /// Submissions submitted (graded ones included).
    pub submitted_count: i64,
    pub graded_count: i64,
}

impl From<AssignmentRow> for AssignmentDto {
    fn from(row: AssignmentRow) -> Self {
        Self {
            id: row.id,
            class_id: row.class_id,
            title: row.title,
            instructions: row.instructions,
            tool_id: row.tool_id,
            due_at: row.due_at,
            max_score: row.max_score.map(|m| m as u32),
            status: AssignmentStatusDto::parse(&row.status),
            archived: row.archived,
            created_by: row.created_by,
            created_at: row.created_at,
            updated_at: row.updated_at,
            version: row.version,
            submitted_count: row.submitted,
            graded_count: row.graded,
        }
    }
}

#[derive(Debug, Object)]
#[oai(example)]
pub struct AssignmentList {
    pub items: Vec<AssignmentDto>,
}

#[derive(Debug, Object)]
#[oai(deny_unknown_fields, example)]
pub struct CreateAssignment {
    /// 1 to 200 readable characters.
    pub title: Text,
    /// At most 20,000 characters.
    #[oai(nullable)]
    pub instructions: Option<Text>,
    #[oai(nullable)]
    pub tool_id: Option<Uuid>,
    #[oai(nullable)]
    pub due_at: Option<DateTime<Utc>>,
    /// 1 to 10,000; null or absent: graded with feedback only.
    #[oai(nullable)]
    pub max_score: Option<u32>,
}

/// A change: an absent member keeps its value; `null` clears `tool_id`, `due_at` or
/// `max_score` (and keeps `title` and `instructions`).
#[derive(Debug, Object)]
#[oai(deny_unknown_fields, example)]
pub struct UpdateAssignment {
    #[oai(nullable)]
    pub title: Option<Text>,
    #[oai(nullable)]
    pub instructions: Option<Text>,
    #[oai(nullable)]
    pub tool_id: MaybeUndefined<Uuid>,
    #[oai(nullable)]
    pub due_at: MaybeUndefined<DateTime<Utc>>,
    #[oai(nullable)]
    pub max_score: MaybeUndefined<u32>,
}

#[derive(ApiResponse)]
pub enum CreatedAssignment {
    #[oai(status = 201)]
    Created(Json<AssignmentDto>, #[oai(header = "Location")] String),
}

/// Where a submission is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename = "SubmissionStatus", rename_all = "snake_case")]
pub enum SubmissionStatusDto {
    /// Started, not submitted: only the student sees it.
    Draft,
    Submitted,
    Graded,
}

#[derive(Debug, Object)]
#[oai(rename = "Grade", example)]
pub struct GradeDto {
    #[oai(nullable)]
    pub score: Option<u32>,
    #[oai(nullable)]
    pub max_score: Option<u32>,
    pub feedback: String,
    #[oai(nullable)]
    pub graded_by: Option<Uuid>,
    #[oai(nullable)]
    pub graded_at: Option<DateTime<Utc>>,
}

/// An AI assessment recorded for a submission's assignment and student, in short: the
/// whole trace, checked against the log, is `GET /assessments/{id}`.
#[derive(Debug, Object)]
#[oai(rename = "SubmissionAssessment", example)]
pub struct SubmissionAssessmentDto {
    pub id: Uuid,
    pub learning_session_id: Uuid,
    /// The scores by criterion, as recorded.
    pub scores: serde_json::Value,
    pub confidence: f64,
    pub recorded_at: DateTime<Utc>,
    #[oai(nullable)]
    pub reviewed_at: Option<DateTime<Utc>>,
}

impl From<projections::assessments::AssessmentRow> for SubmissionAssessmentDto {
    fn from(row: projections::assessments::AssessmentRow) -> Self {
        Self {
            id: row.id,
            learning_session_id: row.learning_session_id,
            scores: row.scores,
            confidence: row.confidence,
            recorded_at: row.recorded_at,
            reviewed_at: row.reviewed_at,
        }
    }
}

#[derive(Debug, Object)]
#[oai(rename = "Submission", example)]
pub struct SubmissionDto {
    pub id: Uuid,
    pub assignment_id: Uuid,
    pub class_id: Uuid,
    pub student_id: Uuid,
    #[oai(nullable)]
    pub student_name: Option<String>,
    pub content: String,
    /// The student's learning sessions offered as evidence.
    pub evidence: Vec<Uuid>,
    pub status: SubmissionStatusDto,
    /// How many times it was submitted.
    pub attempts: u32,
    /// Submitted after the assignment's due time.
    pub late: bool,
    #[oai(nullable)]
    pub submitted_at: Option<DateTime<Utc>>,
    /// Null until graded.
    #[oai(nullable)]
    pub grade: Option<GradeDto>,
    /// The AI assessments recorded for this assignment and student; absent for the student
    /// until the submission is graded (null), and from lists.
    #[oai(nullable)]
    pub assessments: Option<Vec<SubmissionAssessmentDto>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub version: i64,
}

impl SubmissionStatusDto {
    fn parse(status: &str) -> Self {
        match status {
            "graded" => Self::Graded,
            "submitted" => Self::Submitted,
            _ => Self::Draft,
        }
    }
}

impl SubmissionDto {
    fn new(row: SubmissionRow, assessments: Option<Vec<SubmissionAssessmentDto>>) -> Self {
        let status = SubmissionStatusDto::parse(&row.status);
        Self {
            id: row.id,
            assignment_id: row.assignment_id,
            class_id: row.class_id,
            student_id: row.student_id,
            student_name: row.student_name,
            content: row.content,
            evidence: row.evidence,
            status,
            attempts: row.attempts as u32,
            late: row.late,
            submitted_at: row.submitted_at,
            grade: (status == SubmissionStatusDto::Graded).then(|| GradeDto {
                score: row.score.map(|s| s as u32),
                max_score: row.max_score.map(|s| s as u32),
                feedback: row.feedback.unwrap_or_default(),
                graded_by: row.graded_by,
                graded_at: row.graded_at,
            }),
            assessments,
            created_at: row.created_at,
            updated_at: row.updated_at,
            version: row.version,
        }
    }
}

#[derive(Debug, Object)]
#[oai(example)]
pub struct SubmissionList {
    pub items: Vec<SubmissionDto>,
}

#[derive(Debug, Object)]
#[oai(deny_unknown_fields, example)]
pub struct CreateSubmission {
    /// At most 50,000 characters.
    #[oai(nullable)]
    pub content: Option<Text>,
    /// Up to 20 of the student's own learning sessions in the class.
    #[oai(nullable)]
    pub evidence: Option<Vec<Uuid>>,
}

/// Submits, replacing the content or the evidence where given.
#[derive(Debug, Object)]
#[oai(deny_unknown_fields, example)]
pub struct SubmitSubmission {
    #[oai(nullable)]
    pub content: Option<Text>,
    #[oai(nullable)]
    pub evidence: Option<Vec<Uuid>>,
}

#[derive(Debug, Object)]
#[oai(deny_unknown_fields, example)]
pub struct GradeSubmission {
    /// Required when the assignment has a `max_score` (0 to it); absent otherwise.
    #[oai(nullable)]
    pub score: Option<u32>,
    /// At most 20,000 characters.
    #[oai(nullable)]
    pub feedback: Option<Text>,
}

#[derive(ApiResponse)]
pub enum CreatedSubmission {
    #[oai(status = 201)]
    Created(Json<SubmissionDto>, #[oai(header = "Location")] String),
}

/// A student's assignment with the state of their own submission.
#[derive(Debug, Object)]
#[oai(rename = "StudentAssignment", example)]
pub struct StudentAssignmentDto {
    pub assignment: AssignmentDto,
    #[oai(nullable)]
    pub submission_id: Option<Uuid>,
    /// Null: not started.
    #[oai(nullable)]
    pub submission_status: Option<SubmissionStatusDto>,
    #[oai(nullable)]
    pub late: Option<bool>,
    #[oai(nullable)]
    pub score: Option<u32>,
    #[oai(nullable)]
    pub submitted_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Object)]
#[oai(example)]
pub struct StudentAssignmentList {
    pub items: Vec<StudentAssignmentDto>,
}

/// Feedback: at most 20,000 characters.
const MAX_FEEDBACK_CHARS: usize = 20_000;

fn assignment_rejected(error: AssignmentError) -> ApiError {
    match error {
        AssignmentError::NotFound => ApiError::not_found("resource"),
        AssignmentError::AlreadyExists => ApiError::kind(ProblemKind::Conflict),
        AssignmentError::ClassNotFound => ApiError::not_found("resource"),
        AssignmentError::ClassArchived => ApiError::kind(ProblemKind::ClassArchived),
        AssignmentError::ToolNotOffered => ApiError::kind(ProblemKind::ToolNotAvailable),
        AssignmentError::InstructionsTooLong | AssignmentError::InvalidMaxScore => {
            ApiError::new(ProblemKind::InvalidRequest, error.to_string())
        }
        AssignmentError::MaxScoreFixed
        | AssignmentError::WrongStatus(..)
        | AssignmentError::Closed
        | AssignmentError::Archived => {
            ApiError::new(ProblemKind::AssignmentStatus, error.to_string())
        }
    }
}

fn submission_rejected(error: SubmissionError) -> ApiError {
    let kind = match error {
        SubmissionError::NotFound => return ApiError::not_found("resource"),
        SubmissionError::AlreadyExists => ProblemKind::SubmissionExists,
        SubmissionError::AssignmentNotOpen(_) => ProblemKind::AssignmentNotOpen,
        SubmissionError::ContentTooLong
        | SubmissionError::Empty
        | SubmissionError::TooMuchEvidence => ProblemKind::InvalidRequest,
        SubmissionError::NotOwnEvidence(_) => ProblemKind::InvalidEvidence,
        SubmissionError::PastDue => ProblemKind::PastDue,
        SubmissionError::Graded => ProblemKind::SubmissionGraded,
        SubmissionError::NotSubmitted => ProblemKind::SubmissionNotSubmitted,
        SubmissionError::ScoreAboveMaximum(_) => ProblemKind::ScoreAboveMaximum,
        SubmissionError::NotScored | SubmissionError::ScoreRequired => ProblemKind::InvalidScore,
    };
    ApiError::new(kind, error.to_string())
}

fn parse_title(raw: &str) -> Result<AssignmentTitle, ApiError> {
    AssignmentTitle::parse(raw).map_err(|e| crate::problem::named_field_error("title", e))
}

/// The class's group path (root first), from an authorized class target.
fn group_path(target: &Target) -> &[Uuid] {
    match target {
        Target::Class { facts, .. } => &facts.group.path,
        _ => &[],
    }
}

pub struct AssignmentsApi {
    pub services: Arc<Services>,
}

impl AssignmentsApi {
    fn allowed(&self, caller: &Caller, action: &str, target: &Target) -> bool {
        caller
            .user()
            .is_ok_and(|p| self.services.authz.policy.decide(p, action, target).0)
    }

    /// The assignment with its class target, if the caller may read it: 404 otherwise,
    /// whether or not it exists (a draft or archived one for a student, too).
    async fn readable(
        &self,
        caller: &Caller,
        id: Uuid,
    ) -> Result<(AssignmentRow, Target), ApiError> {
        let principal = caller.user()?;
        let row = read::get_assignment(&self.services.pool, id)
            .await?
            .ok_or_else(|| ApiError::not_found("resource"))?;
        let target = self
            .services
            .authz
            .class_target(principal, row.class_id)
            .await?
            .ok_or_else(|| ApiError::not_found("resource"))?;
        let manages = self.allowed(caller, "class.manage_assignments", &target);
        let visible = manages
            || (self.allowed(caller, "class.read_assignments", &target)
                && row.status != "draft"
                && !row.archived);
        if !visible {
            return Err(ApiError::not_found("resource"));
        }
        Ok((row, target))
    }

    /// [`readable`](Self::readable), and the caller may also `action` on its class (403).
    async fn authorized(
        &self,
        caller: &Caller,
        id: Uuid,
        action: &str,
    ) -> Result<(AssignmentRow, Target), ApiError> {
        let (row, target) = self.readable(caller, id).await?;
        self.services
            .authz
            .require(caller.user()?, action, &target)?;
        Ok((row, target))
    }

    async fn assignment_after(
        &self,
        id: Uuid,
        position: Option<i64>,
    ) -> Result<Json<AssignmentDto>, ApiError> {
        self.services
            .caught_up(read::NAME, position)
            .await
            .map_err(|e| e.located(format!("/assignments/{id}")))?;
        read::get_assignment(&self.services.pool, id)
            .await?
            .map(|row| Json(row.into()))
            .ok_or_else(|| ApiError::not_found("resource"))
    }

    async fn advance(
        &self,
        caller: &Caller,
        request_id: &RequestId,
        id: Uuid,
        command: AssignmentCommand,
    ) -> Result<Json<AssignmentDto>, ApiError> {
        self.authorized(caller, id, "class.manage_assignments")
            .await?;
        let appended = self
            .services
            .assignments
            .advance(&command_context(caller, request_id), id, command)
            .await
            .map_err(|e| command_error(e, assignment_rejected))?;
        self.assignment_after(id, appended.position).await
    }

    /// The submission with its class target, if the caller may read it: the student it
    /// belongs to, or who may view the class's submissions (and then not a draft). 404
    /// otherwise.
    async fn submission(
        &self,
        caller: &Caller,
        id: Uuid,
    ) -> Result<(SubmissionRow, Target), ApiError> {
        let principal = caller.user()?;
        let row = read::get_submission(&self.services.pool, id)
            .await?
            .ok_or_else(|| ApiError::not_found("resource"))?;
        let target = self
            .services
            .authz
            .class_target(principal, row.class_id)
            .await?
            .ok_or_else(|| ApiError::not_found("resource"))?;
        let own = row.student_id == principal.user_id
            && self.allowed(caller, "class.read_assignments", &target);
        let viewer =
            row.status != "draft" && self.allowed(caller, "class.view_submissions", &target);
        if !own && !viewer {
            return Err(ApiError::not_found("resource"));
        }
        Ok((row, target))
    }

    /// The answer after a write the caller was authorized for on `target` (the class): the
    /// submission once the read model has `position`.
    async fn submission_after(
        &self,
        caller: &Caller,
        id: Uuid,
        position: Option<i64>,
        target: &Target,
    ) -> Result<Json<SubmissionDto>, ApiError> {
        self.services
            .caught_up(read::NAME, position)
            .await
            .map_err(|e| e.located(format!("/submissions/{id}")))?;
        let row = read::get_submission(&self.services.pool, id)
            .await?
            .ok_or_else(|| ApiError::not_found("resource"))?;
        Ok(Json(self.submission_dto(caller, row, target).await?))
    }

    /// The answer for a submission: with its assessments for whoever may read the class's
    /// assessments, and for its student once graded.
    async fn submission_dto(
        &self,
        caller: &Caller,
        row: SubmissionRow,
        target: &Target,
    ) -> Result<SubmissionDto, ApiError> {
        let shown =
            self.allowed(caller, "class.read_assessments", target) || row.status == "graded";
        let assessments = if shown {
            let rows = projections::assessments::of_assignment_and_student(
                &self.services.pool,
                row.assignment_id,
                row.student_id,
            )
            .await?;
            Some(rows.into_iter().map(Into::into).collect())
        } else {
            None
        };
        Ok(SubmissionDto::new(row, assessments))
    }

    /// The assignment's facts from the write side (always current).
    async fn facts(&self, id: Uuid) -> Result<domain::submission::AssignmentFacts, ApiError> {
        self.services
            .submissions
            .assignment(id)
            .await?
            .ok_or_else(|| ApiError::not_found("resource"))
    }
}

#[OpenApi(tag = "ApiTags::Assignments")]
impl AssignmentsApi {
    /// Create an assignment in a class
    ///
    /// A draft: only the class's adults see it until it is published. `Location` names it.
    #[oai(
        path = "/classes/:id/assignments",
        method = "post",
        operation_id = "createAssignment"
    )]
    async fn create(
        &self,
        caller: Data<&Caller>,
        request_id: Data<&RequestId>,
        id: Path<Uuid>,
        body: Json<CreateAssignment>,
    ) -> Result<CreatedAssignment, ApiError> {
        let target = self
            .services
            .authz
            .class(caller.user()?, id.0, "class.manage_assignments")
            .await?;
        let body = body.0;
        let title = parse_title(&body.title.0)?;
        let (assignment_id, appended) = self
            .services
            .assignments
            .create(
                &command_context(&caller, &request_id),
                id.0,
                group_path(&target),
                title,
                body.instructions.map(|i| i.0).unwrap_or_default(),
                body.tool_id,
                body.due_at,
                body.max_score,
            )
            .await
            .map_err(|e| command_error(e, assignment_rejected))?;
        let assignment = self
            .assignment_after(assignment_id, appended.position)
            .await?;
        Ok(CreatedAssignment::Created(
            assignment,
            format!("/assignments/{assignment_id}"),
        ))
    }

    /// Assignments of a class
    ///
    /// Newest first. Students see the published and closed ones; the class's adults also
    /// drafts, and archived ones with `include_archived=true`. `status` filters.
    #[oai(
        path = "/classes/:id/assignments",
        method = "get",
        operation_id = "listAssignments"
    )]
    async fn list(
        &self,
        caller: Data<&Caller>,
        id: Path<Uuid>,
        /// Only assignments in this status.
        status: Query<Option<AssignmentStatusDto>>,
        /// Include archived assignments (the class's adults only).
        include_archived: Query<Option<bool>>,
    ) -> Result<Json<AssignmentList>, ApiError> {
        let target = self
            .services
            .authz
            .class(caller.user()?, id.0, "class.read_assignments")
            .await?;
        let manages = self.allowed(&caller, "class.manage_assignments", &target);
        let mut statuses: Vec<&str> = match status.0 {
            Some(status) => vec![status.as_str()],
            None => vec!["draft", "published", "closed"],
        };
        if !manages {
            statuses.retain(|s| *s != "draft");
        }
        let rows = read::assignments_of_class(
            &self.services.pool,
            id.0,
            &statuses,
            manages && include_archived.0.unwrap_or(false),
        )
        .await?;
        Ok(Json(AssignmentList {
            items: rows.into_iter().map(AssignmentDto::from).collect(),
        }))
    }

    /// Get an assignment
    ///
    /// A draft or archived assignment is a 404 to the class's students.
    #[oai(
        path = "/assignments/:id",
        method = "get",
        operation_id = "getAssignment"
    )]
    async fn get(
        &self,
        caller: Data<&Caller>,
        id: Path<Uuid>,
    ) -> Result<Json<AssignmentDto>, ApiError> {
        let (row, _) = self.readable(&caller, id.0).await?;
        Ok(Json(row.into()))
    }

    /// Change an assignment
    ///
    /// Until it is closed; the maximum score only while it is a draft (409
    /// `assignment-status`).
    #[oai(
        path = "/assignments/:id",
        method = "patch",
        operation_id = "updateAssignment"
    )]
    async fn update(
        &self,
        caller: Data<&Caller>,
        request_id: Data<&RequestId>,
        id: Path<Uuid>,
        body: Json<UpdateAssignment>,
    ) -> Result<Json<AssignmentDto>, ApiError> {
        let (_, target) = self
            .authorized(&caller, id.0, "class.manage_assignments")
            .await?;
        let body = body.0;
        fn change<T>(value: MaybeUndefined<T>) -> Option<Option<T>> {
            match value {
                MaybeUndefined::Undefined => None,
                MaybeUndefined::Null => Some(None),
                MaybeUndefined::Value(v) => Some(Some(v)),
            }
        }
        let change = application::assignments::AssignmentChange {
            title: body.title.map(|t| parse_title(&t.0)).transpose()?,
            instructions: body.instructions.map(|i| i.0),
            tool_id: change(body.tool_id),
            due_at: change(body.due_at),
            max_score: change(body.max_score),
        };
        let appended = self
            .services
            .assignments
            .update(
                &command_context(&caller, &request_id),
                id.0,
                group_path(&target),
                change,
            )
            .await
            .map_err(|e| command_error(e, assignment_rejected))?;
        self.assignment_after(id.0, appended.position).await
    }

    /// Publish an assignment
    ///
    /// Its students see it and may submit. Publishing a published one changes nothing.
    #[oai(
        path = "/assignments/:id/publish",
        method = "post",
        operation_id = "publishAssignment"
    )]
    async fn publish(
        &self,
        caller: Data<&Caller>,
        request_id: Data<&RequestId>,
        id: Path<Uuid>,
    ) -> Result<Json<AssignmentDto>, ApiError> {
        self.advance(&caller, &request_id, id.0, AssignmentCommand::Publish)
            .await
    }

    /// Close an assignment
    ///
    /// No more submissions; grading goes on.
    #[oai(
        path = "/assignments/:id/close",
        method = "post",
        operation_id = "closeAssignment"
    )]
    async fn close(
        &self,
        caller: Data<&Caller>,
        request_id: Data<&RequestId>,
        id: Path<Uuid>,
    ) -> Result<Json<AssignmentDto>, ApiError> {
        self.advance(&caller, &request_id, id.0, AssignmentCommand::Close)
            .await
    }

    /// Archive an assignment
    ///
    /// Hidden from students, kept for the class's adults; final.
    #[oai(
        path = "/assignments/:id/archive",
        method = "post",
        operation_id = "archiveAssignment"
    )]
    async fn archive(
        &self,
        caller: Data<&Caller>,
        request_id: Data<&RequestId>,
        id: Path<Uuid>,
    ) -> Result<Json<AssignmentDto>, ApiError> {
        self.advance(&caller, &request_id, id.0, AssignmentCommand::Archive)
            .await
    }

    /// My assignments
    ///
    /// For a student: the published and closed assignments of their classes with the state
    /// of their own submission, due soonest first.
    #[oai(
        path = "/me/assignments",
        method = "get",
        operation_id = "myAssignments"
    )]
    async fn mine(&self, caller: Data<&Caller>) -> Result<Json<StudentAssignmentList>, ApiError> {
        let principal = caller.user()?;
        let rows = read::assignments_of_student(&self.services.pool, principal.user_id).await?;
        Ok(Json(StudentAssignmentList {
            items: rows
                .into_iter()
                .map(|row| StudentAssignmentDto {
                    submission_status: row
                        .submission_status
                        .as_deref()
                        .map(SubmissionStatusDto::parse),
                    submission_id: row.submission_id,
                    late: row.late,
                    score: row.score.map(|s| s as u32),
                    submitted_at: row.submitted_at,
                    assignment: row.assignment.into(),
                })
                .collect(),
        }))
    }

    /// Start a submission
    ///
    /// The caller's own, for a published assignment of a class where they are a student;
    /// not submitted until `POST /submissions/{id}/submit`. One per student and assignment:
    /// 409 `submission-exists` the second time.
    #[oai(
        path = "/assignments/:id/submissions",
        method = "post",
        operation_id = "createSubmission"
    )]
    async fn create_submission(
        &self,
        caller: Data<&Caller>,
        request_id: Data<&RequestId>,
        id: Path<Uuid>,
        body: Json<CreateSubmission>,
    ) -> Result<CreatedSubmission, ApiError> {
        let principal = caller.user()?;
        let (_, target) = self
            .authorized(&caller, id.0, "class.create_submission")
            .await?;
        // A submission is a student's own work: only the class's students make one (a system
        // admin, whom the policy lets do anything, does not submit as one).
        let student = matches!(&target, Target::Class { facts, .. }
            if facts.class_role.as_deref() == Some("student"));
        if !student {
            return Err(ApiError::kind(ProblemKind::Forbidden));
        }
        let assignment = self.facts(id.0).await?;
        let body = body.0;
        let (submission_id, appended) = self
            .services
            .submissions
            .create(
                &command_context(&caller, &request_id),
                assignment,
                principal.user_id,
                body.content.map(|c| c.0).unwrap_or_default(),
                body.evidence.unwrap_or_default(),
            )
            .await
            .map_err(|e| match e {
                application::CommandError::Conflict => ApiError::new(
                    ProblemKind::SubmissionExists,
                    "you already have a submission for this assignment".to_owned(),
                ),
                e => command_error(e, submission_rejected),
            })?;
        let submission = self
            .submission_after(&caller, submission_id, appended.position, &target)
            .await?;
        Ok(CreatedSubmission::Created(
            submission,
            format!("/submissions/{submission_id}"),
        ))
    }

    /// Submissions to an assignment
    ///
    /// The submitted and graded ones (drafts stay the students' own), by submission time.
    #[oai(
        path = "/assignments/:id/submissions",
        method = "get",
        operation_id = "listSubmissions"
    )]
    async fn submissions(
        &self,
        caller: Data<&Caller>,
        id: Path<Uuid>,
    ) -> Result<Json<SubmissionList>, ApiError> {
        self.authorized(&caller, id.0, "class.view_submissions")
            .await?;
        let rows = read::submissions_of_assignment(&self.services.pool, id.0).await?;
        Ok(Json(SubmissionList {
            items: rows
                .into_iter()
                .map(|row| SubmissionDto::new(row, None))
                .collect(),
        }))
    }

    /// Get a submission
    ///
    /// For its student and whoever may view the class's submissions.
    #[oai(
        path = "/submissions/:id",
        method = "get",
        operation_id = "getSubmission"
    )]
    async fn get_submission(
        &self,
        caller: Data<&Caller>,
        id: Path<Uuid>,
    ) -> Result<Json<SubmissionDto>, ApiError> {
        let (row, target) = self.submission(&caller, id.0).await?;
        Ok(Json(self.submission_dto(&caller, row, &target).await?))
    }

    /// Submit a submission
    ///
    /// By its student, replacing content or evidence where given. Again and again until
    /// the due time or until it is graded; a first submission after the due time is accepted
    /// and marked `late`; none once the assignment is closed.
    #[oai(
        path = "/submissions/:id/submit",
        method = "post",
        operation_id = "submitSubmission"
    )]
    async fn submit(
        &self,
        caller: Data<&Caller>,
        request_id: Data<&RequestId>,
        id: Path<Uuid>,
        body: Json<SubmitSubmission>,
    ) -> Result<Json<SubmissionDto>, ApiError> {
        let principal = caller.user()?;
        let (row, target) = self.submission(&caller, id.0).await?;
        if row.student_id != principal.user_id {
            return Err(ApiError::kind(ProblemKind::Forbidden));
        }
        self.services
            .authz
            .require(principal, "class.create_submission", &target)?;
        let assignment = self.facts(row.assignment_id).await?;
        let body = body.0;
        let appended = self
            .services
            .submissions
            .submit(
                &command_context(&caller, &request_id),
                id.0,
                assignment,
                principal.user_id,
                body.content.map(|c| c.0),
                body.evidence,
                // Late or not by this server's clock when the submit is decided (the due time
                // is a teacher's deadline, not a timer: the database clock is not needed).
                Utc::now(),
            )
            .await
            .map_err(|e| command_error(e, submission_rejected))?;
        self.submission_after(&caller, id.0, appended.position, &target)
            .await
    }

    /// Grade a submission
    ///
    /// By the class's teachers: a score within the assignment's maximum (none when it is
    /// graded with feedback only) and feedback. Grading again corrects the grade.
    #[oai(
        path = "/submissions/:id/grade",
        method = "post",
        operation_id = "gradeSubmission"
    )]
    async fn grade(
        &self,
        caller: Data<&Caller>,
        request_id: Data<&RequestId>,
        id: Path<Uuid>,
        body: Json<GradeSubmission>,
    ) -> Result<Json<SubmissionDto>, ApiError> {
        let principal = caller.user()?;
        let (row, target) = self.submission(&caller, id.0).await?;
        self.services
            .authz
            .require(principal, "class.grade", &target)?;
        let body = body.0;
        let feedback = body.feedback.map(|f| f.0).unwrap_or_default();
        if feedback.chars().count() > MAX_FEEDBACK_CHARS {
            return Err(ApiError::new(
                ProblemKind::InvalidRequest,
                "feedback: at most 20000 characters".to_owned(),
            ));
        }
        let assignment = self.facts(row.assignment_id).await?;
        let appended = self
            .services
            .submissions
            .grade(
                &command_context(&caller, &request_id),
                id.0,
                assignment,
                principal.user_id,
                body.score,
                feedback,
            )
            .await
            .map_err(|e| command_error(e, submission_rejected))?;
        self.submission_after(&caller, id.0, appended.position, &target)
            .await
    }
}
