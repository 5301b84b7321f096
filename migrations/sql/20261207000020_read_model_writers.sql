-- The log's safe bound no longer waits for transactions that cannot append events.
--
-- Until now the bound was pg_snapshot_xmin(current snapshot) << 16: every transaction with an
-- id anywhere in the cluster held it back, including the subscribers' own read-model writes.
-- Under load some subscriber's write transaction is nearly always open, so every new event
-- waited for it before anyone could read it (issue #24: 79-91 % of samples under a flood).
--
-- A connection whose application_name is 'raptscallions read-model writer' promises never to
-- append an event (the subscribers' runner connections and the audit sealer's). The trigger
-- below holds it to that promise: such a connection cannot insert into `events`. The bound
-- is then the lowest in-progress transaction id of the snapshot that does not belong to such
-- a connection, or the snapshot's xmax when there is none. Still gap-safe: a transaction
-- left out of the minimum is a read-model writer's, so it has no events to commit later.
--
-- What it does not cover: a session that appends and then renames itself to the writer tag
-- before committing. Only the service's own connections carry the tag (projections::log).
-- Backends of other roles whose details pg_stat_activity hides count as appenders (the bound
-- is then as before: never less safe).

CREATE FUNCTION events_refuse_read_model_writers() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF current_setting('application_name') = 'raptscallions read-model writer' THEN
        RAISE EXCEPTION 'a read-model writer connection may not append to the event log';
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER events_refuse_read_model_writers
    BEFORE INSERT ON events
    FOR EACH STATEMENT EXECUTE FUNCTION events_refuse_read_model_writers();

-- Transaction ids in pg_stat_activity are 32-bit; the snapshot's are 64-bit (with the epoch).
-- Two transactions in progress together never share their low 32 bits.
CREATE OR REPLACE FUNCTION events_safe_bound() RETURNS bigint
LANGUAGE sql STABLE AS $$
    WITH snapshot AS (SELECT pg_current_snapshot() AS s),
    writers AS (
        SELECT backend_xid::text::bigint AS xid
          FROM pg_stat_get_activity(NULL)
         WHERE application_name = 'raptscallions read-model writer'
           AND backend_xid IS NOT NULL
    )
    SELECT coalesce(
        (SELECT min(x::text::bigint)
           FROM snapshot, pg_snapshot_xip(snapshot.s) AS x
          WHERE (x::text::bigint & 4294967295) NOT IN (SELECT xid FROM writers)),
        (SELECT pg_snapshot_xmax(s)::text::bigint FROM snapshot)
    ) << 16
$$;
