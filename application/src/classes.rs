//! Class use cases.

use std::sync::Arc;

use domain::class::{Class, ClassCommand, ClassError, ClassGroup, ClassId, ClassName, ClassRole};
use domain::group::{Group, GroupId};
use domain::theme::Theme;
use domain::user::UserId;
use sqlx::PgPool;
use uuid::Uuid;

use crate::ports::AppendListener;
use crate::{Appended, CommandContext, CommandError, CommandRunner};

pub type ClassCommandError = CommandError<ClassError>;

/// Creates, renames, archives and moves classes, manages their members and sets their theme.
pub struct Classes {
    runner: CommandRunner<Class>,
    groups: CommandRunner<Group>,
}

impl Classes {
    pub fn new(pool: PgPool, listener: Arc<dyn AppendListener>) -> Self {
        Self {
            runner: CommandRunner::new(pool.clone(), listener.clone()),
            groups: CommandRunner::new(pool, listener),
        }
    }

    async fn group_fact(&self, group_id: GroupId) -> Result<ClassGroup, ClassCommandError> {
        let (state, _) = self.groups.load(group_id).await?;
        Ok(if !state.created {
            ClassGroup::Missing(group_id)
        } else if state.archived {
            ClassGroup::Archived(group_id)
        } else {
            ClassGroup::Active(group_id)
        })
    }

    pub async fn create(
        &self,
        context: &CommandContext,
        group_id: GroupId,
        name: ClassName,
    ) -> Result<(ClassId, Appended), ClassCommandError> {
        let group = self.group_fact(group_id).await?;
        let id = Uuid::now_v7();
        let appended = self
            .runner
            .execute_new(id, ClassCommand::Create { name, group }, context)
            .await?;
        Ok((id, appended))
    }

    pub async fn rename(
        &self,
        context: &CommandContext,
        id: ClassId,
        name: ClassName,
    ) -> Result<Appended, ClassCommandError> {
        self.runner
            .execute_retrying(id, ClassCommand::Rename { name }, context)
            .await
    }

    pub async fn archive(
        &self,
        context: &CommandContext,
        id: ClassId,
    ) -> Result<Appended, ClassCommandError> {
        self.runner
            .execute_retrying(id, ClassCommand::Archive, context)
            .await
    }

    pub async fn move_to(
        &self,
        context: &CommandContext,
        id: ClassId,
        group_id: GroupId,
    ) -> Result<Appended, ClassCommandError> {
        let group = self.group_fact(group_id).await?;
        self.runner
            .execute_retrying(id, ClassCommand::Move { group }, context)
            .await
    }

    pub async fn set_member(
        &self,
        context: &CommandContext,
        id: ClassId,
        user_id: UserId,
        role: ClassRole,
    ) -> Result<Appended, ClassCommandError> {
        self.runner
            .execute_retrying(id, ClassCommand::SetMember { user_id, role }, context)
            .await
    }

    pub async fn remove_member(
        &self,
        context: &CommandContext,
        id: ClassId,
        user_id: UserId,
    ) -> Result<Appended, ClassCommandError> {
        self.runner
            .execute_retrying(id, ClassCommand::RemoveMember { user_id }, context)
            .await
    }

    /// Replaces the class's own theme (a whole theme: a value left out is inherited from
    /// the class's group). Decided again on the new state after a lost race: the answer
    /// does not depend on what the class held.
    #[tracing::instrument(skip_all, fields(class = %id))]
    pub async fn set_theme(
        &self,
        context: &CommandContext,
        id: ClassId,
        theme: Theme,
    ) -> Result<Appended, ClassCommandError> {
        self.runner
            .execute_retrying(id, ClassCommand::SetTheme { theme }, context)
            .await
    }
}
