-- The `usage` read model (owner: projections::usage), behind `GET /groups/{id}/usage`: what
-- happened per class, day (UTC) and tool, kept per class and rolled up over a group's subtree
-- when read, through the directory's current tree (`groups.path`, `classes.group_id`): a
-- class's whole history follows it when it moves, and so does a group's.

-- Each learning session's class, tool and student (from its start event), and the last event
-- of its stream applied here (an event at or below it changes nothing).
CREATE TABLE usage_sessions (
    session_id uuid   PRIMARY KEY,
    class_id   uuid   NOT NULL,
    tool_id    uuid   NOT NULL,
    student_id uuid   NOT NULL,
    version    bigint NOT NULL
);

-- The counters of a class, a day and a tool. `tool_id` is the nil UUID for what no tool did
-- (assignments submitted).
CREATE TABLE usage_daily (
    class_id              uuid   NOT NULL,
    day                   date   NOT NULL,
    tool_id               uuid   NOT NULL,
    sessions_started      bigint NOT NULL DEFAULT 0,
    sessions_completed    bigint NOT NULL DEFAULT 0,
    messages              bigint NOT NULL DEFAULT 0,
    struggles             bigint NOT NULL DEFAULT 0,
    misbehaviors          bigint NOT NULL DEFAULT 0,
    safety_concerns       bigint NOT NULL DEFAULT 0,
    recoveries            bigint NOT NULL DEFAULT 0,
    assignments_submitted bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (class_id, day, tool_id)
);

-- The days a student was active in a class with a tool, one row per year: bit i (from the
-- left, 0-based) is day i + 1 of the year (UTC). Distinct active students over any range of
-- up to 366 days (two years at most) are counted exactly from one or two rows per student,
-- class and tool, however many days they were active.
CREATE TABLE usage_active_days (
    class_id   uuid     NOT NULL,
    year       integer  NOT NULL,
    tool_id    uuid     NOT NULL,
    student_id uuid     NOT NULL,
    days       bit(366) NOT NULL,
    PRIMARY KEY (class_id, year, tool_id, student_id)
);

-- Submissions counted, once per day, assignment and student.
CREATE TABLE usage_submissions (
    class_id      uuid NOT NULL,
    day           date NOT NULL,
    assignment_id uuid NOT NULL,
    student_id    uuid NOT NULL,
    PRIMARY KEY (class_id, day, assignment_id, student_id)
);
