-- +goose Up
-- Tax the way Indonesian B2B finance files it (issue 25, docs/tax.md).

-- The buyer's tax identity (tax.Identity as JSON, normalised and
-- validated by account.Put): what a tax invoice names and whether the
-- buyer withholds PPh 23. NULL: none given, the account gets no faktur.
ALTER TABLE accounts ADD COLUMN tax jsonb;

-- An order's tax lines (tax.Rules.Compute). Orders priced before this
-- migration were priced at 11 % of the subtotal: their tax base is the
-- subtotal and their rate 0.11, which is what they were charged.
ALTER TABLE orders ADD COLUMN tax_base bigint, ADD COLUMN vat_rate numeric(7,4);
UPDATE orders SET tax_base = subtotal, vat_rate = 0.11;
ALTER TABLE orders ALTER COLUMN tax_base SET NOT NULL, ALTER COLUMN vat_rate SET NOT NULL,
    ADD CONSTRAINT orders_tax_base CHECK (tax_base >= 0 AND tax_base <= subtotal);

-- PPh 23 the buyer withholds, fixed at confirm from the account's identity
-- (all NULL: nothing withheld). payable is what every attempt charges and
-- what pays the order in full: derived, so it can never disagree with the
-- total and the withholding it comes from.
ALTER TABLE orders
    ADD COLUMN withholding_kind   text,
    ADD COLUMN withholding_rate   numeric(7,4),
    ADD COLUMN withholding_base   bigint,
    ADD COLUMN withholding_amount bigint,
    ADD CONSTRAINT orders_withholding CHECK (
        (withholding_kind IS NULL AND withholding_rate IS NULL AND withholding_base IS NULL AND withholding_amount IS NULL)
        OR (withholding_kind = 'pph23' AND withholding_rate > 0 AND withholding_base >= 0
            AND withholding_amount > 0 AND withholding_amount < total)),
    ADD COLUMN payable bigint GENERATED ALWAYS AS (total - coalesce(withholding_amount, 0)) STORED;

-- The withholding slip (bukti potong) the buyer sends for a withholding
-- order (package taxbook). One row per withholding order from its confirm.
CREATE TABLE withholding_slips (
    order_id            text PRIMARY KEY REFERENCES orders(id),
    status              text NOT NULL CHECK (status IN ('awaiting_slip','received')),
    number              text,
    slip_date           date,
    content_type        text,
    file                bytea,
    received_at         timestamptz,
    missing_notified_at timestamptz,
    created_at          timestamptz NOT NULL,
    updated_at          timestamptz NOT NULL,
    CHECK ((status = 'received') = (number IS NOT NULL AND received_at IS NOT NULL AND file IS NOT NULL))
);
CREATE INDEX withholding_slips_awaiting ON withholding_slips (status) WHERE status = 'awaiting_slip';

-- The number Coretax assigned to an order's tax invoice, recorded by
-- finance (package taxbook).
CREATE TABLE tax_invoices (
    order_id    text PRIMARY KEY REFERENCES orders(id),
    number      text NOT NULL CHECK (number ~ '^[0-9]{17}$'),
    recorded_at timestamptz NOT NULL
);
CREATE INDEX orders_paid_at ON orders (paid_at) WHERE paid_at IS NOT NULL;

-- +goose Down
DROP INDEX orders_paid_at;
DROP TABLE tax_invoices;
DROP TABLE withholding_slips;
ALTER TABLE orders DROP COLUMN payable, DROP CONSTRAINT orders_withholding, DROP COLUMN withholding_amount,
    DROP COLUMN withholding_base, DROP COLUMN withholding_rate, DROP COLUMN withholding_kind,
    DROP CONSTRAINT orders_tax_base, DROP COLUMN vat_rate, DROP COLUMN tax_base;
ALTER TABLE accounts DROP COLUMN tax;
