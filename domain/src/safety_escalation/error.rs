/// Why an escalation refuses a command.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SafetyEscalationError {
    #[error("the safety concern does not exist")]
    NotFound,
    #[error("the safety concern already exists")]
    AlreadyOpened,
    #[error("the safety concern is already acknowledged")]
    AlreadyAcknowledged,
    #[error("the safety concern is resolved")]
    Resolved,
    #[error("the escalation is not waiting for that timer")]
    UnknownTimer,
    #[error("alerts go up one level at a time")]
    LevelOutOfOrder,
    #[error("the resolution notes are empty or too long")]
    Notes,
}
