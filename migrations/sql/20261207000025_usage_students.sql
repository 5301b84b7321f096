-- The `usage` read model's active students per group, day and tool (owner:
-- projections::usage): each rollup row keeps the set of students of the group's subtree
-- active that day with that tool, as a Roaring bitmap (the portable serialized format) of the
-- students' numbers, so that a report counts distinct students per day, and over its whole
-- range, from the one group's rows instead of every student's active days.

-- Each student's number in the bitmaps: given in the order the log first shows the student
-- active (by position), so a replay, whatever its batches, numbers them alike and writes the
-- same bytes.
CREATE TABLE usage_students (
    student_id uuid    PRIMARY KEY,
    number     integer NOT NULL UNIQUE CHECK (number >= 0)
);

-- The students of the group's subtree active that day with that tool; empty (no bytes) when
-- none is (a day with detections only).
ALTER TABLE usage_rollup ADD COLUMN students bytea NOT NULL DEFAULT '\x';

-- The projection rebuilds from the start of the log to fill them.
TRUNCATE usage_sessions, usage_daily, usage_active_days, usage_submissions, usage_groups,
    usage_classes, usage_rollup;
DELETE FROM subscriber_checkpoints WHERE name = 'usage';
