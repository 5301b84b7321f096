//! Live updates for dashboards: the publisher that sends the projections' updates to NATS.

pub mod publisher;
