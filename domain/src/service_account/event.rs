//! What happened to a service account: the events and their JSON contract (golden tests).

use serde::{Deserialize, Serialize};

use crate::group::GroupId;
use crate::user::TokenHash;
use crate::DomainEvent;

/// What happened to a service account. The JSON form is a contract (see the golden tests
/// below). `secret_hash` is redacted wherever events leave the server.
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

#[cfg(test)]
mod golden {
    use super::*;

    #[test]
    fn golden_json() {
        let created = ServiceAccountEvent::Created {
            name: "Tutor".into(),
            group_ids: vec![GroupId::from_u128(1)],
            secret_hash: TokenHash("h".into()),
        };
        assert_eq!(
            serde_json::to_value(created).unwrap(),
            serde_json::json!({"type": "service_account.created", "name": "Tutor",
                               "group_ids": ["00000000-0000-0000-0000-000000000001"],
                               "secret_hash": "h"})
        );
    }
}
