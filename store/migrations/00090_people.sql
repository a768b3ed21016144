-- +goose Up
-- Finance as named people: users, their sign-in, roles, four-eyes
-- approvals and the audit log (API.md "People, roles and approvals";
-- issue 26). Every table here is written by package people alone.
--
-- Secrets are never stored as given: passwords as argon2id PHC strings,
-- one-time links, sign-in challenges, session tokens and recovery codes as
-- SHA-256 of a random value of ≥ 128 bits, so a read of these tables lets
-- no one sign in. The TOTP secret is the exception (the server must compute
-- the codes): it is the second factor, useless without the password.
-- Business times come from the service clock (the caller's now), never
-- now() in SQL.

-- A person. email is kept lower-case (the unique key is on it); role and
-- status are people.Role and people.UserStatus.
CREATE TABLE users (
    id              text PRIMARY KEY,
    email           text NOT NULL UNIQUE CHECK (email = lower(email)),
    name            text NOT NULL,
    role            text NOT NULL CHECK (role IN ('viewer','reviewer','approver','admin')),
    status          text NOT NULL CHECK (status IN ('invited','active','disabled')),
    password_hash   text,            -- NULL until the welcome link is used
    password_set_at timestamptz,
    created_at      timestamptz NOT NULL,
    updated_at      timestamptz NOT NULL,
    disabled_at     timestamptz,
    CHECK ((status = 'invited') = (password_hash IS NULL) OR status = 'disabled')
);

-- One-time links (welcome and reset): valid 24 h, used once. A new link
-- for a user voids the earlier unused ones (used_at set, void = true).
CREATE TABLE user_tokens (
    hash       bytea PRIMARY KEY,
    user_id    text NOT NULL REFERENCES users(id),
    purpose    text NOT NULL CHECK (purpose IN ('welcome','reset')),
    created_at timestamptz NOT NULL,
    expires_at timestamptz NOT NULL,
    used_at    timestamptz,
    void       boolean NOT NULL DEFAULT false
);
CREATE INDEX user_tokens_user ON user_tokens (user_id) WHERE used_at IS NULL;

-- The enrolled TOTP secret (base32) and the last time step accepted: a
-- code of that step or an earlier one is refused (RFC 6238 §5.2, no reuse).
CREATE TABLE user_totp (
    user_id     text PRIMARY KEY REFERENCES users(id),
    secret      text NOT NULL,
    last_step   bigint NOT NULL,
    enrolled_at timestamptz NOT NULL
);

-- Recovery codes: ten per enrolment, each usable once, stored hashed.
CREATE TABLE user_recovery_codes (
    user_id    text NOT NULL REFERENCES users(id),
    code_hash  bytea NOT NULL,
    created_at timestamptz NOT NULL,
    used_at    timestamptz,
    PRIMARY KEY (user_id, code_hash)
);

-- Failed sign-ins, counted over a window by e-mail and by client address,
-- so every `serve` process throttles the same way.
CREATE TABLE sign_in_failures (
    id    bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    email text NOT NULL,             -- as typed, lower-cased ('' when unknown)
    addr  text NOT NULL,             -- client IP ('' when unknown)
    at    timestamptz NOT NULL
);
CREATE INDEX sign_in_failures_email ON sign_in_failures (email, at);
CREATE INDEX sign_in_failures_addr ON sign_in_failures (addr, at);
CREATE INDEX sign_in_failures_at ON sign_in_failures (at);

-- A lock-out: key is 'email:' || e-mail or 'addr:' || address; tries are
-- refused until `until`.
CREATE TABLE sign_in_locks (
    key   text PRIMARY KEY,
    until timestamptz NOT NULL
);

-- The pending TOTP step of a sign-in whose password was right: short-lived
-- and used once.
CREATE TABLE sign_in_challenges (
    hash       bytea PRIMARY KEY,
    user_id    text NOT NULL REFERENCES users(id),
    created_at timestamptz NOT NULL,
    expires_at timestamptz NOT NULL
);
CREATE INDEX sign_in_challenges_expiry ON sign_in_challenges (expires_at);

-- A signed-in person's session. The row goes at sign-out and when the
-- user is disabled; it is ignored after `idle` without a request or at
-- expires_at.
CREATE TABLE user_sessions (
    hash         bytea PRIMARY KEY,
    user_id      text NOT NULL REFERENCES users(id),
    csrf         text NOT NULL,     -- synchronizer token of this session's forms
    addr         text NOT NULL,
    created_at   timestamptz NOT NULL,
    last_seen_at timestamptz NOT NULL,
    expires_at   timestamptz NOT NULL
);
CREATE INDEX user_sessions_user ON user_sessions (user_id);
CREATE INDEX user_sessions_expiry ON user_sessions (expires_at);

-- Four eyes: money moved by hand above LUNAS_APPROVAL_THRESHOLD waits here
-- until another approver decides. payload is what to do once approved (the
-- caller's Executor reads it). account_id has no foreign key: accounts
-- belong to another package. seq orders the list and its cursor.
CREATE TABLE approvals (
    id           text PRIMARY KEY,
    seq          bigint GENERATED ALWAYS AS IDENTITY UNIQUE,
    kind         text NOT NULL CHECK (kind IN ('adjustment','reconciliation','refund')),
    status       text NOT NULL CHECK (status IN ('pending_approval','approved','rejected')),
    account_id   text NOT NULL,
    amount       bigint NOT NULL,
    payload      jsonb NOT NULL,
    requested_by text NOT NULL,
    requested_at timestamptz NOT NULL,
    decided_by   text,
    decided_at   timestamptz,
    reason       text NOT NULL DEFAULT '',
    CHECK ((status = 'pending_approval') = (decided_by IS NULL)),
    CHECK ((decided_by IS NULL) = (decided_at IS NULL)),
    CHECK (status <> 'rejected' OR reason <> ''),
    CHECK (decided_by IS NULL OR decided_by <> requested_by)
);
CREATE INDEX approvals_status ON approvals (status, seq);
CREATE INDEX approvals_account ON approvals (account_id, seq);

-- The audit log: one row per change, append-only. The trigger refuses
-- UPDATE, DELETE and TRUNCATE for every role lunas connects as, so a bug
-- (or a stray statement) cannot rewrite history.
CREATE TABLE audit_log (
    id     bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at     timestamptz NOT NULL,
    actor  text NOT NULL,            -- user e-mail, or 'token:' || 8 hex of the token's SHA-256
    addr   text NOT NULL,
    action text NOT NULL,
    object text NOT NULL,
    before jsonb,
    after  jsonb
);
CREATE INDEX audit_log_actor ON audit_log (actor, id);
CREATE INDEX audit_log_object ON audit_log (object, id);
CREATE INDEX audit_log_at ON audit_log (at);

-- +goose StatementBegin
CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_log is append-only: % refused', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END
$$;
-- +goose StatementEnd
CREATE TRIGGER audit_log_no_change BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only();

-- +goose Down
DROP TABLE audit_log;
DROP FUNCTION audit_log_append_only();
DROP TABLE approvals;
DROP TABLE user_sessions;
DROP TABLE sign_in_challenges;
DROP TABLE sign_in_locks;
DROP TABLE sign_in_failures;
DROP TABLE user_recovery_codes;
DROP TABLE user_totp;
DROP TABLE user_tokens;
DROP TABLE users;
