-- The filters of `GET /events` for auditors: who issued the command, when the event was
-- recorded, and which class or group it touches. Each is served by an index, so that a
-- filtered page never scans the log (`projections::log::read_after` says how a page is
-- found).

-- The actor of the command (metadata `actor`: `user:<id>`, `service:<id>`, `system:<name>`,
-- `anonymous`), in log order: "everything this person did" walks this index from the page's
-- `after`.
CREATE INDEX events_actor_idx ON events ((metadata ->> 'actor'), position);

-- When each event was recorded, for the `from` / `to` range; with the position, so that the
-- positions of a time range are read from the index alone.
CREATE INDEX events_recorded_at_idx ON events (recorded_at, position);

-- The classes and groups an event's payload names, as `class:<id>` and `group:<id>`:
-- `class_id` (the start of a learning session, an assessment, a safety concern, a struggle
-- intervention), `subject.class_id` (a notification about a class), `group_id` (a class
-- created or moved, a tool, the starts above), `parent_id` (a group created or moved) and
-- `group_ids` (a service account). A stream touches every class and group that one of its
-- events names, besides the class or group it is (`projections::log::Scope`). Only the
-- names of the payload's top level (and a notification's subject) count.
CREATE FUNCTION event_scope(payload jsonb) RETURNS text[]
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
    SELECT array_remove(ARRAY[
               'class:' || (payload ->> 'class_id'),
               'class:' || (payload -> 'subject' ->> 'class_id'),
               'group:' || (payload ->> 'group_id'),
               'group:' || (payload ->> 'parent_id')
           ], NULL)
        || CASE WHEN jsonb_typeof(payload -> 'group_ids') = 'array'
                THEN ARRAY(SELECT 'group:' || g
                             FROM jsonb_array_elements_text(payload -> 'group_ids') AS g)
                ELSE '{}'::text[]
           END
$$;

-- Only events with one of those keys are indexed (the others name nothing); a query repeats
-- this predicate word for word (`projections::log`) so that the index serves it.
CREATE INDEX events_scope_idx ON events USING gin (event_scope(payload))
    WHERE payload ?| ARRAY['class_id', 'subject', 'group_id', 'parent_id', 'group_ids'];
