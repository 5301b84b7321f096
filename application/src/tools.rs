//! Tool use cases.

use std::sync::Arc;

use domain::group::{Group, GroupId};
use domain::tool::{Tool, ToolCommand, ToolError, ToolGroup, ToolId, ToolName};
use sqlx::PgPool;
use uuid::Uuid;

use crate::ports::AppendListener;
use crate::{Appended, CommandContext, CommandError, CommandRunner};

pub type ToolCommandError = CommandError<ToolError>;

/// Creates, updates and archives tools.
pub struct Tools {
    runner: CommandRunner<Tool>,
    groups: CommandRunner<Group>,
}

impl Tools {
    pub fn new(pool: PgPool, listener: Arc<dyn AppendListener>) -> Self {
        Self {
            runner: CommandRunner::new(pool.clone(), listener.clone()),
            groups: CommandRunner::new(pool, listener),
        }
    }

    pub async fn create(
        &self,
        context: &CommandContext,
        group_id: GroupId,
        name: ToolName,
        description: String,
    ) -> Result<(ToolId, Appended), ToolCommandError> {
        let (group, _) = self.groups.load(group_id).await?;
        let group = if !group.created {
            ToolGroup::Missing(group_id)
        } else if group.archived {
            ToolGroup::Archived(group_id)
        } else {
            ToolGroup::Active(group_id)
        };
        let id = Uuid::now_v7();
        let appended = self
            .runner
            .execute(
                id,
                ToolCommand::Create {
                    group,
                    name,
                    description,
                },
                context,
            )
            .await?;
        Ok((id, appended))
    }

    pub async fn update(
        &self,
        context: &CommandContext,
        id: ToolId,
        name: Option<ToolName>,
        description: Option<String>,
    ) -> Result<Appended, ToolCommandError> {
        self.runner
            .execute(id, ToolCommand::Update { name, description }, context)
            .await
    }

    pub async fn archive(
        &self,
        context: &CommandContext,
        id: ToolId,
    ) -> Result<Appended, ToolCommandError> {
        self.runner.execute(id, ToolCommand::Archive, context).await
    }
}
