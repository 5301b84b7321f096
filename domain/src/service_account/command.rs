//! What can be asked of a service account.

use crate::group::GroupId;
use crate::user::TokenHash;

/// What can be asked of a service account.
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
