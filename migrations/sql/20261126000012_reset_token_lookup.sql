-- A password reset is confirmed from the log, not from the `password_reset_tokens` read
-- model: someone who clicks the emailed link at once must not be told the token is invalid
-- because the `identity` projection has not applied the request yet (the same reason, and
-- the same kind of index, as `events_session_token_hash`). The `User` aggregate then decides
-- whether the token is still the pending one and unexpired. Partial: only reset requests.
CREATE INDEX events_reset_token_hash ON events ((payload ->> 'token_hash'))
    WHERE event_type = 'user.password_reset_requested';
