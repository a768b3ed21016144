-- +goose Up
-- Usage billing (API.md "Usage billing", "Low-balance alerts"): usage
-- events and the postings that charge them, month-end reconciliations,
-- low-balance alert state and account mail.

-- Where an account's alert mail goes (else: its latest paid order's
-- requester), and each balance's low-balance alert state: the reference is
-- the balance right after the last top-up credit (set by ledger.TopUp, which
-- also re-arms the alert by clearing alerted_at).
ALTER TABLE accounts
    ADD COLUMN billing_email  text,
    ADD COLUMN wa_alert_ref   bigint,
    ADD COLUMN wa_alerted_at  timestamptz,
    ADD COLUMN muv_alert_ref  bigint,
    ADD COLUMN muv_alerted_at timestamptz;

-- One row per usage event that moved money or changed state (outcomes
-- charged, free, refunded); blocked and rejected events are not kept, so the
-- app may send them again.
--
-- This is lunas's biggest table (one row per WhatsApp message reported).
-- It has no foreign key to accounts on purpose: every batch holds the
-- account's row lock while it writes, which proves the account exists, and
-- a per-row FK check would cost a lookup per event. Indexes are the ones
-- the hot path needs and no more:
--   usage_events_replay     (account, id, kind): replays, failed → its send
--   usage_events_recipient  (account, recipient, at): the 24 h windows,
--                           the latest inbound, later use of a window
--   usage_events_visitor    (account, visitor, at): once per month
--   usage_events_at         (account, at) of charges: summaries, reconciliation
--
-- Retention plan (not needed at today's volume; written down so that the
-- switch is a migration, not a redesign): range-partition by month of `at`
-- (PARTITION BY RANGE (at), one partition per month created ahead by the
-- sweeper). Every hot query already bounds `at` (windows: 24 h back,
-- visitors: the calendar month, summaries: from/to), so partition pruning
-- keeps them on one or two partitions. The replay key then becomes
-- (account_id, event_id, kind, at), i.e. a replay is recognised within the
-- partitions kept online; apps replay within minutes, not months. Keep 13
-- months online (reconciliation and a year of summaries), then DETACH the
-- partition, archive it (COPY to object storage) and DROP it. The ledger
-- postings of those events stay (they are the books); their usage_event_id
-- then names an archived event.
CREATE TABLE usage_events (
    seq            bigserial PRIMARY KEY,
    account_id     text NOT NULL,
    event_id       text NOT NULL,
    kind           text NOT NULL CHECK (kind IN ('send','inbound','reply','failed','visitor')),
    recipient      text,
    category       text CHECK (category IN ('marketing','utility','authentication','service')),
    visitor        text,
    at             timestamptz NOT NULL,
    outcome        text NOT NULL CHECK (outcome IN ('charged','free','refunded')),
    -- IDR debited (charged) or credited back (refunded); visitors: 1.
    amount         bigint NOT NULL DEFAULT 0 CHECK (amount >= 0),
    -- Charged send or reply: the conversation window it opened, [at, at+24h).
    -- Inbound: the end of the customer-service window it opened.
    window_ends_at timestamptz,
    -- A charge given back by a later failed event; its window is closed.
    refunded       bigint NOT NULL DEFAULT 0 CHECK (refunded >= 0 AND refunded <= amount),
    reason         text,
    created_at     timestamptz NOT NULL
);
CREATE UNIQUE INDEX usage_events_replay ON usage_events (account_id, event_id, kind);
CREATE INDEX usage_events_recipient ON usage_events (account_id, recipient, at) WHERE recipient IS NOT NULL;
CREATE INDEX usage_events_visitor ON usage_events (account_id, visitor, at) WHERE visitor IS NOT NULL;
-- Partial on charges: summaries and reconciliation read only those, and a
-- plain (account_id, at) index was what the planner picked for the window
-- look-up of a hot account while its statistics lagged (every broadcast
-- row has the same at), scanning the account's whole history per batch.
CREATE INDEX usage_events_at ON usage_events (account_id, at) WHERE outcome = 'charged';

-- Month-end reconciliation against the provider's bill, once per account
-- and period (YYYY-MM in LUNAS_TIMEZONE).
CREATE TABLE reconciliations (
    id            text PRIMARY KEY,
    account_id    text NOT NULL REFERENCES accounts(id),
    period        text NOT NULL,
    billed        bigint NOT NULL CHECK (billed >= 0),
    reference     text NOT NULL DEFAULT '',
    charged       bigint NOT NULL,
    difference    bigint NOT NULL,
    adjustment_id text,
    actor         text NOT NULL,
    created_at    timestamptz NOT NULL,
    UNIQUE (account_id, period)
);

-- Every usage debit and refund is a posting tied to its usage event; every
-- reconciliation posting to its reconciliation.
ALTER TABLE ledger_postings
    ADD COLUMN usage_event_id    bigint,
    ADD COLUMN reconciliation_id text;
CREATE UNIQUE INDEX ledger_usage_once ON ledger_postings (usage_event_id, balance) WHERE usage_event_id IS NOT NULL;
CREATE INDEX ledger_reconciliation ON ledger_postings (reconciliation_id) WHERE reconciliation_id IS NOT NULL;

-- Account mail (the low-balance alert) belongs to an account, not an order.
ALTER TABLE mails
    ALTER COLUMN order_id DROP NOT NULL,
    ADD COLUMN account_id text REFERENCES accounts(id),
    ADD COLUMN data jsonb,
    ADD CONSTRAINT mails_subject CHECK (order_id IS NOT NULL OR account_id IS NOT NULL);
CREATE INDEX mails_account ON mails (account_id) WHERE account_id IS NOT NULL;

-- +goose Down
DROP INDEX mails_account;
DELETE FROM mails WHERE order_id IS NULL;
ALTER TABLE mails DROP CONSTRAINT mails_subject, DROP COLUMN data, DROP COLUMN account_id,
    ALTER COLUMN order_id SET NOT NULL;
DROP INDEX ledger_reconciliation;
DROP INDEX ledger_usage_once;
-- The postings stay (they are the books); only their links go.
ALTER TABLE ledger_postings DROP COLUMN reconciliation_id, DROP COLUMN usage_event_id;
DROP TABLE reconciliations, usage_events;
ALTER TABLE accounts DROP COLUMN muv_alerted_at, DROP COLUMN muv_alert_ref, DROP COLUMN wa_alerted_at,
    DROP COLUMN wa_alert_ref, DROP COLUMN billing_email;
