"""``make seed-analytics``'s pipeline path through the running stack: the generator's events,
published to the services' topics as contract events, arrive through ingestion in ClickHouse as
exactly the rows the straight path would have inserted."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime

from lookout_kit.clickhouse import ClickHouse, client_session
from lookout_testing.servers import Servers
from lookout_testing.waiting import wait_until

from bench.analytics_seed import into_pipeline, rows_of
from bench.analytics_usage import Generator


async def test_the_generators_events_arrive_through_the_pipeline(servers: Servers) -> None:
    generator = Generator(2, seed=int(datetime.now(UTC).timestamp()), days=3)
    plans = list(generator.plans(40))
    assert await into_pipeline(servers.kafka, plans) == len(plans)

    expected = Counter(table for plan in plans for table, _ in rows_of(plan))
    within = ", ".join(f"toUUID('{tenant.id}')" for tenant in generator.tenants)
    async with client_session() as session:
        clickhouse = ClickHouse(session, url=servers.clickhouse, database="default")

        async def stored() -> Counter[str]:
            found: Counter[str] = Counter()
            for table in expected:
                rows = await clickhouse.rows(
                    f"SELECT count() AS n FROM {table} WHERE tenant_id IN ({within})"
                )
                found[table] = int(rows[0]["n"])
            return found

        async def arrived() -> bool:
            return await stored() == expected

        await wait_until(arrived, timeout=60, message="the seeded events in ClickHouse")
        rows = await clickhouse.rows(
            "SELECT execution_time_ms, status, query_text FROM query_metrics"
            f" WHERE tenant_id IN ({within}) ORDER BY toString(query_id)"
        )
    made = sorted(
        (str(plan.subject), plan.extra[2], plan.extra[5], plan.extra[1])
        for plan in plans
        if plan.kind == "query.executed"
    )
    assert [(r["execution_time_ms"], r["status"], r["query_text"]) for r in rows] == [
        made_row[1:] for made_row in made
    ]
