-- +goose Up
-- Money integrity (issue 12): reversals of confirmed refunds and
-- chargebacks, the janitor's schedule for lost callbacks, what the gateway
-- confirmed for each inbox event, and finance's resolution of flags.

ALTER TABLE orders DROP CONSTRAINT orders_status_check;
ALTER TABLE orders ADD CONSTRAINT orders_status_check CHECK (status IN
    ('draft','awaiting_payment','in_review','paid','expired','cancelled','rejected','closed','refunded'));
-- What the gateway has taken back of the paying attempt, in rupiah.
ALTER TABLE orders ADD COLUMN refunded_amount bigint NOT NULL DEFAULT 0 CHECK (refunded_amount >= 0);

-- refunded_amount: the gateway's cumulative total taken back of this attempt.
-- next_check_at / checks: when the janitor asks the gateway about a pending
-- attempt next (LUNAS_RECONCILE_AFTER after it opened, then ×4).
ALTER TABLE payment_attempts ADD COLUMN refunded_amount bigint NOT NULL DEFAULT 0 CHECK (refunded_amount >= 0),
    ADD COLUMN next_check_at timestamptz,
    ADD COLUMN checks int NOT NULL DEFAULT 0;
UPDATE payment_attempts SET next_check_at = created_at + interval '15 minutes'
    WHERE status = 'pending' AND provider <> 'manual';
CREATE INDEX payment_attempts_due ON payment_attempts (next_check_at)
    WHERE status = 'pending' AND next_check_at IS NOT NULL;
CREATE INDEX payment_attempts_ref ON payment_attempts (provider, gateway_ref) WHERE gateway_ref IS NOT NULL;

-- confirmed_*: the gateway's own answer when the worker asked it about the
-- event (a callback is a hint); confirmed_paid: that answer says the money
-- of confirmed_amount arrived (settled, captured, or since refunded).
ALTER TABLE gateway_events ADD COLUMN confirmed_status text,
    ADD COLUMN confirmed_amount bigint,
    ADD COLUMN confirmed_paid boolean NOT NULL DEFAULT false,
    ADD COLUMN resolved_at timestamptz,
    ADD COLUMN resolved_by text,
    ADD COLUMN resolution_note text,
    -- How often a callback flagged unconfirmed was delivered again and
    -- re-armed (the gateway may only have been slow to show it).
    ADD COLUMN redeliveries int NOT NULL DEFAULT 0;
CREATE INDEX gateway_events_attempt ON gateway_events (attempt_id) WHERE attempt_id IS NOT NULL;

-- One row per step of money the gateway took back: gateway_total is the
-- cumulative total it reported, amount this step's share of it. The unique
-- key makes a storm of identical notifications reverse once.
CREATE TABLE reversals (
    id            text PRIMARY KEY,
    order_id      text NOT NULL REFERENCES orders(id),
    attempt_id    text NOT NULL REFERENCES payment_attempts(id),
    event_id      bigint REFERENCES gateway_events(id),
    kind          text NOT NULL,
    gateway_total bigint NOT NULL CHECK (gateway_total > 0),
    amount        bigint NOT NULL CHECK (amount > 0),
    created_at    timestamptz NOT NULL,
    UNIQUE (attempt_id, gateway_total)
);
CREATE INDEX reversals_order ON reversals (order_id);

ALTER TABLE ledger_postings ADD COLUMN reversal_id text REFERENCES reversals(id);
DROP INDEX ledger_order_once;
CREATE UNIQUE INDEX ledger_order_once ON ledger_postings (order_id, balance, kind)
    WHERE order_id IS NOT NULL AND reversal_id IS NULL;
CREATE UNIQUE INDEX ledger_reversal_once ON ledger_postings (reversal_id, balance, kind)
    WHERE reversal_id IS NOT NULL;

-- +goose Down
DROP INDEX ledger_reversal_once;
DROP INDEX ledger_order_once;
ALTER TABLE ledger_postings DROP COLUMN reversal_id;
CREATE UNIQUE INDEX ledger_order_once ON ledger_postings (order_id, balance, kind) WHERE order_id IS NOT NULL;
DROP TABLE reversals;
ALTER TABLE gateway_events DROP COLUMN confirmed_status, DROP COLUMN confirmed_amount, DROP COLUMN confirmed_paid,
    DROP COLUMN resolved_at, DROP COLUMN resolved_by, DROP COLUMN resolution_note, DROP COLUMN redeliveries;
ALTER TABLE payment_attempts DROP COLUMN refunded_amount, DROP COLUMN next_check_at, DROP COLUMN checks;
ALTER TABLE orders DROP COLUMN refunded_amount;
ALTER TABLE orders DROP CONSTRAINT orders_status_check;
ALTER TABLE orders ADD CONSTRAINT orders_status_check CHECK (status IN
    ('draft','awaiting_payment','in_review','paid','expired','cancelled','rejected','closed'));
