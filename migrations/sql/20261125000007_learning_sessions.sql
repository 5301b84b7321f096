-- Read models of the `learning` projection.
CREATE TABLE learning_sessions (
    id                 uuid        PRIMARY KEY,
    student_id         uuid        NOT NULL,
    class_id           uuid        NOT NULL,
    group_id           uuid        NOT NULL,
    tool_id            uuid        NOT NULL,
    status             text        NOT NULL CHECK (status IN ('active', 'paused', 'completed')),
    message_count      integer     NOT NULL DEFAULT 0,
    detection_count    integer     NOT NULL DEFAULT 0,
    summary            text        NULL,
    topics_covered     jsonb       NULL,
    started_at         timestamptz NOT NULL,
    updated_at         timestamptz NOT NULL,
    completed_at       timestamptz NULL,
    version            bigint      NOT NULL
);
CREATE INDEX learning_sessions_class_idx ON learning_sessions (class_id, started_at DESC);
CREATE INDEX learning_sessions_student_idx ON learning_sessions (student_id, started_at DESC);

-- Everything that happened in a session, in order: messages, detections, pauses.
CREATE TABLE learning_session_entries (
    session_id  uuid        NOT NULL,
    sequence    bigint      NOT NULL,
    kind        text        NOT NULL,
    data        jsonb       NOT NULL,
    recorded_at timestamptz NOT NULL,
    PRIMARY KEY (session_id, sequence)
);
