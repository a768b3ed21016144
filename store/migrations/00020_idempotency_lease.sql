-- +goose Up
-- An Idempotency-Key is held by the request that first used it for a lease,
-- not forever: a request that crashed (its process killed, its database
-- gone) leaves a key whose lease ends, and the next request with the same
-- key and body takes it over instead of being told "in progress" for ever.
-- Keys in progress from before this migration have no lease: free to take.
ALTER TABLE idempotency_keys ADD COLUMN lease_until timestamptz;

-- +goose Down
ALTER TABLE idempotency_keys DROP COLUMN lease_until;
