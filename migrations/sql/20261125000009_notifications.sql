-- Read models of the `assessments`, `notifications` and `dashboards` projections.

-- Assessments with their audit trace. The content hash is re-verified on every read from
-- `input_snapshot` and `raw_response`, so an edit of either shows up as a mismatch.
CREATE TABLE assessments (
    id                  uuid             PRIMARY KEY,
    learning_session_id uuid             NOT NULL,
    class_id            uuid             NOT NULL,
    group_id            uuid             NOT NULL,
    student_id          uuid             NOT NULL,
    assignment_id       uuid             NULL,
    scores              jsonb            NOT NULL,
    confidence          double precision NOT NULL,
    model               text             NOT NULL,
    prompt_hash         text             NOT NULL,
    input_snapshot      jsonb            NOT NULL,
    raw_response        text             NOT NULL,
    parsed_result       jsonb            NOT NULL,
    content_hash        text             NOT NULL,
    recorded_at         timestamptz      NOT NULL,
    reviewed_by         uuid             NULL,
    reviewed_at         timestamptz      NULL,
    review_notes        text             NULL
);
CREATE INDEX assessments_review_queue_idx ON assessments (class_id, recorded_at)
    WHERE reviewed_at IS NULL;

-- Notifications, per recipient, newest first by log position.
CREATE TABLE notifications (
    id                  uuid        PRIMARY KEY,
    recipient_id        uuid        NOT NULL,
    kind                text        NOT NULL,
    title               text        NOT NULL,
    body                text        NOT NULL,
    class_id            uuid        NOT NULL,
    learning_session_id uuid        NULL,
    assessment_id       uuid        NULL,
    student_id          uuid        NULL,
    subject             jsonb       NOT NULL,
    email               boolean     NOT NULL,
    cause_event_id      uuid        NOT NULL,
    position            bigint      NOT NULL,
    created_at          timestamptz NOT NULL,
    read_at             timestamptz NULL
);
CREATE INDEX notifications_recipient_idx ON notifications (recipient_id, position DESC);
CREATE INDEX notifications_unread_idx ON notifications (recipient_id, position DESC)
    WHERE read_at IS NULL;

-- Email choices per user; kinds not present use their default.
CREATE TABLE notification_preferences (
    user_id uuid  PRIMARY KEY,
    email   jsonb NOT NULL
);

-- The delivery state of each emailed notification (dead letters for the admins).
CREATE TABLE email_deliveries (
    notification_id  uuid        PRIMARY KEY,
    recipient_id     uuid        NOT NULL,
    kind             text        NOT NULL,
    status           text        NOT NULL
        CHECK (status IN ('pending', 'delivered', 'dead_lettered', 'retry_requested')),
    attempts         integer     NOT NULL,
    last_error       text        NULL,
    updated_at       timestamptz NOT NULL,
    dead_lettered_at timestamptz NULL
);
CREATE INDEX email_deliveries_dead_idx ON email_deliveries (dead_lettered_at)
    WHERE status = 'dead_lettered';

-- Class dashboards.
CREATE TABLE dashboard_sessions (
    session_id uuid    PRIMARY KEY,
    class_id   uuid    NOT NULL,
    student_id uuid    NOT NULL,
    active     boolean NOT NULL
);
CREATE INDEX dashboard_sessions_class_idx ON dashboard_sessions (class_id) WHERE active;

CREATE TABLE dashboard_misbehavior (
    class_id uuid    NOT NULL,
    day      date    NOT NULL,
    severity text    NOT NULL,
    count    integer NOT NULL,
    PRIMARY KEY (class_id, day, severity)
);

CREATE TABLE dashboard_struggles (
    session_id uuid        PRIMARY KEY,
    class_id   uuid        NOT NULL,
    student_id uuid        NOT NULL,
    topic      text        NOT NULL,
    since      timestamptz NOT NULL
);
CREATE INDEX dashboard_struggles_class_idx ON dashboard_struggles (class_id);

CREATE TABLE dashboard_safety_concerns (
    event_id     uuid        PRIMARY KEY,
    class_id     uuid        NOT NULL,
    session_id   uuid        NOT NULL,
    student_id   uuid        NOT NULL,
    concern_type text        NOT NULL,
    urgency      text        NOT NULL,
    detected_at  timestamptz NOT NULL,
    resolved_at  timestamptz NULL
);
CREATE INDEX dashboard_safety_open_idx ON dashboard_safety_concerns (class_id)
    WHERE resolved_at IS NULL;

CREATE TABLE dashboard_assessments (
    assessment_id uuid    PRIMARY KEY,
    class_id      uuid    NOT NULL,
    needs_review  boolean NOT NULL
);
CREATE INDEX dashboard_assessments_class_idx ON dashboard_assessments (class_id)
    WHERE needs_review;

-- The last 50 relevant events per class.
CREATE TABLE dashboard_recent_events (
    class_id    uuid        NOT NULL,
    position    bigint      NOT NULL,
    event_type  text        NOT NULL,
    session_id  uuid        NULL,
    student_id  uuid        NULL,
    summary     text        NOT NULL,
    recorded_at timestamptz NOT NULL,
    PRIMARY KEY (class_id, position)
);

-- How far each class's dashboard has followed the log (re-delivered events are skipped).
CREATE TABLE dashboard_classes (
    class_id uuid   PRIMARY KEY,
    position bigint NOT NULL
);

-- The reactions subscriber starts at the end of the log as it is now: detections recorded
-- before notifications existed are not notified (nor emailed) after the fact.
INSERT INTO subscriber_checkpoints (name, position)
SELECT 'reactions', coalesce(max(position), 0) FROM events
ON CONFLICT (name) DO NOTHING;
