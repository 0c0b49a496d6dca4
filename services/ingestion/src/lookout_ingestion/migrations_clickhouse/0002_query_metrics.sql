-- query_metrics as ../shared/schema.sql defines it, plus the execution's status and the row's
-- Kafka origin with its offsets view (see 0001 and the README).
CREATE TABLE IF NOT EXISTS query_metrics (
    query_id UUID,
    user_id UUID,
    tenant_id UUID,
    data_source_id UUID,
    query_text String,
    execution_time_ms UInt32,
    rows_returned UInt64,
    bytes_returned UInt64,
    timestamp DateTime,
    date Date MATERIALIZED toDate(timestamp),
    status String,
    _topic String,
    _partition UInt32,
    _offset UInt64
) ENGINE = MergeTree()
PARTITION BY toYYYYMM(date)
ORDER BY (tenant_id, data_source_id, user_id, timestamp);

CREATE MATERIALIZED VIEW IF NOT EXISTS query_metrics_offsets
ENGINE = AggregatingMergeTree()
ORDER BY (_topic, _partition)
AS SELECT _topic, _partition, maxState(_offset) AS max_offset
FROM query_metrics
GROUP BY _topic, _partition;
