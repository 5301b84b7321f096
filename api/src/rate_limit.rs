//! The per-IP rate limits of the endpoints that anyone may call without signing in
//! (registration, login, password reset): governor's keyed limiters, one per endpoint family,
//! with their memory trimmed to the IPs of the last quota period.

use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};

use governor::clock::{Clock as _, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

use crate::caller::ClientIp;
use crate::problem::ApiError;

/// Per-IP rate limits of the unauthenticated identity endpoints.
pub struct AuthLimits {
    /// `POST /auth/register`.
    pub register: IpLimit,
    /// `POST /auth/login`.
    pub login: IpLimit,
    /// `POST /auth/password-reset` and its confirmation.
    pub reset: IpLimit,
}

impl AuthLimits {
    pub fn per_minute(n: u32) -> Self {
        let quota = Quota::per_minute(NonZeroU32::new(n.max(1)).expect("non-zero"));
        Self {
            register: IpLimit::new(quota),
            login: IpLimit::new(quota),
            reset: IpLimit::new(quota),
        }
    }
}

/// One per-IP limit. Its state has an entry for every IP seen; every
/// `TRIM_EVERY` checks the entries that are back to a fresh state (unused for a
/// whole quota period) are dropped, so the memory follows the IPs of the last minute, not
/// every IP ever seen.
pub struct IpLimit {
    limiter: DefaultKeyedRateLimiter<String>,
    checks: AtomicU64,
}

impl IpLimit {
    const TRIM_EVERY: u64 = 4096;

    fn new(quota: Quota) -> Self {
        Self {
            limiter: RateLimiter::keyed(quota),
            checks: AtomicU64::new(0),
        }
    }

    /// Counts one request of `ip`, or answers 429 with the time until it may try again.
    pub fn check(&self, ip: &ClientIp) -> Result<(), ApiError> {
        if self.checks.fetch_add(1, Ordering::Relaxed) % Self::TRIM_EVERY == Self::TRIM_EVERY - 1 {
            self.limiter.retain_recent();
            self.limiter.shrink_to_fit();
        }
        let key = ip.0.clone().unwrap_or_default();
        self.limiter.check_key(&key).map_err(|not_until| {
            ApiError::too_many_requests(not_until.wait_time_from(DefaultClock::default().now()))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_ip_limit_forgets_ips_that_are_back_to_a_fresh_state() {
        let quota = Quota::with_period(std::time::Duration::from_millis(1))
            .expect("non-zero period")
            .allow_burst(NonZeroU32::new(1).expect("non-zero"));
        let limit = IpLimit::new(quota);
        for i in 0..100 {
            let _ = limit.check(&ClientIp(Some(format!("192.0.2.{i}"))));
        }
        assert_eq!(limit.limiter.len(), 100);
        std::thread::sleep(std::time::Duration::from_millis(20));
        let current = ClientIp(Some("198.51.100.1".into()));
        for _ in 0..IpLimit::TRIM_EVERY - 101 {
            let _ = limit.check(&current);
        }
        assert_eq!(limit.limiter.len(), 101, "not trimmed before the interval");
        let _ = limit.check(&current);
        assert_eq!(limit.limiter.len(), 1, "only the IP still in use is kept");
    }
}
