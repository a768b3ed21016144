-- +goose Up
-- Finance console sessions (API.md "Finance console"). The cookie carries an
-- opaque random id; only its SHA-256 is stored, so a read of this table
-- gives no one a session. Kept in PostgreSQL so that every `serve` process
-- honours every session. A session ends after `idle` without a request
-- (service clock), at sign-out, or when its token is withdrawn.
CREATE TABLE console_sessions (
    id_hash      bytea PRIMARY KEY,
    role         text NOT NULL,
    identity     text NOT NULL,   -- the token's identity (token.Caller), the actor of every action
    csrf         text NOT NULL,   -- synchronizer token of this session's forms
    created_at   timestamptz NOT NULL,
    last_seen_at timestamptz NOT NULL
);
CREATE INDEX console_sessions_seen ON console_sessions (last_seen_at);

-- +goose Down
DROP TABLE console_sessions;
