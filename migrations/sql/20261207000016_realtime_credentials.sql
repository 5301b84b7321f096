-- Live dashboards' credentials (ADR 0011). A row per NATS user JWT the API issued: the JWT
-- itself is never stored (it is a bearer credential); its user public key is what a
-- revocation names. Write-side table of infrastructure::realtime::grants.
CREATE TABLE realtime_credentials (
    user_key text PRIMARY KEY,
    user_id uuid NOT NULL,
    auth_session_id uuid NOT NULL,
    class_ids uuid[] NOT NULL,
    subjects text[] NOT NULL,
    issued_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL,
    revoked_at timestamptz NULL
);
CREATE INDEX realtime_credentials_user_idx ON realtime_credentials (user_id)
    WHERE revoked_at IS NULL;
CREATE INDEX realtime_credentials_session_idx ON realtime_credentials (auth_session_id)
    WHERE revoked_at IS NULL;
CREATE INDEX realtime_credentials_expiry_idx ON realtime_credentials (expires_at);

-- The `iat` of the last application-account JWT sent to NATS: every update carries a later
-- one (the server keeps the newest), whichever process sends it.
CREATE TABLE realtime_account (
    singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    issued_at bigint NOT NULL
);
INSERT INTO realtime_account (singleton, issued_at) VALUES (true, 0);

-- Revocations start at the end of the log: no credential was issued before.
INSERT INTO subscriber_checkpoints (name, position)
SELECT 'realtime-revocations', coalesce(max(position), 0) FROM events
ON CONFLICT (name) DO NOTHING;
