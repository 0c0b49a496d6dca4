"""Migration 0006's hourly rollups of ``query_metrics`` on the local 18.16: rows stored before the
migration are rolled up once (the file run again adds nothing), rows stored after it by its
views; either way the rollups' figures are those of the rows."""

from __future__ import annotations

import itertools
import random
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from lookout_contracts import make_event
from lookout_contracts.events.datasource import QueryExecutedV1
from lookout_ingestion.encoding import encode_origin, encode_row
from lookout_ingestion.mapping import COLUMNS, map_event
from lookout_ingestion.migrate import already_applied, migration_files, statements
from lookout_kit.clickhouse import ClickHouse, ClickHouseError
from lookout_testing.clickhouse import temporary_clickhouse_database
from lookout_testing.servers import Servers

ROLLUPS = "0006_query_metrics_rollups"
_offsets = itertools.count()

BY_GROUP = {
    "query_metrics": "SELECT tenant_id, toStartOfHour(timestamp, 'UTC') AS hour, data_source_id,"
    " saved_query_id, count() AS executions, countIf(status IN ('failed', 'timeout')) AS errors,"
    " quantilesExact(0.5, 0.95, 0.99)(execution_time_ms) AS latency,"
    " max(execution_time_ms) AS longest,"
    " sum(rows_returned) AS total_rows, sum(bytes_returned) AS total_bytes FROM query_metrics",
    "query_metrics_hourly": "SELECT tenant_id, hour, data_source_id, saved_query_id,"
    " countMerge(executions_state) AS executions, countIfMerge(errors_state) AS errors,"
    " quantilesExactMerge(0.5, 0.95, 0.99)(latency_state) AS latency,"
    " maxMerge(longest_state) AS longest,"
    " sumMerge(rows_state) AS total_rows, sumMerge(bytes_state) AS total_bytes"
    " FROM query_metrics_hourly",
}
BY_USER = {
    "query_metrics": "SELECT tenant_id, toStartOfHour(timestamp, 'UTC') AS hour, user_id,"
    " count() AS executions, sum(execution_time_ms) AS total_ms, sum(rows_returned) AS total_rows,"
    " sum(bytes_returned) AS total_bytes FROM query_metrics",
    "query_metrics_users_hourly": "SELECT tenant_id, hour, user_id,"
    " sum(executions_sum) AS executions, sum(execution_ms_sum) AS total_ms,"
    " sum(rows_sum) AS total_rows, sum(bytes_sum) AS total_bytes FROM query_metrics_users_hourly",
}


def executions(chance: random.Random, count: int) -> list[Any]:
    """Executions of two tenants over six hours: saved queries and ad hoc ones, users and none."""
    tenants = [uuid.uuid4() for _ in range(2)]
    users = [uuid.uuid4() for _ in range(3)]
    sources = [uuid.uuid4() for _ in range(2)]
    saved = [uuid.uuid4(), uuid.uuid4(), None]
    start = datetime(2026, 3, 1, 10, tzinfo=UTC)
    events = []
    for _ in range(count):
        query = uuid.uuid4()
        data = QueryExecutedV1(
            query_id=query,
            data_source_id=chance.choice(sources),
            saved_query_id=chance.choice(saved),
            query_text="SELECT 1",
            execution_time_ms=chance.randint(0, 40_000),
            rows_returned=chance.randint(0, 10**6),
            bytes_returned=chance.randint(0, 10**9),
            status=chance.choice(("success", "failed", "timeout", "cancelled")),
            error=None,
        )
        events.append(
            make_event(
                "query.executed",
                tenant_id=chance.choice(tenants),
                subject_id=query,
                actor_id=chance.choice([*users, None]),
                data=data,
                time=start + timedelta(seconds=chance.randrange(6 * 3600)),
            )
        )
    return events


async def store(clickhouse: ClickHouse, events: list[Any]) -> None:
    rows = [
        encode_row(table, row, encode_origin("datasource.events", 0, next(_offsets)))
        for event in events
        for table, row in map_event(event)
        if table == "query_metrics"
    ]
    await clickhouse.insert_rowbinary(
        "query_metrics", COLUMNS["query_metrics"], b"".join(rows), query_id=str(uuid.uuid4())
    )


async def run(clickhouse: ClickHouse, sql: str) -> None:
    for statement in statements(sql):
        try:
            await clickhouse.execute(statement.rstrip(";"))
        except ClickHouseError as error:
            if not already_applied(statement, error):
                raise


async def grouped(clickhouse: ClickHouse, queries: dict[str, str], keys: str) -> list[Any]:
    found = []
    for query in queries.values():
        found.append(await clickhouse.rows(f"{query} GROUP BY {keys} ORDER BY {keys}"))
    return found


async def test_rows_before_and_after_the_migration_are_rolled_up_once(servers: Servers) -> None:
    chance = random.Random(6)
    async with temporary_clickhouse_database(servers.clickhouse, "test_rollups") as clickhouse:
        files = dict(migration_files())
        for version, sql in files.items():
            if version < ROLLUPS:
                await run(clickhouse, sql)
        await store(clickhouse, executions(chance, 400))  # stored before the rollups exist
        for _ in range(2):  # again, as after a crash before the file's record: adds nothing
            await run(clickhouse, files[ROLLUPS])
        await store(clickhouse, executions(chance, 300))  # through the views
        await store(clickhouse, executions(chance, 300))

        rows, rolled = await grouped(
            clickhouse, BY_GROUP, "tenant_id, hour, data_source_id, saved_query_id"
        )
        assert len(rows) > 40 and rolled == rows
        rows, rolled = await grouped(clickhouse, BY_USER, "tenant_id, hour, user_id")
        assert len(rows) > 40 and rolled == rows
