-- dashboard_events as ../shared/schema.sql defines it, plus where each row came from
-- (_topic, _partition, _offset) and the highest stored offset per partition, kept by a
-- materialized view that the same INSERT feeds (the effectively-once mechanism, see README).
CREATE TABLE IF NOT EXISTS dashboard_events (
    event_id UUID,
    dashboard_id UUID,
    user_id UUID,
    tenant_id UUID,
    event_type String,
    event_data String,
    timestamp DateTime,
    date Date MATERIALIZED toDate(timestamp),
    _topic String,
    _partition UInt32,
    _offset UInt64
) ENGINE = MergeTree()
PARTITION BY toYYYYMM(date)
ORDER BY (tenant_id, dashboard_id, user_id, timestamp);

CREATE MATERIALIZED VIEW IF NOT EXISTS dashboard_events_offsets
ENGINE = AggregatingMergeTree()
ORDER BY (_topic, _partition)
AS SELECT _topic, _partition, maxState(_offset) AS max_offset
FROM dashboard_events
GROUP BY _topic, _partition;
