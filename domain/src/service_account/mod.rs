//! Service accounts: non-human callers (the AI tutoring service) limited to some groups.

use serde::{Deserialize, Serialize};

use crate::group::GroupId;
use crate::user::TokenHash;
use crate::{Aggregate, DomainEvent};

pub type ServiceAccountId = uuid::Uuid;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ServiceAccount {
    pub created: bool,
    pub revoked: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub enum ServiceAccountCommand {
    Create {
        name: String,
        group_ids: Vec<GroupId>,
        secret_hash: TokenHash,
    },
    RotateSecret {
        secret_hash: TokenHash,
    },
    Revoke,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ServiceAccountError {
    #[error("the service account already exists")]
    AlreadyExists,
    #[error("the service account does not exist")]
    NotFound,
    #[error("the service account is revoked")]
    Revoked,
    #[error("a service account needs a name of 1 to 200 characters and at least one group")]
    Invalid,
}

/// `secret_hash` is redacted wherever events leave the server.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum ServiceAccountEvent {
    #[serde(rename = "service_account.created")]
    Created {
        name: String,
        group_ids: Vec<GroupId>,
        secret_hash: TokenHash,
    },
    #[serde(rename = "service_account.secret_rotated")]
    SecretRotated { secret_hash: TokenHash },
    #[serde(rename = "service_account.revoked")]
    Revoked,
}

impl DomainEvent for ServiceAccountEvent {
    fn event_type(&self) -> &'static str {
        match self {
            Self::Created { .. } => "service_account.created",
            Self::SecretRotated { .. } => "service_account.secret_rotated",
            Self::Revoked => "service_account.revoked",
        }
    }

    fn event_version(&self) -> &'static str {
        "1"
    }
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
    fn golden_json() {
        assert_eq!(
            serde_json::to_value(created()).unwrap(),
            serde_json::json!({"type": "service_account.created", "name": "Tutor",
                               "group_ids": ["00000000-0000-0000-0000-000000000001"],
                               "secret_hash": "h"})
        );
    }
}
