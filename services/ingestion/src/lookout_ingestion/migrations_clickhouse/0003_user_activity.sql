-- user_activity as ../shared/schema.sql defines it, plus the row's Kafka origin and its offsets
-- view (see 0001 and the README).
CREATE TABLE IF NOT EXISTS user_activity (
    activity_id UUID,
    user_id UUID,
    tenant_id UUID,
    session_id String,
    activity_type String,
    resource_type String,
    resource_id String,
    timestamp DateTime,
    date Date MATERIALIZED toDate(timestamp),
    _topic String,
    _partition UInt32,
    _offset UInt64
) ENGINE = MergeTree()
PARTITION BY toYYYYMM(date)
ORDER BY (tenant_id, user_id, session_id, timestamp);

CREATE MATERIALIZED VIEW IF NOT EXISTS user_activity_offsets
ENGINE = AggregatingMergeTree()
ORDER BY (_topic, _partition)
AS SELECT _topic, _partition, maxState(_offset) AS max_offset
FROM user_activity
GROUP BY _topic, _partition;
