//! Why a command did not take effect: rejected by its aggregate, beaten by a concurrent
//! writer, or a storage failure; storage failures are kept apart from rejections.

use std::error::Error as StdError;

use cqrs_es::AggregateError;

type BoxError = Box<dyn StdError + Send + Sync + 'static>;

/// Storage failures, kept apart from command rejections.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database cannot be reached (connection refused, pool exhausted, I/O).
    #[error("the event store is unavailable")]
    Unavailable(#[source] BoxError),
    /// Anything else: a bug or corrupt data.
    #[error("the event store failed")]
    Internal(#[source] BoxError),
}

impl StoreError {
    /// Classifies a boxed error coming out of cqrs-es/postgres-es or sqlx.
    pub fn classify(error: BoxError) -> Self {
        if let Some(sqlx_error) = error.downcast_ref::<sqlx::Error>() {
            if is_unavailable(sqlx_error) {
                return Self::Unavailable(error);
            }
        }
        Self::Internal(error)
    }
}

impl From<sqlx::Error> for StoreError {
    fn from(error: sqlx::Error) -> Self {
        Self::classify(Box::new(error))
    }
}

/// Whether a sqlx error means "the database is not reachable right now": I/O and pool
/// errors, and the SQLSTATEs of a server that refuses or drops connections (class 08
/// connection exception, 53 insufficient resources, 57P operator intervention such as a
/// shutdown, 3D000 database missing, 55000 "database is not accepting connections").
pub fn is_unavailable(error: &sqlx::Error) -> bool {
    match error {
        sqlx::Error::Io(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::Tls(_)
        | sqlx::Error::WorkerCrashed => true,
        sqlx::Error::Database(db) => db.code().is_some_and(|code| {
            ["08", "53", "57P"]
                .iter()
                .any(|class| code.starts_with(class))
                || code == "3D000"
                || code == "55000"
        }),
        _ => false,
    }
}

/// Why a command did not take effect.
#[derive(Debug, thiserror::Error)]
pub enum CommandError<E: StdError + 'static> {
    /// The aggregate refused the command.
    #[error("command rejected: {0}")]
    Rejected(#[source] E),
    /// Another command changed the aggregate between our load and our append.
    #[error("the aggregate was changed concurrently")]
    Conflict,
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl<E: StdError + 'static> From<AggregateError<E>> for CommandError<E> {
    fn from(error: AggregateError<E>) -> Self {
        match error {
            AggregateError::UserError(e) => Self::Rejected(e),
            AggregateError::AggregateConflict => Self::Conflict,
            AggregateError::DatabaseConnectionError(e) => Self::Store(StoreError::Unavailable(e)),
            AggregateError::DeserializationError(e) | AggregateError::UnexpectedError(e) => {
                Self::Store(StoreError::classify(e))
            }
        }
    }
}
