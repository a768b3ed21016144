-- +goose Up
-- The console's sign-in by API token is gone (issue 26): finance signs in
-- as named people, whose sessions are package people's user_sessions
-- (00090_people.sql). The token sessions end with their table.
DROP TABLE console_sessions;

-- +goose Down
CREATE TABLE console_sessions (
    id_hash      bytea PRIMARY KEY,
    role         text NOT NULL,
    identity     text NOT NULL,
    csrf         text NOT NULL,
    created_at   timestamptz NOT NULL,
    last_seen_at timestamptz NOT NULL
);
CREATE INDEX console_sessions_seen ON console_sessions (last_seen_at);
