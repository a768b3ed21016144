-- +goose Up
-- One owner per table (issue 22). An account's cached balances and its
-- low-balance alert state are moved by the ledger alone, in the
-- transaction of the postings they summarise; the account's identity
-- (name, address, NPWP, billing email) is written by package account. So
-- the ledger's part leaves accounts for a table of the ledger's own, and
-- each table has one writer. The data is copied over as it stands.
CREATE TABLE balances (
    account_id     text PRIMARY KEY REFERENCES accounts(id),
    -- Cached balances: always updated in the same transaction as the ledger
    -- postings they summarise, and re-derivable from them.
    wa_balance     bigint NOT NULL DEFAULT 0 CHECK (wa_balance >= 0),
    muv            bigint NOT NULL DEFAULT 0 CHECK (muv >= 0),
    outstanding    bigint NOT NULL DEFAULT 0 CHECK (outstanding >= 0),
    -- Low-balance alerts: the reference is the balance right after the last
    -- top-up credit (nil before the first), alerted_at when the alert for
    -- that reference went out (nil: armed).
    wa_alert_ref   bigint,
    wa_alerted_at  timestamptz,
    muv_alert_ref  bigint,
    muv_alerted_at timestamptz,
    -- The service clock's time of the last movement.
    updated_at     timestamptz NOT NULL
);
INSERT INTO balances (account_id, wa_balance, muv, outstanding, wa_alert_ref, wa_alerted_at, muv_alert_ref, muv_alerted_at, updated_at)
    SELECT id, wa_balance, muv, outstanding, wa_alert_ref, wa_alerted_at, muv_alert_ref, muv_alerted_at, updated_at FROM accounts;
ALTER TABLE accounts DROP COLUMN wa_balance, DROP COLUMN muv, DROP COLUMN outstanding,
    DROP COLUMN wa_alert_ref, DROP COLUMN wa_alerted_at, DROP COLUMN muv_alert_ref, DROP COLUMN muv_alerted_at;

-- +goose Down
ALTER TABLE accounts
    ADD COLUMN wa_balance  bigint NOT NULL DEFAULT 0 CHECK (wa_balance >= 0),
    ADD COLUMN muv         bigint NOT NULL DEFAULT 0 CHECK (muv >= 0),
    ADD COLUMN outstanding bigint NOT NULL DEFAULT 0 CHECK (outstanding >= 0),
    ADD COLUMN wa_alert_ref   bigint,
    ADD COLUMN wa_alerted_at  timestamptz,
    ADD COLUMN muv_alert_ref  bigint,
    ADD COLUMN muv_alerted_at timestamptz;
UPDATE accounts a SET wa_balance = b.wa_balance, muv = b.muv, outstanding = b.outstanding,
    wa_alert_ref = b.wa_alert_ref, wa_alerted_at = b.wa_alerted_at, muv_alert_ref = b.muv_alert_ref,
    muv_alerted_at = b.muv_alerted_at, updated_at = greatest(a.updated_at, b.updated_at)
    FROM balances b WHERE b.account_id = a.id;
DROP TABLE balances;
