-- +goose Up
-- Events to the app (API.md "Events to the app"): the endpoints finance
-- registers, the events lunas commits with the changes that cause them, and
-- one delivery per event and matching endpoint. The deliveries table is the
-- webhook sender's own outbox: a row is written in the transaction of the
-- change, and the sender (package webhook) claims due rows with a lease.

CREATE TABLE webhook_endpoints (
    id              text PRIMARY KEY,
    url             text NOT NULL,
    events          text[] NOT NULL,          -- event types, or {'*'}
    description     text NOT NULL DEFAULT '',
    -- AES-256-GCM of the whsec_ secret under a key derived from
    -- LUNAS_SIGNING_KEY (nonce || ciphertext, the endpoint id as associated data).
    secret_sealed   bytea NOT NULL,
    status          text NOT NULL DEFAULT 'enabled' CHECK (status IN ('enabled', 'disabled', 'deleted')),
    disabled_reason text,
    created_at      timestamptz NOT NULL,
    updated_at      timestamptz NOT NULL
);

-- An event as it happened. snapshot is what the change left (kind says how
-- to render it); body is the exact JSON sent, rendered once at the first
-- attempt and then sent byte for byte on every retry.
CREATE TABLE webhook_events (
    id         text PRIMARY KEY,              -- the webhook-id header
    type       text NOT NULL,
    kind       text NOT NULL,
    subject    text NOT NULL,                 -- order, attempt, account or gateway event id
    snapshot   jsonb NOT NULL,
    body       bytea,
    created_at timestamptz NOT NULL
);
CREATE INDEX webhook_events_subject ON webhook_events (subject, created_at);

CREATE TABLE webhook_deliveries (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    event_id        text NOT NULL REFERENCES webhook_events(id),
    endpoint_id     text NOT NULL REFERENCES webhook_endpoints(id),
    status          text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'delivered', 'failed')),
    attempts        int NOT NULL DEFAULT 0,   -- every try, manual retries included
    schedule_base   int NOT NULL DEFAULT 0,   -- attempts when the last manual retry restarted the schedule
    next_attempt_at timestamptz NOT NULL,     -- service clock
    lease_until     timestamptz,              -- database clock: a sender holds it until then
    last_attempt_at timestamptz,
    last_status     int,
    last_error      text,
    last_response   text,
    delivered_at    timestamptz,
    created_at      timestamptz NOT NULL,
    UNIQUE (event_id, endpoint_id)
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (endpoint_id, next_attempt_at) WHERE status = 'pending';
CREATE INDEX webhook_deliveries_undelivered ON webhook_deliveries (created_at) WHERE status = 'pending';
CREATE INDEX webhook_deliveries_by_endpoint ON webhook_deliveries (endpoint_id, id);

-- +goose Down
DROP TABLE webhook_deliveries;
DROP TABLE webhook_events;
DROP TABLE webhook_endpoints;
