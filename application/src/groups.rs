//! Group use cases.

use std::sync::Arc;

use domain::group::{Group, GroupCommand, GroupError, GroupId, GroupName, ParentGroup};
use sqlx::PgPool;
use uuid::Uuid;

use crate::ports::AppendListener;
use crate::{Appended, CommandContext, CommandError, CommandRunner};

pub type GroupCommandError = CommandError<GroupError>;

/// Creates, renames and archives groups.
pub struct Groups {
    runner: CommandRunner<Group>,
}

impl Groups {
    pub fn new(pool: PgPool, listener: Arc<dyn AppendListener>) -> Self {
        Self {
            runner: CommandRunner::new(pool, listener),
        }
    }

    /// Creates a group, optionally under `parent`. The parent's state is read from the write
    /// side (its events), not from a read model.
    // Known gap, kept for the hierarchy issue: a parent archived between this check and the
    // append still gets the child. Archiving does not yet cascade or check for children.
    #[tracing::instrument(skip_all)]
    pub async fn create(
        &self,
        context: &CommandContext,
        name: GroupName,
        parent: Option<GroupId>,
    ) -> Result<(GroupId, Appended), GroupCommandError> {
        let parent = match parent {
            None => ParentGroup::None,
            Some(parent_id) => {
                let (state, _) = self.runner.load(parent_id).await?;
                if !state.created {
                    ParentGroup::Missing(parent_id)
                } else if state.archived {
                    ParentGroup::Archived(parent_id)
                } else {
                    ParentGroup::Active(parent_id)
                }
            }
        };
        let id = Uuid::now_v7();
        let appended = self
            .runner
            .execute(id, GroupCommand::Create { name, parent }, context)
            .await?;
        Ok((id, appended))
    }

    #[tracing::instrument(skip_all, fields(group = %id))]
    pub async fn rename(
        &self,
        context: &CommandContext,
        id: GroupId,
        name: GroupName,
    ) -> Result<Appended, GroupCommandError> {
        self.runner
            .execute(id, GroupCommand::Rename { name }, context)
            .await
    }

    #[tracing::instrument(skip_all, fields(group = %id))]
    pub async fn archive(
        &self,
        context: &CommandContext,
        id: GroupId,
    ) -> Result<Appended, GroupCommandError> {
        self.runner
            .execute(id, GroupCommand::Archive, context)
            .await
    }
}
