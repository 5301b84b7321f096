//! Signing in (and linking accounts) with OpenID providers.

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::Duration;
use domain::user::{DisplayName, Email, User, UserCommand, UserError, UserId};
use sqlx::PgPool;

use crate::identity::{Device, Identity, IdentityError, StartedSession};
use crate::ports::{AppendListener, OidcFailure, OidcProvider};
use crate::store::lookups;
use crate::store::oidc_flows::{self, NewFlow};
use crate::tokens;
use crate::{CommandContext, CommandError, CommandRunner, StoreError};

/// How long a started sign-in may take.
pub const FLOW_LIFETIME: Duration = Duration::minutes(10);

/// Why an external sign-in failed. `code()` is what the user sees.
#[derive(Debug, thiserror::Error)]
pub enum ExternalError {
    #[error("unknown provider")]
    UnknownProvider,
    #[error("the callback has no state")]
    MissingState,
    #[error("the state is unknown, used or expired")]
    UnknownState,
    #[error("the state belongs to another browser")]
    StateMismatch,
    #[error(transparent)]
    Provider(#[from] OidcFailure),
    #[error("the provider did not assert a verified email for an existing account")]
    EmailNotVerified,
    #[error("the provider gave no email")]
    NoEmail,
    #[error("this identity is linked to another account")]
    LinkedElsewhere,
    #[error("another identity of this provider is linked to the account")]
    ProviderAlreadyLinked,
    #[error("the account is disabled")]
    Disabled,
    #[error(transparent)]
    Identity(#[from] IdentityError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl ExternalError {
    /// The stable code of `FRONTEND_URL/login?error=<code>`.
    pub fn code(&self) -> &'static str {
        match self {
            Self::UnknownProvider => "unknown_provider",
            Self::MissingState => "missing_state",
            Self::UnknownState => "invalid_state",
            Self::StateMismatch => "state_mismatch",
            Self::Provider(failure) => failure.code,
            Self::EmailNotVerified => "email_not_verified",
            Self::NoEmail => "email_missing",
            Self::LinkedElsewhere => "identity_linked_elsewhere",
            Self::ProviderAlreadyLinked => "provider_already_linked",
            Self::Disabled | Self::Identity(IdentityError::Disabled) => "account_disabled",
            Self::Identity(_) | Self::Store(_) => "server_error",
        }
    }
}

impl From<CommandError<UserError>> for ExternalError {
    fn from(error: CommandError<UserError>) -> Self {
        match error {
            CommandError::Rejected(UserError::ProviderAlreadyLinked) => Self::ProviderAlreadyLinked,
            CommandError::Rejected(UserError::Disabled) => Self::Disabled,
            CommandError::Conflict => Self::LinkedElsewhere,
            other => Self::Identity(other.into()),
        }
    }
}

/// What a started flow is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    Login,
    Link(UserId),
}

/// A started flow: where to send the browser, and the value of its binding cookie.
pub struct Started {
    pub redirect_url: String,
    pub browser_binding: String,
}

/// How a callback ended.
pub enum Completed {
    SignedIn {
        session: StartedSession,
        new_user: bool,
    },
    Linked {
        user_id: UserId,
        position: Option<i64>,
    },
}

/// A provider link of an account.
#[derive(Debug, Clone)]
pub struct Link {
    pub provider: String,
    pub linked_at: chrono::DateTime<chrono::Utc>,
}

pub struct ExternalSignIn {
    identity: Arc<Identity>,
    users: CommandRunner<User>,
    pool: PgPool,
    providers: BTreeMap<&'static str, Arc<dyn OidcProvider>>,
}

impl ExternalSignIn {
    pub fn new(
        pool: PgPool,
        listener: Arc<dyn AppendListener>,
        identity: Arc<Identity>,
        providers: Vec<Arc<dyn OidcProvider>>,
    ) -> Self {
        Self {
            identity,
            users: CommandRunner::new(pool.clone(), listener),
            pool,
            providers: providers.into_iter().map(|p| (p.name(), p)).collect(),
        }
    }

    /// The configured providers.
    pub fn provider_names(&self) -> Vec<&'static str> {
        self.providers.keys().copied().collect()
    }

    fn provider(&self, name: &str) -> Result<&Arc<dyn OidcProvider>, ExternalError> {
        self.providers
            .get(name)
            .ok_or(ExternalError::UnknownProvider)
    }

    /// Starts a sign-in or a link at `provider`.
    pub async fn begin(&self, provider: &str, purpose: Purpose) -> Result<Started, ExternalError> {
        let provider = self.provider(provider)?;
        let start = provider.start().await?;
        let (binding, binding_hash) = tokens::new_token();
        let (kind, user_id) = match purpose {
            Purpose::Login => ("login", None),
            Purpose::Link(user) => ("link", Some(user)),
        };
        oidc_flows::delete_stale(&self.pool)
            .await
            .map_err(StoreError::from)?;
        let flow = NewFlow {
            state_hash: &tokens::hash_token(&start.state).0,
            browser_hash: &binding_hash.0,
            provider: provider.name(),
            purpose: kind,
            user_id,
            pkce_verifier: &start.pkce_verifier,
            nonce: &start.nonce,
        };
        oidc_flows::insert(&self.pool, &flow)
            .await
            .map_err(StoreError::from)?;
        Ok(Started {
            redirect_url: start.url,
            browser_binding: binding,
        })
    }

    /// Finishes a flow at its callback. The flow is consumed first, so a replayed callback
    /// (the same code and state again) finds nothing and never reaches the token endpoint.
    pub async fn complete(
        &self,
        context: &CommandContext,
        provider_name: &str,
        code: &str,
        state: Option<&str>,
        browser_binding: Option<&str>,
        device: Device,
    ) -> Result<Completed, ExternalError> {
        let provider = self.provider(provider_name)?.clone();
        let state = state
            .filter(|s| !s.is_empty())
            .ok_or(ExternalError::MissingState)?;
        let flow = oidc_flows::take(&self.pool, &tokens::hash_token(state).0, provider.name())
            .await
            .map_err(StoreError::from)?
            .ok_or(ExternalError::UnknownState)?;
        if !flow.fresh {
            return Err(ExternalError::UnknownState);
        }
        let expected = domain::user::TokenHash(flow.browser_hash);
        let presented = browser_binding.map(tokens::hash_token);
        if !presented.is_some_and(|p| tokens::hashes_equal(&p, &expected)) {
            return Err(ExternalError::StateMismatch);
        }
        let (purpose, user_id) = (flow.purpose, flow.user_id);

        let external = provider
            .finish(code, &flow.pkce_verifier, &flow.nonce)
            .await?;
        let linked = lookups::user_of_identity(&self.pool, provider.name(), &external.subject)
            .await
            .map_err(StoreError::from)?;

        if purpose == "link" {
            let user_id = user_id.ok_or(ExternalError::UnknownState)?;
            if linked.is_some_and(|owner| owner != user_id) {
                return Err(ExternalError::LinkedElsewhere);
            }
            let appended = self
                .users
                .execute(
                    user_id,
                    UserCommand::LinkIdentity {
                        provider: provider.name().to_owned(),
                        subject: external.subject.clone(),
                        user_type: external.user_type.clone(),
                    },
                    context,
                )
                .await?;
            return Ok(Completed::Linked {
                user_id,
                position: appended.position,
            });
        }

        if let Some(user_id) = linked {
            let (user, _) = self.users.load(user_id).await?;
            if user.disabled {
                return Err(ExternalError::Disabled);
            }
            self.users
                .execute(
                    user_id,
                    UserCommand::UpdateIdentityProfile {
                        provider: provider.name().to_owned(),
                        user_type: external.user_type.clone(),
                    },
                    context,
                )
                .await?;
            let session = self
                .identity
                .start_session_for(context, user_id, device)
                .await?;
            return Ok(Completed::SignedIn {
                session,
                new_user: false,
            });
        }

        let email = external
            .email
            .as_deref()
            .and_then(|e| Email::parse(e).ok())
            .ok_or(ExternalError::NoEmail)?;
        // Only a provider that vouches for the email may attach it to an account, new or
        // existing: otherwise anyone could claim someone else's address first.
        if !external.email_verified {
            return Err(ExternalError::EmailNotVerified);
        }
        let link = UserCommand::LinkIdentity {
            provider: provider.name().to_owned(),
            subject: external.subject.clone(),
            user_type: external.user_type.clone(),
        };
        if let Some(existing) = self.identity.user_id_for(&email).await? {
            let (user, _) = self.users.load(existing).await?;
            if user.disabled {
                return Err(ExternalError::Disabled);
            }
            self.users.execute(existing, link, context).await?;
            let session = self
                .identity
                .start_session_for(context, existing, device)
                .await?;
            return Ok(Completed::SignedIn {
                session,
                new_user: false,
            });
        }
        let name = external
            .name
            .as_deref()
            .and_then(|n| DisplayName::parse(n).ok())
            .or_else(|| DisplayName::parse(email.as_str().split('@').next().unwrap_or("user")).ok())
            .unwrap_or_else(|| DisplayName::parse("New user").expect("valid"));
        let user_id = self
            .identity
            .create_passwordless_account(context, email, name)
            .await?;
        self.users.execute(user_id, link, context).await?;
        let session = self
            .identity
            .start_session_for(context, user_id, device)
            .await?;
        Ok(Completed::SignedIn {
            session,
            new_user: true,
        })
    }

    /// The providers linked to an account.
    pub async fn links(&self, user_id: UserId) -> Result<Vec<Link>, StoreError> {
        Ok(lookups::links_of(&self.pool, user_id)
            .await?
            .into_iter()
            .map(|(provider, linked_at)| Link {
                provider,
                linked_at,
            })
            .collect())
    }

    /// Unlinks a provider, unless that would leave no way to sign in.
    pub async fn unlink(
        &self,
        context: &CommandContext,
        user_id: UserId,
        provider: &str,
    ) -> Result<(), CommandError<UserError>> {
        self.users
            .execute(
                user_id,
                UserCommand::UnlinkIdentity {
                    provider: provider.to_owned(),
                },
                context,
            )
            .await
            .map(drop)
    }
}
