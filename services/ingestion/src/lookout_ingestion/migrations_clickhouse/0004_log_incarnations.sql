-- Which incarnation of its partition's log each row came from (_log), the registry of those
-- incarnations (ingestion_logs), and the stored watermark per incarnation (<table>_log_offsets):
-- a topic's offsets start again at 0 when it is created again (or the local broker restarts), so
-- a watermark that belongs to a topic's name alone skipped the new events (README: "Logs that
-- start again"). ClickHouse 18.16 has no ADD COLUMN IF NOT EXISTS: the runner takes "column with
-- this name already exists" as done. Rows stored before this file have the zero _log.
ALTER TABLE dashboard_events ADD COLUMN _log UUID;
ALTER TABLE query_metrics ADD COLUMN _log UUID;
ALTER TABLE user_activity ADD COLUMN _log UUID;

CREATE TABLE IF NOT EXISTS ingestion_logs (
    _topic String,
    _partition UInt32,
    topic_id UUID,
    epoch UInt32,
    _log UUID,
    reason String,
    log_end UInt64,
    stored_before Int64,
    registered_at DateTime DEFAULT now()
) ENGINE = MergeTree()
ORDER BY (_topic, _partition, topic_id, epoch);

CREATE MATERIALIZED VIEW IF NOT EXISTS dashboard_events_log_offsets
ENGINE = AggregatingMergeTree()
ORDER BY (_topic, _partition, _log)
AS SELECT _topic, _partition, _log, maxState(_offset) AS max_offset
FROM dashboard_events
GROUP BY _topic, _partition, _log;

CREATE MATERIALIZED VIEW IF NOT EXISTS query_metrics_log_offsets
ENGINE = AggregatingMergeTree()
ORDER BY (_topic, _partition, _log)
AS SELECT _topic, _partition, _log, maxState(_offset) AS max_offset
FROM query_metrics
GROUP BY _topic, _partition, _log;

CREATE MATERIALIZED VIEW IF NOT EXISTS user_activity_log_offsets
ENGINE = AggregatingMergeTree()
ORDER BY (_topic, _partition, _log)
AS SELECT _topic, _partition, _log, maxState(_offset) AS max_offset
FROM user_activity
GROUP BY _topic, _partition, _log;

-- The views by topic name alone: nothing reads them any more, and each costs every INSERT a part.
DROP TABLE IF EXISTS dashboard_events_offsets;
DROP TABLE IF EXISTS query_metrics_offsets;
DROP TABLE IF EXISTS user_activity_offsets;
