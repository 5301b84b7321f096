-- Sessions that expire without being used again are ended by a periodic sweep
-- (`Identity::end_expired_sessions`, every `SESSION_SWEEP_INTERVAL_MS`), which pages over
-- them in the order of this index: when each stops being valid, then id.
CREATE INDEX auth_sessions_expiry ON auth_sessions (least(expires_at, absolute_expires_at), id);
