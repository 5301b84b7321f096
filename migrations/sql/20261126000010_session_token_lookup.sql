-- A login answers as soon as its `auth.session_started` event is appended, without waiting
-- for the `identity` projection: a request carrying a token that `auth_sessions` does not
-- know yet is resolved from the log through this index (`Identity::authenticate`), in this
-- process or any other. Partial: only session starts are indexed.
CREATE INDEX events_session_token_hash ON events ((payload ->> 'token_hash'))
    WHERE event_type = 'auth.session_started';
