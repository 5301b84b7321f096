//! System roles: granting and revoking system admin and auditor.

use domain::user::{UserCommand, UserId};

use super::error::IdentityError;
use super::Identity;
use crate::{Appended, CommandContext};

impl Identity {
    /// Grants system admin to an existing account. Returns the append position.
    pub async fn set_system_admin(
        &self,
        context: &CommandContext,
        user_id: UserId,
        admin: bool,
    ) -> Result<Appended, IdentityError> {
        let command = if admin {
            UserCommand::GrantSystemAdmin
        } else {
            UserCommand::RevokeSystemAdmin
        };
        Ok(self.run_user(user_id, command, context).await?)
    }

    /// Grants or revokes the auditor role.
    pub async fn set_auditor(
        &self,
        context: &CommandContext,
        user_id: UserId,
        auditor: bool,
    ) -> Result<Appended, IdentityError> {
        let command = if auditor {
            UserCommand::GrantAuditor
        } else {
            UserCommand::RevokeAuditor
        };
        Ok(self.run_user(user_id, command, context).await?)
    }
}
