-- The event store: postgres-es' `events` table plus a global, gap-safe position.
-- See docs/adr/0001-global-log-position.md for why positions are derived from transaction ids.

CREATE TABLE events (
    aggregate_type text        NOT NULL,
    aggregate_id   text        NOT NULL,
    sequence       bigint      NOT NULL CHECK (sequence > 0),
    event_type     text        NOT NULL,
    event_version  text        NOT NULL,
    payload        jsonb       NOT NULL,
    metadata       jsonb       NOT NULL,
    event_id       uuid        NOT NULL DEFAULT gen_random_uuid(),
    position       bigint      NOT NULL,
    recorded_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (aggregate_type, aggregate_id, sequence)
);

CREATE UNIQUE INDEX events_position_key ON events (position);
CREATE UNIQUE INDEX events_event_id_key ON events (event_id);
CREATE INDEX events_event_type_idx ON events (event_type, position);
CREATE INDEX events_correlation_idx ON events ((metadata ->> 'correlation_id'), position);

-- Snapshots table as postgres-es expects it. We do not use snapshot stores (postgres-es 0.5.0
-- double-applies events with them), but keep the table so its repository can be built as is.
CREATE TABLE snapshots (
    aggregate_type   text   NOT NULL,
    aggregate_id     text   NOT NULL,
    last_sequence    bigint NOT NULL CHECK (last_sequence >= 0),
    current_snapshot bigint NOT NULL CHECK (current_snapshot >= 0),
    payload          jsonb  NOT NULL,
    PRIMARY KEY (aggregate_type, aggregate_id)
);

-- position = (top-level transaction id << 16) + index of the event within its transaction.
-- Every transaction still running has an id >= pg_snapshot_xmin(pg_current_snapshot()), so
-- every position below (xmin << 16) belongs to a finished transaction and no event can ever
-- appear there again: readers tail the log by position below that bound and never skip.
CREATE FUNCTION events_assign_position() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    base bigint := (pg_current_xact_id()::text::bigint) << 16;
    last bigint;
BEGIN
    SELECT max(position) INTO last
      FROM events
     WHERE position >= base AND position < base + 65536;
    IF last IS NULL THEN
        NEW.position := base;
    ELSIF last - base >= 65535 THEN
        RAISE EXCEPTION 'more than 65536 events in one transaction';
    ELSE
        NEW.position := last + 1;
    END IF;
    NEW.recorded_at := clock_timestamp();
    RETURN NEW;
END
$$;

CREATE TRIGGER events_assign_position
    BEFORE INSERT ON events
    FOR EACH ROW EXECUTE FUNCTION events_assign_position();

-- The log is the record: it is only ever appended to.
CREATE FUNCTION events_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the event log is append-only (% refused)', TG_OP;
END
$$;

CREATE TRIGGER events_no_update_or_delete
    BEFORE UPDATE OR DELETE ON events
    FOR EACH ROW EXECUTE FUNCTION events_append_only();

CREATE TRIGGER events_no_truncate
    BEFORE TRUNCATE ON events
    FOR EACH STATEMENT EXECUTE FUNCTION events_append_only();

-- The highest position that is safe to read: everything below it is final.
CREATE FUNCTION events_safe_bound() RETURNS bigint
LANGUAGE sql STABLE AS $$
    SELECT (pg_snapshot_xmin(pg_current_snapshot())::text::bigint) << 16
$$;

-- One row per named subscriber (projection, relay, worker): the position it has handled.
CREATE TABLE subscriber_checkpoints (
    name       text        PRIMARY KEY,
    position   bigint      NOT NULL DEFAULT 0,
    updated_at timestamptz NOT NULL DEFAULT now()
);
