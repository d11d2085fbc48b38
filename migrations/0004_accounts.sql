-- Accounts hardening (issue 8): a race-free login throttle, sessions that end their access tokens,
-- passwords a manager resets, and an audit trail of security-relevant actions.

-- The old throttle counted failures per e-mail after the password check; it is replaced by buckets
-- that count every attempt before it (per account and address, per address, per account).
-- login_failures stays for the previous release while both run during a rollout; a later one drops it.
CREATE TABLE login_attempts (
    bucket        text PRIMARY KEY,  -- 'pair:<e-mail> <address>', 'addr:<address>' or 'acct:<e-mail>'
    attempts      integer NOT NULL,
    window_start  timestamptz NOT NULL
);

-- Set by a manager's password reset: until the user chooses their own, only the account routes work.
ALTER TABLE users ADD COLUMN password_change_required boolean NOT NULL DEFAULT false;

-- Access tokens name their session (the refresh family); every request checks that the session still
-- has a live (unrevoked) refresh row: an index of exactly those rows.
CREATE INDEX refresh_tokens_live_family_idx ON refresh_tokens (family) WHERE revoked_at IS NULL;

CREATE TABLE audit_log (
    id          bigserial PRIMARY KEY,
    action      text NOT NULL,
    actor_id    bigint REFERENCES users (id) ON DELETE SET NULL,  -- who did it, when signed in
    user_id     bigint REFERENCES users (id) ON DELETE SET NULL,  -- whom it concerns
    email       text,                                             -- the e-mail tried or concerned
    address     text,                                             -- the client address
    details     jsonb NOT NULL DEFAULT '{}',
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX audit_log_action_idx ON audit_log (action, id);
CREATE INDEX audit_log_actor_idx ON audit_log (actor_id, id);
CREATE INDEX audit_log_user_idx ON audit_log (user_id, id);
CREATE INDEX audit_log_created_idx ON audit_log (created_at);
