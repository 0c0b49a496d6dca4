-- Hourly rollups of query_metrics for analytics' query reports (its README, "Rollups"): the
-- tenant's hours of a range are read from them instead of every execution's row. Each is a table
-- fed by a materialized view (TO) from the INSERTs into query_metrics; the hour is the UTC hour's
-- start. Exact: counts and sums add up, and the latency state is quantilesExact's own (every
-- execution time of the group: percentiles merged from it are the same as over the rows).
--
-- Per (tenant, hour, data source, saved query): executions, errors (failed or timeout), the
-- latency state, the longest time (where the slowest executions can be), rows and bytes.
CREATE TABLE IF NOT EXISTS query_metrics_hourly (
    tenant_id UUID,
    hour DateTime,
    data_source_id UUID,
    saved_query_id UUID,
    executions_state AggregateFunction(count),
    errors_state AggregateFunction(countIf, UInt8),
    latency_state AggregateFunction(quantilesExact(0.5, 0.95, 0.99), UInt32),
    longest_state AggregateFunction(max, UInt32),
    rows_state AggregateFunction(sum, UInt64),
    bytes_state AggregateFunction(sum, UInt64)
) ENGINE = AggregatingMergeTree()
PARTITION BY toYYYYMM(hour)
ORDER BY (tenant_id, hour, data_source_id, saved_query_id);

-- Per (tenant, hour, user): executions, their time, rows and bytes (summed by the engine).
CREATE TABLE IF NOT EXISTS query_metrics_users_hourly (
    tenant_id UUID,
    hour DateTime,
    user_id UUID,
    executions_sum UInt64,
    execution_ms_sum UInt64,
    rows_sum UInt64,
    bytes_sum UInt64
) ENGINE = SummingMergeTree()
PARTITION BY toYYYYMM(hour)
ORDER BY (tenant_id, hour, user_id);

-- The rows stored before the views exist, once: only while a rollup is still empty, so running
-- this file again (a crash before its record) adds nothing. Rows an INSERT stores between this
-- and the view's creation are in neither: upgrade with the consumers stopped (README).
INSERT INTO query_metrics_hourly
SELECT tenant_id, toStartOfHour(timestamp, 'UTC') AS hour, data_source_id, saved_query_id,
    countState(), countIfState(status IN ('failed', 'timeout')),
    quantilesExactState(0.5, 0.95, 0.99)(execution_time_ms), maxState(execution_time_ms),
    sumState(rows_returned), sumState(bytes_returned)
FROM query_metrics
WHERE (SELECT count() FROM query_metrics_hourly) = 0
GROUP BY tenant_id, hour, data_source_id, saved_query_id;

INSERT INTO query_metrics_users_hourly
SELECT tenant_id, toStartOfHour(timestamp, 'UTC') AS hour, user_id, count(),
    sum(execution_time_ms), sum(rows_returned), sum(bytes_returned)
FROM query_metrics
WHERE (SELECT count() FROM query_metrics_users_hourly) = 0
GROUP BY tenant_id, hour, user_id;

CREATE MATERIALIZED VIEW IF NOT EXISTS query_metrics_hourly_view TO query_metrics_hourly
AS SELECT tenant_id, toStartOfHour(timestamp, 'UTC') AS hour, data_source_id, saved_query_id,
    countState() AS executions_state,
    countIfState(status IN ('failed', 'timeout')) AS errors_state,
    quantilesExactState(0.5, 0.95, 0.99)(execution_time_ms) AS latency_state,
    maxState(execution_time_ms) AS longest_state,
    sumState(rows_returned) AS rows_state, sumState(bytes_returned) AS bytes_state
FROM query_metrics
GROUP BY tenant_id, hour, data_source_id, saved_query_id;

CREATE MATERIALIZED VIEW IF NOT EXISTS query_metrics_users_hourly_view TO query_metrics_users_hourly
AS SELECT tenant_id, toStartOfHour(timestamp, 'UTC') AS hour, user_id,
    count() AS executions_sum, sum(execution_time_ms) AS execution_ms_sum,
    sum(rows_returned) AS rows_sum, sum(bytes_returned) AS bytes_sum
FROM query_metrics
GROUP BY tenant_id, hour, user_id;
