-- The `usage` read model's rollup (owner: projections::usage): per group, day (UTC) and tool,
-- the counters of `usage_daily` summed over every class of the group's subtree, so that
-- `GET /groups/{id}/usage` reads one group's rows instead of every class's. The projection
-- keeps its own copy of the tree (`usage_groups`, `usage_classes`), as of the event it
-- applies, from the `group` and `class` streams; when a class or a group moves, its whole
-- history leaves the old ancestors' rows and joins the new ones' (usage follows a class's
-- current place in the tree).

-- Each group's path: its ancestors from the root, the group itself last; and the last event
-- of its stream applied here (an event at or below it changes nothing).
CREATE TABLE usage_groups (
    group_id uuid   PRIMARY KEY,
    path     uuid[] NOT NULL,
    version  bigint NOT NULL
);
CREATE INDEX usage_groups_path ON usage_groups USING gin (path);

-- Each class's group, and the last event of its stream applied here.
CREATE TABLE usage_classes (
    class_id uuid   PRIMARY KEY,
    group_id uuid   NOT NULL,
    version  bigint NOT NULL
);
CREATE INDEX usage_classes_group ON usage_classes (group_id);

-- The counters of a group's subtree, a day and a tool. `class_rows` is how many rows of
-- `usage_daily` are summed here: a row exists exactly when some class of the subtree has one
-- (it is deleted when a move leaves it with none), whatever the order and batching of events.
CREATE TABLE usage_rollup (
    group_id              uuid   NOT NULL,
    day                   date   NOT NULL,
    tool_id               uuid   NOT NULL,
    class_rows            bigint NOT NULL DEFAULT 0,
    sessions_started      bigint NOT NULL DEFAULT 0,
    sessions_completed    bigint NOT NULL DEFAULT 0,
    messages              bigint NOT NULL DEFAULT 0,
    struggles             bigint NOT NULL DEFAULT 0,
    misbehaviors          bigint NOT NULL DEFAULT 0,
    safety_concerns       bigint NOT NULL DEFAULT 0,
    recoveries            bigint NOT NULL DEFAULT 0,
    assignments_submitted bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (group_id, day, tool_id)
);

-- The projection now follows the tree's streams too: it rebuilds from the start of the log.
TRUNCATE usage_sessions, usage_daily, usage_active_days, usage_submissions;
DELETE FROM subscriber_checkpoints WHERE name = 'usage';
