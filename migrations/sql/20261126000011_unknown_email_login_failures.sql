-- Failed logins for emails that have no account, so that such emails are throttled on the
-- same schedule as an account (`domain::user::login_throttled_until`). Without it the sixth
-- quick wrong password answered 429 for an account and 401 for an unknown email, which told
-- anyone which emails have an account.
--
-- Not a read model (no event behind it: an email without an account has no stream, and
-- attacker-chosen addresses do not belong in the history) and not rebuilt by `replay`:
-- operational state, like the per-IP limits, but shared by every server instance. Keyed
-- by the SHA-256 of the normalized email: pseudonymised, not secret (an unsalted hash of a
-- guessed address matches). Rows are never pruned: an account's failure count does not
-- decay either, and a row forgotten sooner would make the two answer differently again.
-- The table grows with the distinct addresses tried; the per-IP login limit slows that
-- down, it does not bound it.
CREATE TABLE unknown_email_login_failures (
    email_sha256 bytea PRIMARY KEY,
    failures integer NOT NULL CHECK (failures > 0),
    last_failed_at timestamptz NOT NULL
);
