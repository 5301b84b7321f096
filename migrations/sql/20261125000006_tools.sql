-- Read model of tools, kept by the `groups` (directory) projection.
CREATE TABLE tools (
    id          uuid        PRIMARY KEY,
    group_id    uuid        NOT NULL,
    name        text        NOT NULL,
    description text        NOT NULL,
    archived    boolean     NOT NULL DEFAULT false,
    created_at  timestamptz NOT NULL,
    updated_at  timestamptz NOT NULL,
    version     bigint      NOT NULL
);
CREATE INDEX tools_group_idx ON tools (group_id, created_at, id);
