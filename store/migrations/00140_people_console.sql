-- +goose Up
-- Finance as named people (issue 26).
--
-- The console's sign-in by API token is gone: finance signs in as named
-- people, whose sessions are package people's user_sessions
-- (00090_people.sql). The token sessions end with their table.
DROP TABLE console_sessions;

-- The welcome and reset links are mailed (mail kind people_link): such a
-- mail belongs to a person, neither an order nor an account. Its data (the
-- link, a credential) is cleared once the SMTP server has accepted it.
ALTER TABLE mails DROP CONSTRAINT mails_subject,
    ADD CONSTRAINT mails_subject CHECK (order_id IS NOT NULL OR account_id IS NOT NULL OR kind = 'people_link');

-- +goose Down
DELETE FROM mails WHERE kind = 'people_link';
ALTER TABLE mails DROP CONSTRAINT mails_subject,
    ADD CONSTRAINT mails_subject CHECK (order_id IS NOT NULL OR account_id IS NOT NULL);
CREATE TABLE console_sessions (
    id_hash      bytea PRIMARY KEY,
    role         text NOT NULL,
    identity     text NOT NULL,
    csrf         text NOT NULL,
    created_at   timestamptz NOT NULL,
    last_seen_at timestamptz NOT NULL
);
CREATE INDEX console_sessions_seen ON console_sessions (last_seen_at);
