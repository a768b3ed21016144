-- +goose Up
-- invoice.overdue is sent once per subscription invoice, the day after its
-- due date passed unpaid (order.NotifyOverdue, the worker's sweep): the
-- time it was sent, and an index of the invoices still to be told about.
ALTER TABLE orders ADD COLUMN overdue_notified_at timestamptz;
CREATE INDEX orders_overdue_unnotified ON orders (due_date) WHERE subscription_id IS NOT NULL AND overdue_notified_at IS NULL;

-- +goose Down
DROP INDEX orders_overdue_unnotified;
ALTER TABLE orders DROP COLUMN overdue_notified_at;
