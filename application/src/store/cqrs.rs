//! Adapts the pure domain aggregates to cqrs-es.
//!
//! `domain` stays free of cqrs-es (which pulls in tokio); here every domain aggregate `A`
//! becomes a cqrs-es aggregate `Stream<A>` whose events are `Fact<A::Event>`. Both wrappers
//! are serde-transparent, so what is stored is exactly the domain's JSON.

use cqrs_es::event_sink::EventSink;
use serde::{Deserialize, Serialize};

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
