//! Signing in with a password. An unknown email costs the same hashing work, fails with the
//! same error and is throttled on the same schedule as a wrong password for an account; a
//! correct password under outdated hashing parameters is hashed again and stored.

use chrono::{DateTime, Utc};
use domain::user::{login_throttled_until, Email, Password, UserCommand, UserError, UserId};
use sha2::{Digest, Sha256};

use super::accounts::Account;
use super::error::IdentityError;
use super::sessions::{Device, StartedSession};
use super::Identity;
use crate::store::{login_failures, lookups};
use crate::{CommandContext, CommandError, StoreError};

/// `Throttled` while `now` is before `until`.
pub(super) fn refuse_until(
    until: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> Result<(), IdentityError> {
    match until {
        Some(until) if now < until => Err(IdentityError::Throttled {
            retry_after: (until - now).to_std().unwrap_or_default(),
        }),
        _ => Ok(()),
    }
}

impl Identity {
    /// Checks the password and signs in. Unknown emails cost the same hashing work and fail
    /// with the same error as a wrong password.
    #[tracing::instrument(skip_all)]
    pub async fn login(
        &self,
        context: &CommandContext,
        email: &Email,
        password: &Password,
        device: Device,
    ) -> Result<(StartedSession, Account), IdentityError> {
        let Some((user_id, created_at)) = lookups::account_of_email(&self.pool, email)
            .await
            .map_err(StoreError::from)?
        else {
            self.count_unknown_email_failure(email, password).await?;
            return Err(IdentityError::InvalidCredentials);
        };
        let (user, _) = self.users.load(user_id).await?;
        let now = self.clock.now();
        refuse_until(user.login_throttled_until(), now)?;
        let matches = match &user.password_hash {
            Some(hash) => self.hasher.verify(password, hash).await,
            None => {
                self.hasher.verify_dummy(password).await;
                false
            }
        };
        if !matches {
            match self
                .user_command_retrying(context, user_id, UserCommand::RecordFailedLogin { at: now })
                .await
            {
                // Many failures at once for one account: the others were counted. A 409
                // here would tell an account from an unknown email, which never conflicts.
                Ok(_) | Err(IdentityError::Conflict) => {}
                Err(error) => return Err(error),
            }
            return Err(IdentityError::InvalidCredentials);
        }
        if user.disabled {
            return Err(IdentityError::Disabled);
        }
        if user.failed_logins > 0 {
            self.user_command_retrying(context, user_id, UserCommand::RecordSuccessfulLogin)
                .await?;
        }
        if let Some(hash) = user.password_hash.as_ref() {
            if self.hasher.needs_rehash(hash) {
                self.upgrade_password_hash(context, user_id, password, hash)
                    .await;
            }
        }
        let session = self.start_session(context, user_id, device).await?;
        Ok((session, Account::of(user_id, &user, created_at)))
    }

    /// A login for an email without an account, refused as an account's wrong password
    /// would be: throttled on the same schedule (the failures are counted in
    /// `unknown_email_login_failures`, shared by every instance), otherwise the same hashing
    /// work and one write. `Ok` once the failure is counted.
    async fn count_unknown_email_failure(
        &self,
        email: &Email,
        password: &Password,
    ) -> Result<(), IdentityError> {
        let key = Sha256::digest(email.as_str().as_bytes()).to_vec();
        let now = self.clock.now();
        let failures = login_failures::failures_of(&self.pool, &key)
            .await
            .map_err(StoreError::from)?;
        if let Some((failures, at)) = failures {
            let failures = u32::try_from(failures).unwrap_or(0);
            refuse_until(login_throttled_until(failures, Some(at)), now)?;
        }
        self.hasher.verify_dummy(password).await;
        login_failures::record_failure(&self.pool, &key, now)
            .await
            .map_err(StoreError::from)?;
        Ok(())
    }

    /// Stores the password just verified against `previous` under the current hashing
    /// parameters, so that raising them reaches every account at its next sign-in. Once per
    /// account and change of parameters, it costs that login one more hash. Best effort: if
    /// it fails, or the password changed meanwhile (the change wins), the login goes on and
    /// a later one tries again.
    async fn upgrade_password_hash(
        &self,
        context: &CommandContext,
        user_id: UserId,
        password: &Password,
        previous: &domain::user::PasswordHash,
    ) {
        let password_hash = match self.hasher.hash(password).await {
            Ok(hash) => hash,
            Err(error) => {
                tracing::warn!(%user_id, %error, "password hash not upgraded");
                return;
            }
        };
        let command = UserCommand::RehashPassword {
            previous: previous.clone(),
            password_hash,
        };
        match self.run_user(user_id, command, context).await {
            Ok(_) => {}
            // A concurrent sign-in upgraded it first, or the password changed: nothing to do.
            Err(CommandError::Conflict)
            | Err(CommandError::Rejected(UserError::PasswordChangedMeanwhile)) => {
                tracing::debug!(%user_id, "password hash upgraded or changed meanwhile");
            }
            Err(error) => tracing::warn!(%user_id, %error, "password hash not upgraded"),
        }
    }
}
