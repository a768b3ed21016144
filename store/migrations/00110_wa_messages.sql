-- +goose Up
-- WhatsApp billed the way Meta bills it since 2025-07-01 (API.md "Billing by
-- message"): rate cards in price lists, the account's price list and Meta
-- phone-number ids, per-message usage events, monthly volume-tier counters
-- and the inbox of Meta's status webhooks.

-- The price list whose cards price an account's messages.
ALTER TABLE accounts ADD COLUMN wa_price_list text NOT NULL DEFAULT 'default';

-- Meta's phone-number ids whose statuses bill an account; one id belongs to
-- at most one account (the primary key is that rule).
CREATE TABLE wa_phone_numbers (
    phone_number_id text PRIMARY KEY,
    account_id      text NOT NULL REFERENCES accounts(id),
    created_at      timestamptz NOT NULL
);
CREATE INDEX wa_phone_numbers_account ON wa_phone_numbers (account_id);

-- Rate cards (tariff.Card). body is the card's canonical JSON
-- (tariff.Card.Canonical); priced turns true in the transaction of the
-- first usage event the card prices, after which the card never changes;
-- revision lets that transaction notice a PUT that changed the card under
-- it. One card per (list, instant): Select must never have to guess.
CREATE TABLE wa_rate_cards (
    id             text PRIMARY KEY,
    price_list     text NOT NULL,
    effective_from timestamptz NOT NULL,
    model          text NOT NULL CHECK (model IN ('message','conversation')),
    body           jsonb NOT NULL,
    revision       integer NOT NULL DEFAULT 1,
    priced         boolean NOT NULL DEFAULT false,
    created_at     timestamptz NOT NULL,
    updated_at     timestamptz NOT NULL,
    UNIQUE (price_list, effective_from)
);

-- Usage events under a message card: 'status' is Meta's final word on one
-- message (once per account and message id, by usage_events_replay), in
-- Meta's category; the message categories of Meta's per-message pricing;
-- the market and card that priced the event; Meta's pricing type of a
-- status; what a delivered message owed beyond the balance (outstanding);
-- the end of an entry-point window an inbound opened.
ALTER TABLE usage_events DROP CONSTRAINT usage_events_kind_check,
    ADD CONSTRAINT usage_events_kind_check CHECK (kind IN ('send','inbound','reply','failed','visitor','status')),
    DROP CONSTRAINT usage_events_category_check,
    ADD CONSTRAINT usage_events_category_check CHECK (category IN ('marketing','utility','authentication','service',
        'marketing_lite','authentication_international')),
    ADD COLUMN market         text,
    ADD COLUMN card_id        text,
    ADD COLUMN pricing_type   text,
    ADD COLUMN owed           bigint NOT NULL DEFAULT 0 CHECK (owed >= 0),
    ADD COLUMN entry_ends_at  timestamptz;

-- Billed messages per account, month (LUNAS_TIMEZONE), category and market
-- as the card priced them: the volume tier of the next one. Kept in step by
-- the batch that charges or refunds, so no batch counts a month of rows.
CREATE TABLE wa_tier_counts (
    account_id text NOT NULL,
    month      date NOT NULL,
    category   text NOT NULL,
    market     text NOT NULL,
    n          bigint NOT NULL CHECK (n >= 0),
    PRIMARY KEY (account_id, month, category, market)
);

-- The inbox of Meta's status webhooks: each verified body, raw, as signed.
-- The worker rates it (usage.RateInbox) and sets processed_at.
CREATE TABLE wa_status_inbox (
    id           bigserial PRIMARY KEY,
    body         bytea NOT NULL,
    received_at  timestamptz NOT NULL,
    processed_at timestamptz,
    outcome      text
);
CREATE INDEX wa_status_inbox_unprocessed ON wa_status_inbox (id) WHERE processed_at IS NULL;

-- Every status once per (message id, status): Meta retries and fans out,
-- so a second delivery of the same fact changes nothing. account_id is
-- null and flag 'unknown_phone_number' when no account lists the number
-- (kept for finance, charged to no one).
CREATE TABLE wa_statuses (
    seq             bigserial NOT NULL UNIQUE, -- the order kept, for finance's list (cursor)
    message_id      text NOT NULL,
    status          text NOT NULL,
    phone_number_id text NOT NULL,
    account_id      text,
    recipient_id    text NOT NULL,
    at              timestamptz NOT NULL,
    pricing_type    text,
    category        text,
    inbox_id        bigint NOT NULL,
    flag            text,
    PRIMARY KEY (message_id, status)
);
CREATE INDEX wa_statuses_flag ON wa_statuses (flag, seq DESC) WHERE flag IS NOT NULL;

-- +goose Down
DROP TABLE wa_statuses, wa_status_inbox, wa_tier_counts;
DELETE FROM ledger_postings p USING usage_events u WHERE p.usage_event_id = u.seq AND u.kind = 'status';
DELETE FROM usage_events WHERE kind = 'status' OR category IN ('marketing_lite','authentication_international');
ALTER TABLE usage_events DROP COLUMN entry_ends_at, DROP COLUMN owed, DROP COLUMN pricing_type, DROP COLUMN card_id, DROP COLUMN market,
    DROP CONSTRAINT usage_events_category_check,
    ADD CONSTRAINT usage_events_category_check CHECK (category IN ('marketing','utility','authentication','service')),
    DROP CONSTRAINT usage_events_kind_check,
    ADD CONSTRAINT usage_events_kind_check CHECK (kind IN ('send','inbound','reply','failed','visitor'));
DROP TABLE wa_rate_cards, wa_phone_numbers;
ALTER TABLE accounts DROP COLUMN wa_price_list;
