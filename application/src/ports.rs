//! Ports: what the application needs from the outside world, implemented in infrastructure or
//! projections.

/// Told after every successful append, so that log subscribers wake up at once instead of
/// waiting for their next poll.
pub trait AppendListener: Send + Sync + 'static {
    fn appended(&self);
}

/// An [`AppendListener`] that does nothing (tools and tests that have no subscribers).
#[derive(Debug, Default, Clone, Copy)]
pub struct NoListener;

impl AppendListener for NoListener {
    fn appended(&self) {}
}
