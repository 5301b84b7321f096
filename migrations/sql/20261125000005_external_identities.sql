-- Sign-in with OpenID providers.

-- One account per (provider, subject), enforced in the append transaction like emails: the
-- triggers keep this table in step with `user.identity_linked` / `user.identity_unlinked`.
CREATE TABLE identity_links (
    provider  text        NOT NULL,
    subject   text        NOT NULL,
    user_id   uuid        NOT NULL,
    linked_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (provider, subject),
    UNIQUE (user_id, provider)
);

CREATE FUNCTION events_identity_links() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.event_type = 'user.identity_linked' THEN
        INSERT INTO identity_links (provider, subject, user_id)
        VALUES (NEW.payload ->> 'provider', NEW.payload ->> 'subject', NEW.aggregate_id::uuid);
    ELSE
        DELETE FROM identity_links
         WHERE provider = NEW.payload ->> 'provider' AND subject = NEW.payload ->> 'subject';
    END IF;
    RETURN NEW;
END
$$;

CREATE TRIGGER events_identity_links
    AFTER INSERT ON events
    FOR EACH ROW
    WHEN (NEW.aggregate_type = 'user'
          AND NEW.event_type IN ('user.identity_linked', 'user.identity_unlinked'))
    EXECUTE FUNCTION events_identity_links();

-- Sign-in flows in progress (at most 10 minutes). Server-side, so the PKCE verifier and the
-- nonce never leave the server; bound to the browser by the hash of a cookie; deleted when
-- the callback consumes them (a replayed callback finds nothing). Not event-sourced:
-- ephemeral protocol state, like a rate limiter.
CREATE TABLE oidc_flows (
    state_hash    text        PRIMARY KEY,
    browser_hash  text        NOT NULL,
    provider      text        NOT NULL,
    purpose       text        NOT NULL CHECK (purpose IN ('login', 'link')),
    user_id       uuid        NULL,
    pkce_verifier text        NOT NULL,
    nonce         text        NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX oidc_flows_created_idx ON oidc_flows (created_at);
