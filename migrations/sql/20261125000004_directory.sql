-- The directory: classes and memberships, maintained by the `groups` projection together
-- with the `groups` table (so that one checkpoint covers everything authorization reads).

CREATE TABLE classes (
    id         uuid        PRIMARY KEY,
    group_id   uuid        NOT NULL,
    name       text        NOT NULL,
    archived   boolean     NOT NULL DEFAULT false,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL,
    version    bigint      NOT NULL
);
CREATE INDEX classes_group_idx ON classes (group_id, created_at, id);

CREATE TABLE group_members (
    group_id uuid        NOT NULL,
    user_id  uuid        NOT NULL,
    role     text        NOT NULL CHECK (role IN ('admin', 'counselor', 'member')),
    since    timestamptz NOT NULL,
    PRIMARY KEY (group_id, user_id)
);
CREATE INDEX group_members_user_idx ON group_members (user_id, group_id);

CREATE TABLE class_members (
    class_id uuid        NOT NULL,
    user_id  uuid        NOT NULL,
    role     text        NOT NULL CHECK (role IN ('teacher', 'student')),
    since    timestamptz NOT NULL,
    PRIMARY KEY (class_id, user_id)
);
CREATE INDEX class_members_user_idx ON class_members (user_id, class_id);

-- System role `auditor` (read-only access to the event history), kept by `identity`.
ALTER TABLE users ADD COLUMN auditor boolean NOT NULL DEFAULT false;
