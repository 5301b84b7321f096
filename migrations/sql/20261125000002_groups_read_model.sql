CREATE EXTENSION IF NOT EXISTS ltree;

-- Read model of the `groups` projection. `path` is the chain of group ids from the root
-- (ids in hex without dashes, as ltree labels), so "all descendants of G" is one indexed
-- query: `path <@ (SELECT path FROM groups WHERE id = G)`.
CREATE TABLE groups (
    id         uuid        PRIMARY KEY,
    name       text        NOT NULL,
    parent_id  uuid        NULL,
    path       ltree       NOT NULL,
    archived   boolean     NOT NULL DEFAULT false,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL,
    -- Number of events of the group's stream applied; each update is guarded by it, so an
    -- event can never be applied twice or out of order.
    version    bigint      NOT NULL
);

CREATE INDEX groups_path_gist ON groups USING gist (path);
CREATE INDEX groups_parent_idx ON groups (parent_id);
CREATE INDEX groups_created_idx ON groups (created_at, id);
