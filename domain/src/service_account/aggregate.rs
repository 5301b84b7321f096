//! The `ServiceAccount` aggregate: the state a service account's commands are decided on,
//! the decisions and their given/when/then tests.

use serde::{Deserialize, Serialize};

use super::{ServiceAccountCommand, ServiceAccountError, ServiceAccountEvent};
use crate::Aggregate;

/// The write-side state of one service account: only what its commands are decided on.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ServiceAccount {
    pub created: bool,
    pub revoked: bool,
}

impl Aggregate for ServiceAccount {
    const TYPE: &'static str = "service_account";
    type Command = ServiceAccountCommand;
    type Event = ServiceAccountEvent;
    type Error = ServiceAccountError;

    fn handle(
        &self,
        command: ServiceAccountCommand,
    ) -> Result<Vec<ServiceAccountEvent>, ServiceAccountError> {
        match command {
            ServiceAccountCommand::Create {
                name,
                group_ids,
                secret_hash,
            } => {
                if self.created {
                    return Err(ServiceAccountError::AlreadyExists);
                }
                let name = name.trim().to_owned();
                if name.is_empty() || name.chars().count() > 200 || group_ids.is_empty() {
                    return Err(ServiceAccountError::Invalid);
                }
                crate::name::check_readable(&name).map_err(ServiceAccountError::UnreadableName)?;
                Ok(vec![ServiceAccountEvent::Created {
                    name,
                    group_ids,
                    secret_hash,
                }])
            }
            ServiceAccountCommand::RotateSecret { secret_hash } => {
                if !self.created {
                    return Err(ServiceAccountError::NotFound);
                }
                if self.revoked {
                    return Err(ServiceAccountError::Revoked);
                }
                Ok(vec![ServiceAccountEvent::SecretRotated { secret_hash }])
            }
            ServiceAccountCommand::Revoke => {
                if !self.created {
                    return Err(ServiceAccountError::NotFound);
                }
                if self.revoked {
                    return Ok(vec![]);
                }
                Ok(vec![ServiceAccountEvent::Revoked])
            }
        }
    }

    fn apply(&mut self, event: ServiceAccountEvent) {
        match event {
            ServiceAccountEvent::Created { .. } => self.created = true,
            ServiceAccountEvent::SecretRotated { .. } => {}
            ServiceAccountEvent::Revoked => self.revoked = true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aggregate::testing::{given, given_no_previous_events};
    use crate::group::GroupId;
    use crate::user::TokenHash;

    fn created() -> ServiceAccountEvent {
        ServiceAccountEvent::Created {
            name: "Tutor".into(),
            group_ids: vec![GroupId::from_u128(1)],
            secret_hash: TokenHash("h".into()),
        }
    }

    #[test]
    fn create_rotate_revoke() {
        given_no_previous_events::<ServiceAccount>()
            .when(ServiceAccountCommand::Create {
                name: " Tutor ".into(),
                group_ids: vec![GroupId::from_u128(1)],
                secret_hash: TokenHash("h".into()),
            })
            .then_expect_events(vec![created()]);
        given_no_previous_events::<ServiceAccount>()
            .when(ServiceAccountCommand::Create {
                name: "Tutor".into(),
                group_ids: vec![],
                secret_hash: TokenHash("h".into()),
            })
            .then_expect_error(ServiceAccountError::Invalid);
        given::<ServiceAccount>(vec![created()])
            .when(ServiceAccountCommand::RotateSecret {
                secret_hash: TokenHash("h2".into()),
            })
            .then_expect_events(vec![ServiceAccountEvent::SecretRotated {
                secret_hash: TokenHash("h2".into()),
            }]);
        given::<ServiceAccount>(vec![created(), ServiceAccountEvent::Revoked])
            .when(ServiceAccountCommand::RotateSecret {
                secret_hash: TokenHash("h3".into()),
            })
            .then_expect_error(ServiceAccountError::Revoked);
        given::<ServiceAccount>(vec![created(), ServiceAccountEvent::Revoked])
            .when(ServiceAccountCommand::Revoke)
            .then_expect_events(vec![]);
    }

    #[test]
    fn an_unreadable_name_is_refused() {
        given_no_previous_events::<ServiceAccount>()
            .when(ServiceAccountCommand::Create {
                name: "Tutor\u{202e}".into(),
                group_ids: vec![GroupId::from_u128(1)],
                secret_hash: TokenHash("h".into()),
            })
            .then_expect_error(ServiceAccountError::UnreadableName(
                crate::name::UnreadableName::FormatCharacters,
            ));
    }
}
