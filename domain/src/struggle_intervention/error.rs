/// Why an intervention refuses a command.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StruggleInterventionError {
    #[error("the intervention does not exist")]
    NotFound,
    #[error("the intervention already exists")]
    AlreadyStarted,
    #[error("the intervention has ended")]
    Ended,
    #[error("the intervention is not waiting for that timer")]
    UnknownTimer,
    #[error("the intervention has not reached its recheck")]
    NotDue,
    #[error("the intervention did not decide to post that message")]
    UnknownMessage,
    #[error("the topic is empty or too long")]
    Topic,
}
