-- +goose Up
-- A mail is sent by one process at a time: the sender holds a lease until
-- it records the outcome. A task redelivered while another worker is still
-- sending (after a Redis outage, say) finds the lease and retries later.
ALTER TABLE mails ADD COLUMN lease_until timestamptz;

-- +goose Down
ALTER TABLE mails DROP COLUMN lease_until;
