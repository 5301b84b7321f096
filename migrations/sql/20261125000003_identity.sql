-- Identity: one account per email, and the read models of the `identity` projection.

-- One account per email, enforced in the transaction that appends `user.registered`: the
-- trigger below inserts the reservation, and a duplicate email fails the whole append.
CREATE TABLE email_reservations (
    email       text        PRIMARY KEY,
    user_id     uuid        NOT NULL,
    reserved_at timestamptz NOT NULL DEFAULT now()
);

CREATE FUNCTION events_reserve_email() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO email_reservations (email, user_id)
    VALUES (NEW.payload ->> 'email', NEW.aggregate_id::uuid);
    RETURN NEW;
END
$$;

CREATE TRIGGER events_reserve_email
    AFTER INSERT ON events
    FOR EACH ROW
    WHEN (NEW.aggregate_type = 'user' AND NEW.event_type = 'user.registered')
    EXECUTE FUNCTION events_reserve_email();

-- Read model: accounts (never the password hash).
CREATE TABLE users (
    id           uuid        PRIMARY KEY,
    email        text        NOT NULL,
    name         text        NOT NULL,
    disabled     boolean     NOT NULL DEFAULT false,
    system_admin boolean     NOT NULL DEFAULT false,
    created_at   timestamptz NOT NULL,
    updated_at   timestamptz NOT NULL,
    version      bigint      NOT NULL
);
CREATE INDEX users_email_idx ON users (email);

-- Read model: live sessions (a session's row is deleted when it ends).
CREATE TABLE auth_sessions (
    id                  uuid        PRIMARY KEY,
    user_id             uuid        NOT NULL,
    token_hash          text        NOT NULL UNIQUE,
    created_at          timestamptz NOT NULL,
    expires_at          timestamptz NOT NULL,
    absolute_expires_at timestamptz NOT NULL,
    ip                  text        NULL,
    user_agent          text        NULL
);
CREATE INDEX auth_sessions_user_idx ON auth_sessions (user_id);

-- Read model: the reset token each user may still use (the newest requested).
CREATE TABLE password_reset_tokens (
    token_hash text        PRIMARY KEY,
    user_id    uuid        NOT NULL UNIQUE,
    reset_id   uuid        NOT NULL,
    expires_at timestamptz NOT NULL
);

-- Operational data, not a projection: when a session was last used, written by the API at
-- most once a minute per session. Replays do not touch it.
CREATE TABLE auth_session_activity (
    session_id   uuid        PRIMARY KEY,
    last_seen_at timestamptz NOT NULL
);
