-- Live updates for dashboards (README "Live updates"): what each audience topic is told, kept
-- for catch-up and published to core NATS by the realtime publisher.

-- Written by the projection that owns the read model an update mirrors (`source`: the
-- `dashboards`, `notifications`, `interventions` or `safety_concerns` projection), in the
-- transaction that applies the event at `position`, so an update and its read model commit
-- together. One projection commits its rows in position order, which lets the publisher
-- follow each source with a cursor of its own. `body` is the JSON message (it carries
-- `position` too). Rows older than `REALTIME_RETENTION_MS` are pruned once published.
CREATE TABLE realtime_updates (
    topic       text        NOT NULL,
    position    bigint      NOT NULL,
    source      text        NOT NULL,
    body        jsonb       NOT NULL,
    recorded_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (topic, position)
);
CREATE INDEX realtime_updates_source_idx ON realtime_updates (source, position);

-- The publisher's cursor per source: every row of the source at or below `position` has been
-- published. Rows at or below `pruned_below` may have been pruned: a catch-up from below it
-- is answered `410 realtime-history-gone`. A projection writes no row at or below the cursor
-- of its source, so a rebuild publishes nothing twice.
CREATE TABLE realtime_cursors (
    source       text   PRIMARY KEY,
    position     bigint NOT NULL,
    pruned_below bigint NOT NULL DEFAULT 0
);

-- Live updates start at the end of the log as it is now: a rebuild of a read model after
-- this migration does not publish the history before it.
INSERT INTO realtime_cursors (source, position, pruned_below)
SELECT source, coalesce((SELECT max(position) FROM events), 0),
       coalesce((SELECT max(position) FROM events), 0)
FROM unnest(ARRAY['dashboards', 'notifications', 'interventions', 'safety_concerns']) AS source
ON CONFLICT (source) DO NOTHING;
