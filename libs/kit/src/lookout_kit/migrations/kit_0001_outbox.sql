-- The transactional outbox (lookout_kit.outbox): events written in the same transaction as the
-- state change, relayed to Kafka by lookout_kit.relay.
CREATE TABLE outbox (
    id BIGSERIAL PRIMARY KEY,
    event_id UUID NOT NULL UNIQUE,
    topic TEXT NOT NULL,
    message_key BYTEA NOT NULL,
    event_type TEXT NOT NULL,
    payload BYTEA NOT NULL,
    traceparent TEXT,
    created_at TIMESTAMPTZ NOT NULL DEFAULT clock_timestamp(),
    published_at TIMESTAMPTZ
);

-- What the relay scans: unpublished rows in id order.
CREATE INDEX outbox_unpublished_idx ON outbox (id) WHERE published_at IS NULL;
-- What the pruner scans.
CREATE INDEX outbox_published_at_idx ON outbox (published_at) WHERE published_at IS NOT NULL;
