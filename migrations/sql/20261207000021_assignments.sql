-- Assignments and submissions (issue #21), read models of the `assignments` projection
-- (owner: projections::assignments), and the dashboards' count of submissions awaiting a
-- grade (owner: projections::dashboards).

CREATE TABLE assignments (
    id           uuid        PRIMARY KEY,
    class_id     uuid        NOT NULL,
    title        text        NOT NULL,
    instructions text        NOT NULL,
    tool_id      uuid,
    due_at       timestamptz,
    max_score    integer,
    status       text        NOT NULL CHECK (status IN ('draft', 'published', 'closed')),
    archived     boolean     NOT NULL DEFAULT false,
    created_by   uuid,
    created_at   timestamptz NOT NULL,
    updated_at   timestamptz NOT NULL,
    version      bigint      NOT NULL
);
CREATE INDEX assignments_class_idx ON assignments (class_id, created_at DESC, id DESC);

CREATE TABLE submissions (
    id            uuid        PRIMARY KEY,
    assignment_id uuid        NOT NULL,
    class_id      uuid        NOT NULL,
    student_id    uuid        NOT NULL,
    content       text        NOT NULL,
    evidence      uuid[]      NOT NULL DEFAULT '{}',
    status        text        NOT NULL CHECK (status IN ('draft', 'submitted', 'graded')),
    attempts      integer     NOT NULL DEFAULT 0,
    late          boolean     NOT NULL DEFAULT false,
    submitted_at  timestamptz,
    score         integer,
    max_score     integer,
    feedback      text,
    graded_by     uuid,
    graded_at     timestamptz,
    created_at    timestamptz NOT NULL,
    updated_at    timestamptz NOT NULL,
    version       bigint      NOT NULL,
    UNIQUE (assignment_id, student_id)
);
CREATE INDEX submissions_student_idx ON submissions (student_id);

CREATE TABLE dashboard_submissions (
    submission_id  uuid    PRIMARY KEY,
    class_id       uuid    NOT NULL,
    student_id     uuid    NOT NULL,
    awaiting_grade boolean NOT NULL
);
CREATE INDEX dashboard_submissions_awaiting_idx ON dashboard_submissions (class_id)
    WHERE awaiting_grade;

-- A submission shows the assessments recorded for its assignment and student; the review
-- queue filters by assignment.
CREATE INDEX assessments_assignment_idx ON assessments (assignment_id, student_id)
    WHERE assignment_id IS NOT NULL;
