//! Running a command against an aggregate: load, decide, append with optimistic concurrency,
//! and report the position the append reached in the global log.

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use domain::DomainEvent;
use sqlx::{PgConnection, PgPool, Postgres, Transaction};
use uuid::Uuid;

use super::cqrs::StreamLoader;
use super::error::{CommandError, StoreError};
use crate::ports::AppendListener;

/// Who asked for a command and why: copied into the metadata of every event it produces.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandContext {
    /// The principal, e.g. `anonymous`, `user:<uuid>`, `system:<subscriber>`.
    pub actor: String,
    /// The request id of the HTTP request (or the id of the workflow run).
    pub correlation_id: String,
    /// The event or command that caused this one, when there is one.
    pub causation_id: Option<String>,
}

impl CommandContext {
    fn metadata(&self) -> HashMap<String, String> {
        let mut metadata = HashMap::with_capacity(3);
        metadata.insert("actor".to_owned(), self.actor.clone());
        metadata.insert("correlation_id".to_owned(), self.correlation_id.clone());
        if let Some(causation) = &self.causation_id {
            metadata.insert("causation_id".to_owned(), causation.clone());
        }
        metadata
    }
}

/// The result of a successful command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Appended {
    /// The global position of the stream's newest event once the command has committed; a
    /// read model that has passed it reflects the command. `None` if the stream is empty.
    pub position: Option<i64>,
    /// When the command's newest event was recorded (`None` if it appended nothing).
    pub recorded_at: Option<DateTime<Utc>>,
}

/// How many times [`CommandRunner::execute_retrying`] decides a command that keeps losing
/// races on its stream.
pub const CONFLICT_ATTEMPTS: u32 = 8;

/// Runs commands for one aggregate type.
///
/// Every load goes through postgres-es ([`StreamLoader`]); deciding is the domain
/// aggregate's `handle`; every append is ours: one `INSERT … SELECT FROM UNNEST … RETURNING
/// position` in its own implicit transaction, instead of cqrs-es's `commit` (`BEGIN`, one
/// `INSERT` per event, `COMMIT`): one round trip instead of three or more, atomic all the
/// same, and it returns the global positions, which cqrs-es does not (ADR 0007). Same table,
/// same columns, same optimistic concurrency: the primary key
/// `(aggregate_type, aggregate_id, sequence)` refuses a second writer of the same sequence.
/// Which library does what: ADR 0009.
pub struct CommandRunner<A: domain::Aggregate> {
    loader: StreamLoader<A>,
    pool: PgPool,
    listener: Arc<dyn AppendListener>,
}

/// The append: the stream's next events in sequence order, positions assigned by the
/// `events_assign_position` trigger in insert order.
const APPEND: &str = "INSERT INTO events \
        (aggregate_type, aggregate_id, sequence, event_type, event_version, payload, metadata) \
    SELECT $1, $2, $3 + e.ord, e.event_type, e.event_version, e.payload, $7 \
    FROM UNNEST($4::text[], $5::text[], $6::jsonb[]) WITH ORDINALITY \
        AS e(event_type, event_version, payload, ord) \
    ORDER BY e.ord \
    RETURNING position, recorded_at";

impl<A: domain::Aggregate> CommandRunner<A> {
    pub fn new(pool: PgPool, listener: Arc<dyn AppendListener>) -> Self {
        Self {
            loader: StreamLoader::new(pool.clone()),
            pool,
            listener,
        }
    }

    /// Decides `command` against the aggregate's current state and appends the resulting
    /// events. Two concurrent commands never both succeed on stale state: the loser gets
    /// [`CommandError::Conflict`].
    pub async fn execute(
        &self,
        id: Uuid,
        command: A::Command,
        context: &CommandContext,
    ) -> Result<Appended, CommandError<A::Error>> {
        self.execute_for_state(id, command, context)
            .await
            .map(|(appended, _)| appended)
    }

    /// [`execute`](Self::execute) for a command that asks for the same change whatever the
    /// stream holds (set a role, rename, archive): one that lost a race with another writer is
    /// decided again on the new state, up to [`CONFLICT_ATTEMPTS`] times in all, before it
    /// answers [`CommandError::Conflict`]. Each loss means another writer committed in
    /// between, so up to that many writers at once on one stream all get through.
    pub async fn execute_retrying(
        &self,
        id: Uuid,
        command: A::Command,
        context: &CommandContext,
    ) -> Result<Appended, CommandError<A::Error>>
    where
        A::Command: Clone,
    {
        self.execute_for_state_retrying(id, command, context)
            .await
            .map(|(appended, _)| appended)
    }

    /// [`execute_retrying`](Self::execute_retrying), also returning the aggregate's state
    /// after the command. For a person's decision that does not rest on a version they saw
    /// (acknowledge a concern, pause a session) while the process manager writes to the same
    /// stream: the domain decides again on the new state, so a concern acknowledged in the
    /// meantime is still refused as such, never overwritten.
    pub async fn execute_for_state_retrying(
        &self,
        id: Uuid,
        command: A::Command,
        context: &CommandContext,
    ) -> Result<(Appended, A), CommandError<A::Error>>
    where
        A::Command: Clone,
    {
        let mut attempt = 1;
        loop {
            match self.execute_for_state(id, command.clone(), context).await {
                Err(CommandError::Conflict) if attempt < CONFLICT_ATTEMPTS => attempt += 1,
                other => return other,
            }
        }
    }

    /// [`execute`](Self::execute), also returning the aggregate's state after the command:
    /// enough for a response that reflects the write without waiting for a read model.
    #[tracing::instrument(
        name = "command",
        skip_all,
        fields(aggregate = A::TYPE, id = %id, correlation_id = %context.correlation_id)
    )]
    pub async fn execute_for_state(
        &self,
        id: Uuid,
        command: A::Command,
        context: &CommandContext,
    ) -> Result<(Appended, A), CommandError<A::Error>> {
        let (state, version) = self.load(id).await?;
        let result = self
            .decide_and_append(id, state, version, command, context)
            .await;
        self.decided(&result);
        result
    }

    /// Tells the listener (the metrics) and the log how a command ended: a `debug` line in
    /// the command's span, which carries the correlation id of the request or event that
    /// caused it.
    fn decided<T>(&self, result: &Result<T, CommandError<A::Error>>) {
        let outcome = match result {
            Ok(_) => "ok",
            Err(CommandError::Rejected(_)) => "rejected",
            Err(CommandError::Conflict) => "conflict",
            Err(_) => "error",
        };
        self.listener.command_decided(A::TYPE, outcome);
        tracing::debug!(outcome, "command");
    }

    /// Like [`execute`](Self::execute) for a stream that cannot exist yet (its id was just
    /// generated): decides against the empty state without reading the stream. Should the
    /// stream exist after all, the append conflicts on sequence 1 and nothing is written.
    pub async fn execute_new(
        &self,
        id: Uuid,
        command: A::Command,
        context: &CommandContext,
    ) -> Result<Appended, CommandError<A::Error>> {
        self.execute_new_for_state(id, command, context)
            .await
            .map(|(appended, _)| appended)
    }

    /// [`execute_new`](Self::execute_new), also returning the new stream's state.
    #[tracing::instrument(
        name = "command",
        skip_all,
        fields(aggregate = A::TYPE, id = %id, correlation_id = %context.correlation_id)
    )]
    pub async fn execute_new_for_state(
        &self,
        id: Uuid,
        command: A::Command,
        context: &CommandContext,
    ) -> Result<(Appended, A), CommandError<A::Error>> {
        let result = self
            .decide_and_append(id, A::default(), 0, command, context)
            .await;
        self.decided(&result);
        result
    }

    async fn decide_and_append(
        &self,
        id: Uuid,
        state: A,
        version: usize,
        command: A::Command,
        context: &CommandContext,
    ) -> Result<(Appended, A), CommandError<A::Error>> {
        let decided =
            Decided::new(id, state, version, [command]).map_err(CommandError::Rejected)?;
        if decided.events.is_empty() {
            // Nothing changed; a reader that has passed the stream's newest event sees it.
            let position: Option<i64> = sqlx::query_scalar(
                "SELECT max(position) FROM events \
                 WHERE aggregate_type = $1 AND aggregate_id = $2",
            )
            .bind(A::TYPE)
            .bind(id.to_string())
            .fetch_one(&self.pool)
            .await
            .map_err(StoreError::from)?;
            return Ok((
                Appended {
                    position,
                    recorded_at: None,
                },
                decided.state,
            ));
        }
        let mut conn = self.pool.acquire().await.map_err(StoreError::from)?;
        let done = self.append_in(&mut conn, decided, context).await?;
        self.listener.appended(A::TYPE);
        Ok(done)
    }

    /// Decides `commands` one after the other against a stream that cannot exist yet, without
    /// reading it: for [`append_in`](Self::append_in), when the events go into the log
    /// together with other writes.
    pub fn decide_new(
        &self,
        id: Uuid,
        commands: impl IntoIterator<Item = A::Command>,
    ) -> Result<Decided<A>, A::Error> {
        Decided::new(id, A::default(), 0, commands)
    }

    /// Decides `commands` one after the other against the stream's current state.
    pub async fn decide(
        &self,
        id: Uuid,
        commands: impl IntoIterator<Item = A::Command>,
    ) -> Result<Decided<A>, CommandError<A::Error>> {
        let (state, version) = self.load(id).await?;
        Decided::new(id, state, version, commands).map_err(CommandError::Rejected)
    }

    /// Appends decided events on `conn`, typically inside a transaction that also writes what
    /// must exist exactly when they do (a saga's timer row, a routing row). Commit it with
    /// [`commit`](Self::commit), which wakes the subscribers; dropping the transaction
    /// appends nothing. A stream written meanwhile is [`CommandError::Conflict`] (and aborts
    /// the transaction).
    pub async fn append_in(
        &self,
        conn: &mut PgConnection,
        decided: Decided<A>,
        context: &CommandContext,
    ) -> Result<(Appended, A), CommandError<A::Error>> {
        let Decided {
            id,
            version,
            events,
            state,
        } = decided;
        if events.is_empty() {
            let none = Appended {
                position: None,
                recorded_at: None,
            };
            return Ok((none, state));
        }
        let mut types = Vec::with_capacity(events.len());
        let mut versions = Vec::with_capacity(events.len());
        let mut payloads = Vec::with_capacity(events.len());
        for event in &events {
            types.push(event.event_type());
            versions.push(event.event_version());
            payloads.push(serde_json::to_value(event).map_err(internal)?);
        }
        let metadata = serde_json::to_value(context.metadata()).map_err(internal)?;
        let started = std::time::Instant::now();
        let appended: Vec<(i64, DateTime<Utc>)> = sqlx::query_as(APPEND)
            .bind(A::TYPE)
            .bind(id.to_string())
            .bind(version as i64)
            .bind(&types)
            .bind(&versions)
            .bind(&payloads)
            .bind(&metadata)
            .fetch_all(&mut *conn)
            .await
            .map_err(append_error)?;
        self.listener
            .append_written(A::TYPE, appended.len(), started.elapsed());
        let newest = appended.into_iter().max_by_key(|(position, _)| *position);
        Ok((
            Appended {
                position: newest.map(|(position, _)| position),
                recorded_at: newest.map(|(_, at)| at),
            },
            state,
        ))
    }

    /// Appends the decided events of several streams of this type, each with its own
    /// context, in one statement on `conn` (typically a transaction that writes what goes
    /// with them): one round trip for a batch of commands. Positions follow the order given.
    /// Any stream written meanwhile is [`CommandError::Conflict`] for the whole batch, and
    /// nothing is appended.
    pub async fn append_all_in(
        &self,
        conn: &mut PgConnection,
        batch: Vec<(Decided<A>, CommandContext)>,
    ) -> Result<(), CommandError<A::Error>> {
        let rows = batch.iter().map(|(d, _)| d.events.len()).sum();
        let mut ids = Vec::with_capacity(rows);
        let mut sequences = Vec::with_capacity(rows);
        let mut types = Vec::with_capacity(rows);
        let mut versions = Vec::with_capacity(rows);
        let mut payloads = Vec::with_capacity(rows);
        let mut metadata = Vec::with_capacity(rows);
        for (decided, context) in &batch {
            let meta = serde_json::to_value(context.metadata()).map_err(internal)?;
            for (offset, event) in decided.events.iter().enumerate() {
                ids.push(decided.id.to_string());
                sequences.push((decided.version + offset + 1) as i64);
                types.push(event.event_type());
                versions.push(event.event_version());
                payloads.push(serde_json::to_value(event).map_err(internal)?);
                metadata.push(meta.clone());
            }
        }
        if ids.is_empty() {
            return Ok(());
        }
        let started = std::time::Instant::now();
        let events = ids.len();
        sqlx::query(APPEND_STREAMS)
            .bind(A::TYPE)
            .bind(&ids)
            .bind(&sequences)
            .bind(&types)
            .bind(&versions)
            .bind(&payloads)
            .bind(&metadata)
            .execute(&mut *conn)
            .await
            .map_err(append_error)?;
        self.listener
            .append_written(A::TYPE, events, started.elapsed());
        Ok(())
    }

    /// Wakes the subscribers of this aggregate type, after a transaction that appended to it
    /// committed elsewhere.
    pub fn appended(&self) {
        self.listener.appended(A::TYPE);
    }

    /// Commits a transaction that [`append_in`](Self::append_in) wrote to, and wakes the
    /// subscribers of this aggregate type.
    pub async fn commit(&self, tx: Transaction<'_, Postgres>) -> Result<(), StoreError> {
        tx.commit().await?;
        self.listener.appended(A::TYPE);
        Ok(())
    }

    /// The aggregate's current state from the write side (its events), and its version (the
    /// number of events). Version 0 means the stream does not exist.
    pub async fn load(&self, id: Uuid) -> Result<(A, usize), StoreError> {
        self.loader.load(id).await
    }
}

/// The append of several streams' events: one row per event, in the order given.
const APPEND_STREAMS: &str = "INSERT INTO events \
        (aggregate_type, aggregate_id, sequence, event_type, event_version, payload, metadata) \
    SELECT $1, e.aggregate_id, e.sequence, e.event_type, e.event_version, e.payload, e.metadata \
    FROM UNNEST($2::text[], $3::bigint[], $4::text[], $5::text[], $6::jsonb[], $7::jsonb[]) \
        WITH ORDINALITY \
        AS e(aggregate_id, sequence, event_type, event_version, payload, metadata, ord) \
    ORDER BY e.ord";

fn internal<E: std::error::Error>(error: serde_json::Error) -> CommandError<E> {
    CommandError::Store(StoreError::Internal(Box::new(error)))
}

/// An append's failure: a stream's next sequence taken, or a reservation made by a trigger in
/// the same statement (one account per email), is a conflict either way.
fn append_error<E: std::error::Error>(error: sqlx::Error) -> CommandError<E> {
    match &error {
        sqlx::Error::Database(db) if db.code().as_deref() == Some("23505") => {
            CommandError::Conflict
        }
        _ => CommandError::Store(StoreError::from(error)),
    }
}

/// Events decided against a stream's state and not appended yet, with the state they lead to.
#[derive(Debug)]
pub struct Decided<A: domain::Aggregate> {
    id: Uuid,
    /// The stream's version the events follow.
    version: usize,
    events: Vec<A::Event>,
    state: A,
}

impl<A: domain::Aggregate> Decided<A> {
    fn new(
        id: Uuid,
        mut state: A,
        version: usize,
        commands: impl IntoIterator<Item = A::Command>,
    ) -> Result<Self, A::Error> {
        let mut events = Vec::new();
        for command in commands {
            for event in state.handle(command)? {
                state.apply(event.clone());
                events.push(event);
            }
        }
        Ok(Self {
            id,
            version,
            events,
            state,
        })
    }

    /// The state after the events.
    pub fn state(&self) -> &A {
        &self.state
    }
}
