//! The contract every event-sourced aggregate of the domain fulfils.

use serde::de::DeserializeOwned;
use serde::Serialize;
use std::fmt::Debug;

/// An event: a fact, named in the past tense, with an explicit type and version string that
/// are stored beside its JSON payload and never change once released (an upcaster handles a
/// new version).
pub trait DomainEvent:
    Serialize + DeserializeOwned + Clone + PartialEq + Debug + Send + Sync
{
    /// The stable type name, for example `group.created`.
    fn event_type(&self) -> &'static str;
    /// The payload schema version, for example `1`.
    fn event_version(&self) -> &'static str;
}

/// An aggregate: the consistency boundary a command is decided against.
///
/// `handle` never mutates; the events it returns are appended and then applied.
pub trait Aggregate: Default + Serialize + DeserializeOwned + Clone + Debug + Send + Sync {
    /// The stream type name (`aggregate_type` in the log), for example `group`.
    const TYPE: &'static str;
    type Command: Debug + Send + Sync;
    type Event: DomainEvent;
    type Error: std::error::Error + PartialEq + Send + Sync + 'static;

    /// Decides a command against the current state.
    fn handle(&self, command: Self::Command) -> Result<Vec<Self::Event>, Self::Error>;

    /// Folds one event into the state. Never fails: events are facts.
    fn apply(&mut self, event: Self::Event);

    /// Rebuilds state from a stream of events.
    fn fold(events: impl IntoIterator<Item = Self::Event>) -> Self {
        let mut state = Self::default();
        for event in events {
            state.apply(event);
        }
        state
    }
}

/// Given/when/then for aggregate tests: `given(events).when(command).then_expect_events(...)`.
#[cfg(test)]
pub(crate) mod testing {
    use super::{Aggregate, DomainEvent};

    /// An event's golden JSON: it serializes to `expected`, reads back from it, and names its
    /// own type, at version 1.
    #[track_caller]
    pub fn assert_golden<E: DomainEvent>(event: E, expected: serde_json::Value) {
        assert_eq!(serde_json::to_value(&event).unwrap(), expected);
        assert_eq!(
            serde_json::from_value::<E>(expected.clone()).unwrap(),
            event
        );
        assert_eq!(expected["type"], event.event_type());
        assert_eq!(event.event_version(), "1");
    }

    pub struct Given<A: Aggregate>(A);

    pub fn given<A: Aggregate>(events: Vec<A::Event>) -> Given<A> {
        Given(A::fold(events))
    }

    pub fn given_no_previous_events<A: Aggregate>() -> Given<A> {
        Given(A::default())
    }

    impl<A: Aggregate> Given<A> {
        pub fn when(self, command: A::Command) -> Then<A> {
            Then(self.0.handle(command))
        }
    }

    pub struct Then<A: Aggregate>(Result<Vec<A::Event>, A::Error>);

    impl<A: Aggregate> Then<A> {
        #[track_caller]
        pub fn then_expect_events(self, expected: Vec<A::Event>) {
            match self.0 {
                Ok(events) => assert_eq!(events, expected),
                Err(error) => panic!("expected events {expected:?}, got error {error:?}"),
            }
        }

        #[track_caller]
        pub fn then_expect_error(self, expected: A::Error) {
            match self.0 {
                Ok(events) => panic!("expected error {expected:?}, got events {events:?}"),
                Err(error) => assert_eq!(error, expected),
            }
        }
    }
}
