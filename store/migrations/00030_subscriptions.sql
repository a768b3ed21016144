-- +goose Up
-- Subscriptions and recurring invoices, the overdue report and bulk
-- sending (API.md "Subscriptions and recurring invoices", "Reports",
-- "Bulk sending"; issue 14).

-- A plan: the monthly price before VAT, and how many days before the due
-- date its invoices are issued.
CREATE TABLE plans (
    id         text PRIMARY KEY,
    name       text NOT NULL,
    amount     bigint NOT NULL CHECK (amount >= 0),
    vat        boolean NOT NULL,
    lead_days  int NOT NULL CHECK (lead_days BETWEEN 0 AND 28),
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL
);

-- next_due_date is the due date of the next invoice not yet issued; the
-- issuer issues it at 00:00 (LUNAS_TIMEZONE) on next_due_date − lead_days
-- and moves it one month on (due_day, clamped to the month's last day) in
-- the same transaction.
CREATE TABLE subscriptions (
    id             text PRIMARY KEY,
    account_id     text NOT NULL REFERENCES accounts(id),
    plan_id        text NOT NULL REFERENCES plans(id),
    customer_name  text NOT NULL,
    customer_email text NOT NULL,
    customer_phone text,
    locale         text NOT NULL CHECK (locale IN ('id','en')),
    status         text NOT NULL CHECK (status IN ('active','paused','ended')),
    due_day        int NOT NULL CHECK (due_day BETWEEN 1 AND 31),
    next_due_date  date NOT NULL,
    created_at     timestamptz NOT NULL,
    updated_at     timestamptz NOT NULL
);
CREATE INDEX subscriptions_due ON subscriptions (next_due_date) WHERE status = 'active';
CREATE INDEX subscriptions_account ON subscriptions (account_id, created_at DESC, id DESC);
CREATE INDEX subscriptions_created ON subscriptions (created_at DESC, id DESC);

-- A subscription invoice is an order: it names its subscription, period
-- (YYYY-MM of the due date) and due date. The unique key is what makes
-- "exactly one invoice per subscription and period" hold however many
-- issuers race.
ALTER TABLE orders
    ADD COLUMN subscription_id text REFERENCES subscriptions(id),
    ADD COLUMN period          text,
    ADD COLUMN due_date        date,
    ADD CONSTRAINT orders_subscription_fields CHECK (
        (subscription_id IS NULL AND period IS NULL AND due_date IS NULL) OR
        (subscription_id IS NOT NULL AND period IS NOT NULL AND due_date IS NOT NULL));
CREATE UNIQUE INDEX orders_subscription_period ON orders (subscription_id, period) WHERE subscription_id IS NOT NULL;
CREATE INDEX orders_due_date ON orders (due_date) WHERE subscription_id IS NOT NULL;

-- The subscription line: its plan and period, and the plan's name at issue
-- (the invoice keeps the name it was issued under).
ALTER TABLE order_items
    ADD COLUMN plan_id     text,
    ADD COLUMN period      text,
    ADD COLUMN description text;

-- A subscription invoice has no deadline: it stays payable, then overdue.
ALTER TABLE invoices ALTER COLUMN expires_at DROP NOT NULL;

-- A bulk sending: the invoices its filter matched when it was submitted,
-- one item per (invoice, channel). business_day is the day (LUNAS_TIMEZONE)
-- it was submitted: the day of its once-per-day delivery keys.
-- heartbeat_at is moved by whoever works on it; the sweeper revives a
-- sending whose heartbeat stopped (its worker died).
CREATE TABLE sendings (
    id           text PRIMARY KEY,
    filter       jsonb NOT NULL,
    channels     text[] NOT NULL,
    message      text NOT NULL CHECK (message IN ('invoice','reminder')),
    business_day date NOT NULL,
    total        int NOT NULL,
    actor        text NOT NULL,
    revivals     int NOT NULL DEFAULT 0,
    heartbeat_at timestamptz,
    created_at   timestamptz NOT NULL,
    finished_at  timestamptz
);

-- status: pending until the item is final (sent, failed, skipped). An email
-- item is final once its mail is queued (mail_id); its sent/failed count
-- is the mail's own status. holder and lease_until: the run working on
-- the item (it renews the lease before each message); next_attempt_at: a
-- transient gateway error's retry.
CREATE TABLE sending_items (
    sending_id      text NOT NULL REFERENCES sendings(id),
    order_id        text NOT NULL REFERENCES orders(id),
    channel         text NOT NULL CHECK (channel IN ('email','whatsapp')),
    status          text NOT NULL CHECK (status IN ('pending','sent','failed','skipped')),
    reason          text,
    mail_id         text,
    attempts        int NOT NULL DEFAULT 0,
    lease_until     timestamptz,
    holder          text,
    next_attempt_at timestamptz,
    updated_at      timestamptz NOT NULL,
    PRIMARY KEY (sending_id, order_id, channel)
);
CREATE INDEX sending_items_pending ON sending_items (sending_id) WHERE status = 'pending';

-- One delivery per (invoice, channel, message, business day), whichever
-- sending asks: the row is claimed before the gateway is called and its
-- outcome recorded after the answer, so a second submission or a revived
-- sending never sends it again. Only a worker killed between the gateway's
-- acceptance and the record leaves a claimed row that is sent again.
CREATE TABLE deliveries (
    order_id     text NOT NULL REFERENCES orders(id),
    channel      text NOT NULL,
    message      text NOT NULL,
    business_day date NOT NULL,
    sending_id   text NOT NULL REFERENCES sendings(id),
    status       text NOT NULL CHECK (status IN ('claimed','sent','failed')),
    attempts     int NOT NULL DEFAULT 0,
    last_error   text,
    claimed_at   timestamptz NOT NULL,
    sent_at      timestamptz,
    PRIMARY KEY (order_id, channel, message, business_day)
);

-- The WhatsApp rate limit shared by every work process: each message
-- takes the next free slot (LUNAS_WHATSAPP_RATE per second, wall time).
CREATE TABLE whatsapp_slots (
    id        int PRIMARY KEY CHECK (id = 1),
    next_slot timestamptz NOT NULL
);

-- +goose Down
DROP TABLE whatsapp_slots, deliveries, sending_items, sendings;
DELETE FROM invoices WHERE expires_at IS NULL;
ALTER TABLE invoices ALTER COLUMN expires_at SET NOT NULL;
ALTER TABLE order_items DROP COLUMN description, DROP COLUMN period, DROP COLUMN plan_id;
DROP INDEX orders_due_date;
DROP INDEX orders_subscription_period;
ALTER TABLE orders DROP CONSTRAINT orders_subscription_fields, DROP COLUMN due_date, DROP COLUMN period, DROP COLUMN subscription_id;
DROP TABLE subscriptions, plans;
