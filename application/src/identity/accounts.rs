//! Accounts: creating one (with a password, or without one for a provider's sign-in),
//! renaming it, changing its password, and disabling or enabling it (which ends or keeps its
//! sessions).

use chrono::{DateTime, Utc};
use domain::auth_session::EndReason;
use domain::user::{DisplayName, Email, Password, User, UserCommand, UserId};
use uuid::Uuid;

use super::error::IdentityError;
use super::principal::Principal;
use super::sessions::{Device, StartedSession};
use super::{max_position, Identity};
use crate::store::lookups;
use crate::{CommandContext, CommandError, StoreError};

/// The account a login or registration signed in, as the write side knows it right after:
/// the response needs no read model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    pub id: UserId,
    pub email: String,
    pub name: String,
    pub system_admin: bool,
    pub auditor: bool,
    /// When the account was created (its first event was recorded).
    pub created_at: DateTime<Utc>,
}

impl Account {
    pub(super) fn of(id: UserId, user: &User, created_at: DateTime<Utc>) -> Self {
        Self {
            id,
            email: user
                .email
                .as_ref()
                .map(|e| e.as_str().to_owned())
                .unwrap_or_default(),
            name: user
                .name
                .as_ref()
                .map(|n| n.as_str().to_owned())
                .unwrap_or_default(),
            system_admin: user.system_admin,
            auditor: user.auditor,
            created_at,
        }
    }
}

impl Identity {
    /// The account id registered for `email`, from the reservation written with the events.
    pub async fn user_id_for(&self, email: &Email) -> Result<Option<UserId>, StoreError> {
        Ok(lookups::user_of_email(&self.pool, email).await?)
    }

    /// Creates an account and signs it in.
    #[tracing::instrument(skip_all)]
    pub async fn register(
        &self,
        context: &CommandContext,
        email: Email,
        name: DisplayName,
        password: Password,
        device: Device,
    ) -> Result<(StartedSession, Account), IdentityError> {
        if self.user_id_for(&email).await?.is_some() {
            return Err(IdentityError::EmailTaken);
        }
        let account = self
            .create_account(context, email, name, &password, false)
            .await?;
        let session = self.start_session(context, account.id, device).await?;
        Ok((session, account))
    }

    /// Creates an account without a session (also used by `create-admin`).
    pub async fn create_account(
        &self,
        context: &CommandContext,
        email: Email,
        name: DisplayName,
        password: &Password,
        system_admin: bool,
    ) -> Result<Account, IdentityError> {
        let password_hash = self
            .hasher
            .hash(password)
            .await
            .map_err(|_| IdentityError::Hashing)?;
        let user_id = Uuid::now_v7();
        let command = UserCommand::Register {
            email,
            name,
            password_hash: Some(password_hash),
            system_admin,
        };
        // A fresh id: nothing to load, and no cached session can name the account yet.
        match self
            .users
            .execute_new_for_state(user_id, command, context)
            .await
        {
            Ok((appended, user)) => {
                self.cache.note_change(appended.position);
                let created_at = appended.recorded_at.unwrap_or_else(|| self.clock.now());
                Ok(Account::of(user_id, &user, created_at))
            }
            // A brand-new stream can only conflict on the email reservation.
            Err(CommandError::Conflict) => Err(IdentityError::EmailTaken),
            Err(e) => Err(e.into()),
        }
    }

    /// Creates an account without a password (signed in through a provider).
    pub async fn create_passwordless_account(
        &self,
        context: &CommandContext,
        email: Email,
        name: DisplayName,
    ) -> Result<UserId, IdentityError> {
        let user_id = Uuid::now_v7();
        let command = UserCommand::Register {
            email,
            name,
            password_hash: None,
            system_admin: false,
        };
        match self.run_user(user_id, command, context).await {
            Ok(_) => Ok(user_id),
            Err(CommandError::Conflict) => Err(IdentityError::EmailTaken),
            Err(e) => Err(e.into()),
        }
    }

    /// Changes the account's display name. The position to wait for, or `None` when the
    /// name was already that.
    pub async fn change_name(
        &self,
        context: &CommandContext,
        user_id: UserId,
        name: DisplayName,
    ) -> Result<Option<i64>, IdentityError> {
        Ok(self
            .run_user(user_id, UserCommand::ChangeName { name }, context)
            .await?
            .position)
    }

    /// Changes the password after checking the current one; ends every other session.
    ///
    /// Checking the current password is a password guess like a login: it is refused while
    /// the account's logins are throttled (`Throttled`, even with the right password), a
    /// wrong one is recorded as a failed login (`user.login_failed`, which throttles logins
    /// and later changes alike), and the right one clears the count as a login does.
    /// Otherwise anyone holding a session (a stolen one, a shared computer) could guess the
    /// password without limit, and learn it.
    pub async fn change_password(
        &self,
        context: &CommandContext,
        principal: &Principal,
        current: &Password,
        new: &Password,
    ) -> Result<Option<i64>, IdentityError> {
        let (user, _) = self.users.load(principal.user_id).await?;
        let now = self.clock.now();
        super::login::refuse_until(user.login_throttled_until(), now)?;
        let ok = match &user.password_hash {
            Some(hash) => self.hasher.verify(current, hash).await,
            None => {
                self.hasher.verify_dummy(current).await;
                false
            }
        };
        if !ok {
            match self
                .user_command_retrying(
                    context,
                    principal.user_id,
                    UserCommand::RecordFailedLogin { at: now },
                )
                .await
            {
                // Concurrent guesses: the others were counted.
                Ok(_) | Err(IdentityError::Conflict) => {}
                Err(error) => return Err(error),
            }
            return Err(IdentityError::InvalidCredentials);
        }
        if user.failed_logins > 0 {
            self.user_command_retrying(
                context,
                principal.user_id,
                UserCommand::RecordSuccessfulLogin,
            )
            .await?;
        }
        let password_hash = self
            .hasher
            .hash(new)
            .await
            .map_err(|_| IdentityError::Hashing)?;
        let appended = self
            .run_user(
                principal.user_id,
                UserCommand::ChangePassword { password_hash },
                context,
            )
            .await?;
        let ended = self
            .end_all_sessions(
                context,
                principal.user_id,
                Some(principal.session_id),
                EndReason::PasswordChange,
            )
            .await?;
        Ok(max_position(appended.position, ended))
    }

    /// Disables or enables an account; disabling ends all its sessions.
    pub async fn set_disabled(
        &self,
        context: &CommandContext,
        user_id: UserId,
        disabled: bool,
    ) -> Result<Option<i64>, IdentityError> {
        let command = if disabled {
            UserCommand::Disable
        } else {
            UserCommand::Enable
        };
        let appended = self.run_user(user_id, command, context).await?;
        let ended = if disabled {
            self.end_all_sessions(context, user_id, None, EndReason::Disabled)
                .await?
        } else {
            None
        };
        Ok(max_position(appended.position, ended))
    }
}
