"""The migrations and the analytics-style queries run on current ClickHouse too (chdb: 26.x
embedded), not only on the local 18.16, which the other tests use."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from chdb import session as chdb_session  # chdb-core: a dev dependency, always installed
from lookout_ingestion.migrate import already_applied, migration_files, statements

QUERIES = [
    "SELECT tenant_id, dashboard_id, count() AS views, uniqExact(user_id) AS viewers "
    "FROM dashboard_events WHERE event_type = 'dashboard.viewed' AND date >= today() - 30 "
    "GROUP BY tenant_id, dashboard_id ORDER BY views DESC LIMIT 10",
    "SELECT data_source_id, quantile(0.95)(execution_time_ms) AS p95, sum(rows_returned) "
    "FROM query_metrics WHERE tenant_id = toUUID('00000000-0000-0000-0000-000000000001') "
    "GROUP BY data_source_id",
    "SELECT saved_query_id, data_source_id, count() FROM query_metrics"
    " WHERE saved_query_id != toUUID('00000000-0000-0000-0000-000000000000')"
    " GROUP BY saved_query_id, data_source_id",
    "SELECT toStartOfHour(timestamp) AS hour, activity_type, count() FROM user_activity "
    "GROUP BY hour, activity_type ORDER BY hour",
    "SELECT _topic, _partition, maxMerge(max_offset) AS stored FROM user_activity_log_offsets "
    "WHERE _topic IN ('identity.events') GROUP BY _topic, _partition",
]


def apply(db: Any, sql: str) -> None:
    for statement in statements(sql):
        try:
            db.query(statement)
        except Exception as error:  # chdb raises its own error type
            if not already_applied(statement, error):
                raise


def test_the_rollups_take_in_rows_stored_before_them_once(tmp_path: Path) -> None:
    db = chdb_session.Session(str(tmp_path / "chdb"))
    try:
        db.query("CREATE DATABASE IF NOT EXISTS lookout")
        db.query("USE lookout")
        files = dict(migration_files())
        for version, sql in files.items():
            if version < "0006":
                apply(db, sql)
        db.query(
            "INSERT INTO query_metrics (query_id, tenant_id, user_id, execution_time_ms, status,"
            " timestamp) VALUES (generateUUIDv4(), generateUUIDv4(), generateUUIDv4(), 7,"
            " 'timeout', now())"
        )
        for _ in range(2):  # the second time adds nothing
            apply(db, files["0006_query_metrics_rollups"])
        found = db.query(
            "SELECT countMerge(executions_state), countIfMerge(errors_state),"
            " maxMerge(longest_state) FROM query_metrics_hourly",
            "CSV",
        )
        assert found.bytes().decode().strip() == "1,1,7"
        found = db.query("SELECT sum(executions_sum) FROM query_metrics_users_hourly", "CSV")
        assert found.bytes().decode().strip() == "1"
    finally:
        db.close()


def test_migrations_and_queries_run_on_current_clickhouse(tmp_path: Path) -> None:
    db = chdb_session.Session(str(tmp_path / "chdb"))
    try:
        db.query("CREATE DATABASE IF NOT EXISTS lookout")
        db.query("USE lookout")
        for _ in range(2):  # twice: every statement is idempotent
            for _version, sql in migration_files():
                for statement in statements(sql):
                    try:
                        db.query(statement)
                    except Exception as error:  # chdb raises its own error type
                        if not already_applied(statement, error):
                            raise
        db.query(
            "INSERT INTO user_activity (activity_id, user_id, tenant_id, session_id, activity_type,"
            " resource_type, resource_id, timestamp, _topic, _partition, _offset) VALUES "
            "(generateUUIDv4(), generateUUIDv4(), generateUUIDv4(), 's', 'user.logged_in', 'user',"
            " 'u', now(), 'identity.events', 2, 41)"
        )
        for query in QUERIES:
            db.query(query)
        stored = db.query(QUERIES[-1], "CSV").bytes().decode().strip()
        assert stored == '"identity.events",2,41'
    finally:
        db.close()
