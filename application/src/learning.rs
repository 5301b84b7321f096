//! Learning-session use cases.

use std::sync::Arc;

use domain::learning::{
    Detection, LearningSession, LearningSessionCommand, LearningSessionError, LearningSessionId,
    MessageRole,
};
use domain::tool::{Tool, ToolId};
use domain::user::UserId;
use sqlx::PgPool;
use uuid::Uuid;

use crate::ports::AppendListener;
use crate::{Appended, CommandContext, CommandError, CommandRunner, StoreError};

pub type LearningCommandError = CommandError<LearningSessionError>;

/// Why a session could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("the tool is not offered to this class")]
    ToolNotAvailable,
    #[error(transparent)]
    Command(#[from] LearningCommandError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

pub struct LearningSessions {
    runner: CommandRunner<LearningSession>,
    tools: CommandRunner<Tool>,
}

impl LearningSessions {
    pub fn new(pool: PgPool, listener: Arc<dyn AppendListener>) -> Self {
        Self {
            runner: CommandRunner::new(pool.clone(), listener.clone()),
            tools: CommandRunner::new(pool, listener),
        }
    }

    /// Starts a session. The caller was authorized to start sessions in the class; the tool
    /// must be active and belong to the class's group or one of its ancestors.
    pub async fn start(
        &self,
        context: &CommandContext,
        student_id: UserId,
        class_id: Uuid,
        class_group_path: &[Uuid],
        tool_id: ToolId,
    ) -> Result<(LearningSessionId, Appended), StartError> {
        let (tool, _) = self.tools.load(tool_id).await?;
        let offered = tool.created
            && !tool.archived
            && tool.group_id.is_some_and(|g| class_group_path.contains(&g));
        if !offered {
            return Err(StartError::ToolNotAvailable);
        }
        let group_id = *class_group_path
            .last()
            .ok_or(StartError::ToolNotAvailable)?;
        let id = Uuid::now_v7();
        let appended = self
            .runner
            .execute_new(
                id,
                LearningSessionCommand::Start {
                    student_id,
                    class_id,
                    group_id,
                    tool_id,
                },
                context,
            )
            .await
            .map_err(StartError::Command)?;
        Ok((id, appended))
    }

    pub async fn post_message(
        &self,
        context: &CommandContext,
        id: LearningSessionId,
        role: MessageRole,
        content: String,
    ) -> Result<Appended, LearningCommandError> {
        self.runner
            .execute_retrying(
                id,
                LearningSessionCommand::PostMessage { role, content },
                context,
            )
            .await
    }

    /// Posts a workflow's assistant message under the id the workflow derived for it: the
    /// same id again changes nothing.
    pub async fn post_workflow_message(
        &self,
        context: &CommandContext,
        id: LearningSessionId,
        message_id: Uuid,
        content: String,
    ) -> Result<Appended, LearningCommandError> {
        self.runner
            .execute(
                id,
                LearningSessionCommand::PostWorkflowMessage {
                    message_id,
                    content,
                },
                context,
            )
            .await
    }

    pub async fn record_detection(
        &self,
        context: &CommandContext,
        id: LearningSessionId,
        detection: Detection,
    ) -> Result<(Appended, LearningSession), LearningCommandError> {
        self.runner
            .execute_for_state_retrying(
                id,
                LearningSessionCommand::RecordDetection(detection),
                context,
            )
            .await
    }

    pub async fn pause(
        &self,
        context: &CommandContext,
        id: LearningSessionId,
        reason: String,
    ) -> Result<Appended, LearningCommandError> {
        self.runner
            .execute_retrying(id, LearningSessionCommand::Pause { reason }, context)
            .await
    }

    pub async fn resume(
        &self,
        context: &CommandContext,
        id: LearningSessionId,
        reason: String,
    ) -> Result<Appended, LearningCommandError> {
        self.runner
            .execute_retrying(id, LearningSessionCommand::Resume { reason }, context)
            .await
    }

    pub async fn complete(
        &self,
        context: &CommandContext,
        id: LearningSessionId,
        summary: String,
        topics_covered: Vec<String>,
    ) -> Result<Appended, LearningCommandError> {
        self.runner
            .execute_retrying(
                id,
                LearningSessionCommand::Complete {
                    summary,
                    topics_covered,
                },
                context,
            )
            .await
    }
}
