"""The analytics service's queries, one module per table family (none yet; to come: ClickHouse reads
of `dashboard_events`, `query_metrics`, `user_activity` (`lookout_kit.clickhouse`, bound parameters,
row and time limits))."""
