-- The audit hash chain over the global log (owner: projections::audit; docs/adr/0015).
-- One seal per event, in position order: hash = SHA-256(previous seal's hash || the event's
-- canonical bytes), the first event chained to 32 zero bytes. `ordinal` counts the events
-- sealed so far (1 for the first), so a verifier knows how far it has come.
CREATE TABLE audit_seals (
    position bigint PRIMARY KEY,
    ordinal  bigint NOT NULL CHECK (ordinal > 0),
    event_id uuid   NOT NULL,
    hash     bytea  NOT NULL CHECK (length(hash) = 32)
);

-- Signed checkpoints: the seal at `position` (the `ordinal`-th event), signed with the
-- service's Ed25519 key (`public_key`, raw 32 bytes) over the text
-- "raptscallions audit checkpoint v1\nposition <position>\nhash <hex of hash>\n".
-- `published_at`: when a copy reached NATS (JetStream), which keeps it outside the database.
CREATE TABLE audit_checkpoints (
    position     bigint      PRIMARY KEY,
    ordinal      bigint      NOT NULL CHECK (ordinal > 0),
    hash         bytea       NOT NULL CHECK (length(hash) = 32),
    public_key   bytea       NOT NULL CHECK (length(public_key) = 32),
    signature    bytea       NOT NULL CHECK (length(signature) = 64),
    signed_at    timestamptz NOT NULL DEFAULT now(),
    published_at timestamptz
);

CREATE INDEX audit_checkpoints_unpublished ON audit_checkpoints (position)
    WHERE published_at IS NULL;

-- Both are only ever appended to; of a checkpoint, only `published_at` may be set later.
CREATE FUNCTION audit_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' AND TG_TABLE_NAME = 'audit_checkpoints' THEN
        IF (NEW.position, NEW.ordinal, NEW.hash, NEW.public_key, NEW.signature, NEW.signed_at)
           IS NOT DISTINCT FROM
           (OLD.position, OLD.ordinal, OLD.hash, OLD.public_key, OLD.signature, OLD.signed_at)
        THEN
            RETURN NEW;
        END IF;
    END IF;
    RAISE EXCEPTION 'the audit chain is append-only (% on % refused)', TG_OP, TG_TABLE_NAME;
END
$$;

CREATE TRIGGER audit_seals_append_only
    BEFORE UPDATE OR DELETE ON audit_seals
    FOR EACH ROW EXECUTE FUNCTION audit_append_only();
CREATE TRIGGER audit_seals_no_truncate
    BEFORE TRUNCATE ON audit_seals
    FOR EACH STATEMENT EXECUTE FUNCTION audit_append_only();
CREATE TRIGGER audit_checkpoints_append_only
    BEFORE UPDATE OR DELETE ON audit_checkpoints
    FOR EACH ROW EXECUTE FUNCTION audit_append_only();
CREATE TRIGGER audit_checkpoints_no_truncate
    BEFORE TRUNCATE ON audit_checkpoints
    FOR EACH STATEMENT EXECUTE FUNCTION audit_append_only();
