-- +goose Up
-- Money is bigint whole rupiah everywhere. Times are timestamptz (UTC).

CREATE TABLE accounts (
    id          text PRIMARY KEY,
    name        text NOT NULL,
    address     text NOT NULL DEFAULT '',
    npwp        text NOT NULL DEFAULT '',
    -- Cached balances: always updated in the same transaction as the ledger
    -- postings they summarise, and re-derivable from them.
    wa_balance  bigint NOT NULL DEFAULT 0 CHECK (wa_balance >= 0),
    muv         bigint NOT NULL DEFAULT 0 CHECK (muv >= 0),
    outstanding bigint NOT NULL DEFAULT 0 CHECK (outstanding >= 0),
    created_at  timestamptz NOT NULL,
    updated_at  timestamptz NOT NULL
);

CREATE TABLE orders (
    id              text PRIMARY KEY,
    account_id      text NOT NULL REFERENCES accounts(id),
    status          text NOT NULL CHECK (status IN ('draft','awaiting_payment','in_review','paid','expired','cancelled','rejected','closed')),
    requester_name  text NOT NULL,
    requester_email text NOT NULL,
    locale          text NOT NULL CHECK (locale IN ('id','en')),
    currency        text NOT NULL DEFAULT 'IDR',
    subtotal        bigint NOT NULL CHECK (subtotal >= 0),
    vat             bigint NOT NULL CHECK (vat >= 0),
    total           bigint NOT NULL CHECK (total >= 0),
    paid_at         timestamptz,
    paid_attempt_id text,
    status_reason   text,
    review_since    timestamptz,
    created_at      timestamptz NOT NULL,
    updated_at      timestamptz NOT NULL
);
CREATE INDEX orders_status_created ON orders (status, created_at);
CREATE INDEX orders_account ON orders (account_id, created_at DESC, id DESC);
CREATE INDEX orders_created ON orders (created_at DESC, id DESC);

CREATE TABLE order_items (
    order_id           text NOT NULL REFERENCES orders(id) ON DELETE CASCADE,
    line               int NOT NULL,
    product            text NOT NULL,
    unit               text NOT NULL,
    requested_quantity bigint NOT NULL,
    quantity           bigint NOT NULL,
    amount             bigint NOT NULL CHECK (amount >= 0),
    adjustment         text,
    PRIMARY KEY (order_id, line)
);

-- Gap-free invoice numbers: the counter row is updated inside the confirm
-- transaction, so a rolled-back confirm gives its number back.
CREATE TABLE invoice_counters (
    period text PRIMARY KEY,
    last   bigint NOT NULL
);

CREATE TABLE invoices (
    number     text PRIMARY KEY,
    order_id   text NOT NULL UNIQUE REFERENCES orders(id),
    issued_at  timestamptz NOT NULL,
    expires_at timestamptz NOT NULL
);
CREATE INDEX invoices_expires ON invoices (expires_at);

CREATE TABLE payment_attempts (
    id           text PRIMARY KEY,
    order_id     text NOT NULL REFERENCES orders(id),
    method       text NOT NULL,
    provider     text NOT NULL,
    status       text NOT NULL CHECK (status IN ('pending','succeeded','failed','cancelled','expired')),
    amount       bigint NOT NULL CHECK (amount > 0),
    fee          bigint NOT NULL DEFAULT 0,
    gateway_ref  text,
    details      jsonb NOT NULL DEFAULT '{}',
    failure_code text,
    expires_at   timestamptz,
    created_at   timestamptz NOT NULL,
    updated_at   timestamptz NOT NULL
);
CREATE INDEX payment_attempts_order ON payment_attempts (order_id, created_at);

-- One posting per balance movement; balances are their sums.
CREATE TABLE ledger_postings (
    id            bigserial PRIMARY KEY,
    account_id    text NOT NULL REFERENCES accounts(id),
    balance       text NOT NULL CHECK (balance IN ('wa_balance','muv','outstanding')),
    amount        bigint NOT NULL CHECK (amount <> 0),
    kind          text NOT NULL,
    order_id      text REFERENCES orders(id),
    adjustment_id text,
    event_id      bigint,
    memo          text NOT NULL DEFAULT '',
    created_at    timestamptz NOT NULL
);
CREATE INDEX ledger_account ON ledger_postings (account_id, id DESC);
-- An order is credited at most once per balance and kind.
CREATE UNIQUE INDEX ledger_order_once ON ledger_postings (order_id, balance, kind) WHERE order_id IS NOT NULL;

CREATE TABLE adjustments (
    id         text PRIMARY KEY,
    account_id text NOT NULL REFERENCES accounts(id),
    product    text NOT NULL,
    kind       text NOT NULL,
    amount     bigint NOT NULL CHECK (amount > 0),
    reason     text NOT NULL,
    actor      text NOT NULL,
    created_at timestamptz NOT NULL
);

-- The inbox: every verified gateway callback, raw, once per dedupe key.
CREATE TABLE gateway_events (
    id           bigserial PRIMARY KEY,
    provider     text NOT NULL,
    dedupe_key   text NOT NULL UNIQUE,
    payload      bytea NOT NULL,
    received_at  timestamptz NOT NULL DEFAULT now(),
    processed_at timestamptz,
    outcome      text,
    flag         text,
    order_id     text,
    attempt_id   text
);
CREATE INDEX gateway_events_flag ON gateway_events (flag, id DESC) WHERE flag IS NOT NULL;
CREATE INDEX gateway_events_unprocessed ON gateway_events (id) WHERE processed_at IS NULL;

-- The outbox: work implied by a committed state change. The id is
-- deterministic and becomes the asynq TaskID, so a job is never doubled.
CREATE TABLE outbox (
    id         text PRIMARY KEY,
    task_type  text NOT NULL,
    payload    bytea NOT NULL,
    process_at timestamptz,
    created_at timestamptz NOT NULL DEFAULT now(),
    relayed_at timestamptz,
    done_at    timestamptz
);
CREATE INDEX outbox_unrelayed ON outbox (created_at) WHERE relayed_at IS NULL;
CREATE INDEX outbox_undone ON outbox (relayed_at) WHERE done_at IS NULL;

CREATE TABLE mails (
    id          text PRIMARY KEY,
    order_id    text NOT NULL REFERENCES orders(id),
    kind        text NOT NULL,
    to_addr     text NOT NULL,
    locale      text NOT NULL,
    status      text NOT NULL CHECK (status IN ('queued','sent','failed')),
    message_id  text NOT NULL,
    reason      text,
    attempts    int NOT NULL DEFAULT 0,
    last_error  text,
    created_at  timestamptz NOT NULL,
    sent_at     timestamptz
);
CREATE INDEX mails_order ON mails (order_id);

CREATE TABLE documents (
    order_id    text NOT NULL REFERENCES orders(id),
    kind        text NOT NULL CHECK (kind IN ('unpaid','paid')),
    pdf         bytea NOT NULL,
    sha256      text NOT NULL,
    rendered_at timestamptz NOT NULL,
    PRIMARY KEY (order_id, kind)
);

CREATE TABLE proofs (
    id             text PRIMARY KEY,
    order_id       text NOT NULL REFERENCES orders(id),
    content_type   text NOT NULL,
    size           bigint NOT NULL,
    sha256         text NOT NULL,
    data           bytea NOT NULL,
    amount         bigint NOT NULL,
    transferred_at timestamptz NOT NULL,
    sender_bank    text NOT NULL,
    sender_name    text NOT NULL,
    created_at     timestamptz NOT NULL
);
CREATE INDEX proofs_order ON proofs (order_id, created_at DESC);

CREATE TABLE reviews (
    id         text PRIMARY KEY,
    order_id   text NOT NULL REFERENCES orders(id),
    proof_id   text,
    decision   text NOT NULL,
    reason     text NOT NULL DEFAULT '',
    actor      text NOT NULL,
    decided_at timestamptz NOT NULL
);

CREATE TABLE idempotency_keys (
    identity     text NOT NULL,
    key          text NOT NULL,
    request_hash text NOT NULL,
    status       int,
    response     bytea,
    created_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (identity, key)
);

CREATE TABLE test_clock (
    id        int PRIMARY KEY CHECK (id = 1),
    offset_ns bigint NOT NULL,
    set_to    timestamptz NOT NULL,
    set_at    timestamptz NOT NULL
);

-- +goose Down
DROP TABLE test_clock, idempotency_keys, reviews, proofs, documents, mails, outbox,
    gateway_events, adjustments, ledger_postings, payment_attempts, invoices,
    invoice_counters, order_items, orders, accounts;
