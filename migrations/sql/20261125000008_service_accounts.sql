-- Read model of service accounts, kept by the `identity` projection.
CREATE TABLE service_accounts (
    id          uuid        PRIMARY KEY,
    name        text        NOT NULL,
    group_ids   uuid[]      NOT NULL,
    secret_hash text        NOT NULL UNIQUE,
    revoked     boolean     NOT NULL DEFAULT false,
    created_at  timestamptz NOT NULL,
    updated_at  timestamptz NOT NULL,
    version     bigint      NOT NULL
);
