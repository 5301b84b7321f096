-- The workflows (ADR 0010): durable timers, the process manager's routing of struggle
-- detections, and the read models of interventions and safety concerns.

-- Durable timers (owner: application::workflows::timers). `due_at` is the database clock
-- plus the delay; `fired_at` is set once the saga recorded the firing.
CREATE TABLE workflow_timers (
    id         uuid        PRIMARY KEY,
    saga_type  text        NOT NULL,
    saga_id    uuid        NOT NULL,
    purpose    text        NOT NULL,
    due_at     timestamptz NOT NULL,
    created_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    fired_at   timestamptz NULL
);
CREATE INDEX workflow_timers_due_idx ON workflow_timers (due_at) WHERE fired_at IS NULL;
CREATE INDEX workflow_timers_saga_idx ON workflow_timers (saga_id);

-- Which run of an intervention a struggle detection belongs to, by log position (owner:
-- application::workflows::runs). Written by the process manager, not a read model: a replay
-- of the `workflows` subscriber reads it back and finds the same answers.
CREATE TABLE struggle_intervention_runs (
    id                  uuid   PRIMARY KEY,
    learning_session_id uuid   NOT NULL,
    topic_key           text   NOT NULL,
    started_position    bigint NOT NULL,
    ended_position      bigint NULL
);
CREATE INDEX struggle_intervention_runs_session_idx
    ON struggle_intervention_runs (learning_session_id, topic_key, started_position);

-- Read model (projection `interventions`): every struggle intervention, for the class's
-- intervention log.
CREATE TABLE interventions (
    id                  uuid        PRIMARY KEY,
    class_id            uuid        NOT NULL,
    learning_session_id uuid        NOT NULL,
    student_id          uuid        NOT NULL,
    topic               text        NOT NULL,
    step                text        NOT NULL,
    detections          integer     NOT NULL,
    teachers_notified   integer     NULL,
    outcome             text        NULL,
    started_at          timestamptz NOT NULL,
    ended_at            timestamptz NULL,
    -- Where it started in the log (newest first, and the paging cursor).
    started_position    bigint      NOT NULL,
    -- The last event applied (a redelivered event at or below it is skipped).
    position            bigint      NOT NULL
);
CREATE INDEX interventions_class_idx ON interventions (class_id, started_position DESC);

-- Read model (projection `safety_concerns`): every safety concern.
CREATE TABLE safety_concerns (
    id                  uuid        PRIMARY KEY,
    class_id            uuid        NOT NULL,
    group_id            uuid        NOT NULL,
    learning_session_id uuid        NOT NULL,
    student_id          uuid        NOT NULL,
    concern_type        text        NOT NULL,
    urgency             text        NOT NULL,
    status              text        NOT NULL,
    level               integer     NULL,
    session_paused      boolean     NOT NULL DEFAULT false,
    acknowledged_by     uuid        NULL,
    acknowledged_at     timestamptz NULL,
    resolved_by         uuid        NULL,
    resolved_at         timestamptz NULL,
    outcome             text        NULL,
    opened_at           timestamptz NOT NULL,
    opened_position     bigint      NOT NULL,
    position            bigint      NOT NULL
);
CREATE INDEX safety_concerns_opened_idx ON safety_concerns (opened_position DESC);
CREATE INDEX safety_concerns_class_idx ON safety_concerns (class_id, opened_position DESC);

-- The dashboard counts a concern open until its escalation is resolved.
ALTER TABLE dashboard_safety_concerns ADD COLUMN concern_id uuid NULL;
CREATE INDEX dashboard_safety_concern_id_idx ON dashboard_safety_concerns (concern_id);

-- The process manager starts at the end of the log as it is now: concerns and struggles
-- detected before the workflows existed were notified by the reactions subscriber, and are
-- not paused or escalated after the fact.
INSERT INTO subscriber_checkpoints (name, position)
SELECT 'workflows', coalesce(max(position), 0) FROM events
ON CONFLICT (name) DO NOTHING;
