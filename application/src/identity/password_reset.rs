//! Password reset: the emailed token (sent in the background, so that neither the answer nor
//! its timing tells whether the email has an account; each send's outcome recorded as an
//! event) and its confirmation, which ends every session of the account.

use std::sync::Arc;

use domain::auth_session::EndReason;
use domain::user::{Email, Password, ResetEmailOutcome, UserCommand};
use uuid::Uuid;

use super::error::IdentityError;
use super::{max_position, Identity};
use crate::ports::OutgoingEmail;
use crate::store::lookups;
use crate::tokens;
use crate::{CommandContext, CommandError, StoreError};

impl Identity {
    /// Starts a password reset for `email` in the background: the caller's response must not
    /// depend on whether the account exists (not even in its timing).
    pub fn request_password_reset(self: &Arc<Self>, context: CommandContext, email: Email) {
        let this = self.clone();
        tokio::spawn(async move {
            if let Err(error) = this.run_password_reset(&context, &email).await {
                tracing::warn!(%error, "password reset request failed");
            }
        });
    }

    async fn run_password_reset(
        &self,
        context: &CommandContext,
        email: &Email,
    ) -> Result<(), IdentityError> {
        let Some(user_id) = self.user_id_for(email).await? else {
            tracing::info!("password reset for an unknown email; nothing sent");
            return Ok(());
        };
        let (token, token_hash) = tokens::new_token();
        let reset_id = Uuid::now_v7();
        let expires_at = self.clock.now() + self.settings.reset_token_ttl;
        // Retried on conflicts: the previous reset's delivery record may be appended at the
        // same moment.
        match self
            .user_command_retrying(
                context,
                user_id,
                UserCommand::RequestPasswordReset {
                    reset_id,
                    token_hash,
                    expires_at,
                },
            )
            .await
        {
            Ok(_) => {}
            Err(IdentityError::Disabled) => return Ok(()),
            Err(e) => return Err(e),
        }
        let link = format!(
            "{}/reset-password?token={token}",
            self.settings.frontend_url.trim_end_matches('/')
        );
        let minutes = self.settings.reset_token_ttl.num_minutes();
        let message = OutgoingEmail {
            to: email.as_str().to_owned(),
            subject: "Reset your Raptscallions password".into(),
            text: format!(
                "Someone asked to reset the password of your Raptscallions account.\n\n\
                 To choose a new password, open this link within {minutes} minutes:\n{link}\n\n\
                 Reset token: {token}\n\n\
                 If you did not ask for this, ignore this email: your password stays as it is.\n"
            ),
            html: None,
            message_id: None,
        };
        let retry = self.settings.mail_retry;
        let mut delay = retry.first_delay;
        for attempt in 1..=retry.attempts.max(1) {
            match self.mailer.send(&message).await {
                Ok(()) => {
                    self.user_command_retrying(
                        context,
                        user_id,
                        UserCommand::RecordResetEmail {
                            reset_id,
                            outcome: ResetEmailOutcome::Sent,
                        },
                    )
                    .await?;
                    return Ok(());
                }
                Err(error) => {
                    let final_attempt = attempt >= retry.attempts;
                    tracing::warn!(%error, attempt, final_attempt, "reset email not sent");
                    self.user_command_retrying(
                        context,
                        user_id,
                        UserCommand::RecordResetEmail {
                            reset_id,
                            outcome: ResetEmailOutcome::Failed {
                                attempt,
                                final_attempt,
                            },
                        },
                    )
                    .await?;
                    if final_attempt {
                        return Ok(());
                    }
                    tokio::time::sleep(delay).await;
                    delay *= 2;
                }
            }
        }
        Ok(())
    }

    /// Completes a reset with the emailed token; ends every session of the account.
    pub async fn confirm_password_reset(
        &self,
        context: &CommandContext,
        token: &str,
        new: &Password,
    ) -> Result<Option<i64>, IdentityError> {
        if !tokens::looks_like_token(token) {
            return Err(IdentityError::InvalidResetToken);
        }
        let token_hash = tokens::hash_token(token);
        // From the log, not the read model (see `user_of_reset_token`). A used, superseded
        // or expired token is refused before it costs a hash (the log still finds it); the
        // command checks again as it appends.
        let Some(user_id) = lookups::user_of_reset_token(&self.pool, &token_hash)
            .await
            .map_err(StoreError::from)?
        else {
            return Err(IdentityError::InvalidResetToken);
        };
        let (user, _) = self.users.load(user_id).await?;
        user.pending_reset_for(&token_hash, self.clock.now())
            .map_err(|e| IdentityError::from(CommandError::Rejected(e)))?;
        let password_hash = self
            .hasher
            .hash(new)
            .await
            .map_err(|_| IdentityError::Hashing)?;
        let appended = self
            .run_user(
                user_id,
                UserCommand::CompletePasswordReset {
                    token_hash,
                    password_hash,
                    at: self.clock.now(),
                },
                context,
            )
            .await?;
        let ended = self
            .end_all_sessions(context, user_id, None, EndReason::PasswordReset)
            .await?;
        Ok(max_position(appended.position, ended))
    }
}
