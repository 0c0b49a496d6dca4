-- The inbox: ids of the events each consumer group has applied (lookout_kit.reactions). The
-- insert shares the reaction's transaction, so an event is applied at most once per group.
CREATE TABLE IF NOT EXISTS inbox (
    consumer_group TEXT NOT NULL,
    event_id UUID NOT NULL,
    event_type TEXT NOT NULL,
    applied_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (consumer_group, event_id)
);

CREATE INDEX IF NOT EXISTS inbox_applied_at ON inbox (applied_at);
