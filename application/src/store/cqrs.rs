//! What cqrs-es and postgres-es do for us: every stream is loaded through them (ADR 0009).
//!
//! `domain` stays free of cqrs-es (which pulls in tokio); here every domain aggregate `A`
//! becomes a cqrs-es aggregate `Stream<A>` whose events are `Fact<A::Event>`. Both wrappers
//! are serde-transparent, so what is stored is exactly the domain's JSON. [`StreamLoader`]
//! reads a stream with postgres-es's repository and decodes it with cqrs-es's event store,
//! which is where upcasters go (`PersistedEventStore::with_upcasters`) when an event's
//! version changes: then every load applies them. Appends do not go through cqrs-es (see
//! `runner`), and neither do read models (cqrs-es dispatches its queries outside the append
//! transaction and may lose updates; read models are checkpointed log subscribers, see
//! `projections`).

use cqrs_es::event_sink::EventSink;
use cqrs_es::persist::PersistedEventStore;
use cqrs_es::EventStore;
use postgres_es::PostgresEventRepository;
use serde::{Deserialize, Serialize};
use sqlx::PgPool;
use uuid::Uuid;

use super::error::{CommandError, StoreError};

/// A domain aggregate as cqrs-es sees it.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Stream<A>(pub A);

/// A domain event as cqrs-es sees it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Fact<E>(pub E);

impl<E: domain::DomainEvent> cqrs_es::DomainEvent for Fact<E> {
    fn event_type(&self) -> String {
        self.0.event_type().to_owned()
    }

    fn event_version(&self) -> String {
        self.0.event_version().to_owned()
    }
}

impl<A: domain::Aggregate> cqrs_es::Aggregate for Stream<A> {
    const TYPE: &'static str = A::TYPE;
    type Command = A::Command;
    type Event = Fact<A::Event>;
    type Error = A::Error;
    type Services = ();

    async fn handle(
        &mut self,
        command: A::Command,
        _services: &(),
        sink: &EventSink<Self>,
    ) -> Result<(), A::Error> {
        for event in self.0.handle(command)? {
            sink.write(Fact(event), self).await;
        }
        Ok(())
    }

    fn apply(&mut self, event: Fact<A::Event>) {
        self.0.apply(event.0);
    }
}

/// Loads the streams of one aggregate type: postgres-es's repository (its `SELECT … FROM
/// events WHERE aggregate_type = $1 AND aggregate_id = $2 ORDER BY sequence`) under cqrs-es's
/// plain event store (no snapshots: postgres-es 0.5.0 applies events twice with them).
pub struct StreamLoader<A: domain::Aggregate> {
    store: PersistedEventStore<PostgresEventRepository, Stream<A>>,
}

impl<A: domain::Aggregate> StreamLoader<A> {
    pub fn new(pool: PgPool) -> Self {
        Self {
            store: PersistedEventStore::new_event_store(PostgresEventRepository::new(pool)),
        }
    }

    /// The aggregate's current state from its events, and its version (the number of
    /// events). Version 0 means the stream does not exist.
    pub async fn load(&self, id: Uuid) -> Result<(A, usize), StoreError> {
        let envelopes = self.store.load_events(&id.to_string()).await.map_err(|e| {
            match CommandError::<A::Error>::from(e) {
                CommandError::Store(store) => store,
                other => StoreError::Internal(other.to_string().into()),
            }
        })?;
        let version = envelopes.len();
        Ok((A::fold(envelopes.into_iter().map(|e| e.payload.0)), version))
    }
}
