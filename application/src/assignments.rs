//! Assignments and submissions: the facts their commands are decided on (the class, the
//! tool, the assignment, the learning sessions offered as evidence), all read from the write
//! side, so a command never acts on a read model that lags.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use domain::assignment::{
    Assignment, AssignmentClass, AssignmentCommand, AssignmentError, AssignmentId, AssignmentTitle,
    AssignmentTool, AssignmentUpdate,
};
use domain::class::Class;
use domain::learning::LearningSession;
use domain::submission::{
    AssignmentFacts, Evidence, Submission, SubmissionCommand, SubmissionError, SubmissionId,
};
use domain::tool::Tool;
use sqlx::PgPool;
use uuid::Uuid;

use crate::ports::AppendListener;
use crate::{Appended, CommandContext, CommandError, CommandRunner, StoreError};

pub type AssignmentCommandError = CommandError<AssignmentError>;
pub type SubmissionCommandError = CommandError<SubmissionError>;

/// The namespace of submission ids (UUID v5 of the assignment and the student).
const SUBMISSION_NAMESPACE: Uuid = Uuid::from_u128(0x6a1f_3c2e_9b7d_4e58_a0c4_51d2_7e9f_0b13);

/// The id of `student`'s submission for `assignment`: one stream per student and assignment,
/// so a second "create" conflicts on the stream instead of making a second submission.
pub fn submission_id(assignment: AssignmentId, student: Uuid) -> SubmissionId {
    let mut name = [0u8; 32];
    name[..16].copy_from_slice(assignment.as_bytes());
    name[16..].copy_from_slice(student.as_bytes());
    Uuid::new_v5(&SUBMISSION_NAMESPACE, &name)
}

/// What changes an assignment, as given at the edge.
#[derive(Debug, Clone, Default)]
pub struct AssignmentChange {
    pub title: Option<AssignmentTitle>,
    pub instructions: Option<String>,
    pub tool_id: Option<Option<Uuid>>,
    pub due_at: Option<Option<DateTime<Utc>>>,
    pub max_score: Option<Option<u32>>,
}

/// Creates, changes, publishes, closes and archives assignments.
pub struct Assignments {
    runner: CommandRunner<Assignment>,
    classes: CommandRunner<Class>,
    tools: CommandRunner<Tool>,
}

impl Assignments {
    pub fn new(pool: PgPool, listener: Arc<dyn AppendListener>) -> Self {
        Self {
            runner: CommandRunner::new(pool.clone(), listener.clone()),
            classes: CommandRunner::new(pool.clone(), listener.clone()),
            tools: CommandRunner::new(pool, listener),
        }
    }

    /// The assignment from the write side; `None` when there is none.
    pub async fn load(&self, id: AssignmentId) -> Result<Option<Assignment>, StoreError> {
        let (state, version) = self.runner.load(id).await?;
        Ok((version > 0).then_some(state))
    }

    /// Whether `tool_id` is offered to a class whose group path (root first) is
    /// `class_group_path`: an active tool of one of those groups.
    async fn tool(
        &self,
        tool_id: Uuid,
        class_group_path: &[Uuid],
    ) -> Result<AssignmentTool, StoreError> {
        let (tool, _) = self.tools.load(tool_id).await?;
        let offered = tool.created
            && !tool.archived
            && tool.group_id.is_some_and(|g| class_group_path.contains(&g));
        Ok(if offered {
            AssignmentTool::Offered(tool_id)
        } else {
            AssignmentTool::NotOffered(tool_id)
        })
    }

    #[allow(clippy::too_many_arguments)]
    pub async fn create(
        &self,
        context: &CommandContext,
        class_id: Uuid,
        class_group_path: &[Uuid],
        title: AssignmentTitle,
        instructions: String,
        tool_id: Option<Uuid>,
        due_at: Option<DateTime<Utc>>,
        max_score: Option<u32>,
    ) -> Result<(AssignmentId, Appended), AssignmentCommandError> {
        let (class, _) = self.classes.load(class_id).await?;
        let class = if !class.created {
            AssignmentClass::Missing(class_id)
        } else if class.archived {
            AssignmentClass::Archived(class_id)
        } else {
            AssignmentClass::Active(class_id)
        };
        let tool = match tool_id {
            Some(id) => Some(self.tool(id, class_group_path).await?),
            None => None,
        };
        let id = Uuid::now_v7();
        let appended = self
            .runner
            .execute_new(
                id,
                AssignmentCommand::Create {
                    class,
                    title,
                    instructions,
                    tool,
                    due_at,
                    max_score,
                },
                context,
            )
            .await?;
        Ok((id, appended))
    }

    /// Changes what `change` names. A teacher's edit does not rest on a version they saw
    /// (fields not named keep their values): it is decided again after losing a race.
    pub async fn update(
        &self,
        context: &CommandContext,
        id: AssignmentId,
        class_group_path: &[Uuid],
        change: AssignmentChange,
    ) -> Result<Appended, AssignmentCommandError> {
        let tool = match change.tool_id {
            Some(Some(tool_id)) => Some(Some(self.tool(tool_id, class_group_path).await?)),
            Some(None) => Some(None),
            None => None,
        };
        let update = AssignmentUpdate {
            title: change.title,
            instructions: change.instructions,
            tool,
            due_at: change.due_at,
            max_score: change.max_score,
        };
        self.runner
            .execute_retrying(id, AssignmentCommand::Update(update), context)
            .await
    }

    /// Publishes, closes or archives: the same change whatever the stream holds.
    pub async fn advance(
        &self,
        context: &CommandContext,
        id: AssignmentId,
        command: AssignmentCommand,
    ) -> Result<Appended, AssignmentCommandError> {
        self.runner.execute_retrying(id, command, context).await
    }
}

/// Creates, submits and grades submissions.
///
/// Submits and grades are not retried after losing a race: a student submitting while a
/// teacher grades gets a 409 rather than a decision on a state they did not see.
pub struct Submissions {
    runner: CommandRunner<Submission>,
    assignments: CommandRunner<Assignment>,
    sessions: CommandRunner<LearningSession>,
}

impl Submissions {
    pub fn new(pool: PgPool, listener: Arc<dyn AppendListener>) -> Self {
        Self {
            runner: CommandRunner::new(pool.clone(), listener.clone()),
            assignments: CommandRunner::new(pool.clone(), listener.clone()),
            sessions: CommandRunner::new(pool, listener),
        }
    }

    /// The submission from the write side; `None` when there is none.
    pub async fn load(&self, id: SubmissionId) -> Result<Option<Submission>, StoreError> {
        let (state, version) = self.runner.load(id).await?;
        Ok((version > 0).then_some(state))
    }

    /// The assignment's facts; `None` when it does not exist.
    pub async fn assignment(
        &self,
        id: AssignmentId,
    ) -> Result<Option<AssignmentFacts>, StoreError> {
        let (assignment, _) = self.assignments.load(id).await?;
        Ok(facts(id, &assignment))
    }

    /// Each learning session offered as evidence: the student's own in the class, or not.
    async fn evidence(
        &self,
        student: Uuid,
        class_id: Uuid,
        sessions: Vec<Uuid>,
    ) -> Result<Vec<Evidence>, StoreError> {
        let mut evidence = Vec::with_capacity(sessions.len());
        for id in sessions {
            let (session, _) = self.sessions.load(id).await?;
            let own = session.started
                && session.student_id == Some(student)
                && session.class_id == Some(class_id);
            evidence.push(if own {
                Evidence::Own(id)
            } else {
                Evidence::NotOwn(id)
            });
        }
        Ok(evidence)
    }

    pub async fn create(
        &self,
        context: &CommandContext,
        assignment: AssignmentFacts,
        student: Uuid,
        content: String,
        evidence: Vec<Uuid>,
    ) -> Result<(SubmissionId, Appended), SubmissionCommandError> {
        let evidence = self
            .evidence(student, assignment.class_id, evidence)
            .await?;
        let id = submission_id(assignment.id, student);
        let appended = self
            .runner
            .execute_new(
                id,
                SubmissionCommand::Create {
                    assignment,
                    student_id: student,
                    content,
                    evidence,
                },
                context,
            )
            .await?;
        Ok((id, appended))
    }

    #[allow(clippy::too_many_arguments)]
    pub async fn submit(
        &self,
        context: &CommandContext,
        id: SubmissionId,
        assignment: AssignmentFacts,
        student: Uuid,
        content: Option<String>,
        evidence: Option<Vec<Uuid>>,
        now: DateTime<Utc>,
    ) -> Result<Appended, SubmissionCommandError> {
        let evidence = match evidence {
            Some(ids) => Some(self.evidence(student, assignment.class_id, ids).await?),
            None => None,
        };
        self.runner
            .execute(
                id,
                SubmissionCommand::Submit {
                    assignment,
                    content,
                    evidence,
                    now,
                },
                context,
            )
            .await
    }

    pub async fn grade(
        &self,
        context: &CommandContext,
        id: SubmissionId,
        assignment: AssignmentFacts,
        by: Uuid,
        score: Option<u32>,
        feedback: String,
    ) -> Result<Appended, SubmissionCommandError> {
        self.runner
            .execute(
                id,
                SubmissionCommand::Grade {
                    assignment,
                    by,
                    score,
                    feedback,
                },
                context,
            )
            .await
    }
}

/// An assignment's facts for a submission command; `None` when it does not exist.
pub fn facts(id: AssignmentId, assignment: &Assignment) -> Option<AssignmentFacts> {
    Some(AssignmentFacts {
        id,
        class_id: assignment.class_id.filter(|_| assignment.created)?,
        status: assignment.status,
        archived: assignment.archived,
        due_at: assignment.due_at,
        max_score: assignment.max_score,
    })
}
