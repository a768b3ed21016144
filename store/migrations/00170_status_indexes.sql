-- +goose Up
-- As 00150 did for the webhook claim: statements name a status as a
-- parameter (typed statuses, one valid set in Go), and a partial index
-- WHERE status = '…' cannot serve the generic plan PostgreSQL settles on
-- for a prepared statement, which then scans the whole table. The month-
-- start issuer asks for active subscriptions due by a date once per batch
-- of 50 (10,000 subscriptions: 200 scans of all of them), a bulk sending
-- for its pending items, the slip reminder for the awaiting slips. The
-- status becomes the index's first column instead; the issuer's index ends
-- with its ORDER BY (next_due_date, id), so a batch is the first 50 entries
-- rather than a sort of every active subscription.
CREATE INDEX subscriptions_status_due ON subscriptions (status, next_due_date, id);
DROP INDEX subscriptions_due;
CREATE INDEX sending_items_status ON sending_items (sending_id, status);
DROP INDEX sending_items_pending;
CREATE INDEX withholding_slips_status ON withholding_slips (status);
DROP INDEX withholding_slips_awaiting;

-- +goose Down
CREATE INDEX subscriptions_due ON subscriptions (next_due_date) WHERE status = 'active';
DROP INDEX subscriptions_status_due;
CREATE INDEX sending_items_pending ON sending_items (sending_id) WHERE status = 'pending';
DROP INDEX sending_items_status;
CREATE INDEX withholding_slips_awaiting ON withholding_slips (status) WHERE status = 'awaiting_slip';
DROP INDEX withholding_slips_status;
