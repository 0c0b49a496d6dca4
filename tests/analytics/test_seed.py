"""``make seed-analytics``'s generator (bench/analytics_seed.py): its events are valid contract events,
its straight rows are exactly what ingestion maps those events to, they fit the tables (stored by
the kit's writer in the run's database) and the reports count them; its distributions have the
shapes it promises."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta

from lookout_ingestion.mapping import map_event

from bench.analytics_seed import event_of, into_clickhouse, rows_of
from bench.analytics_usage import Generator

from .conftest import AnalyticsService, reader

END = datetime(2026, 3, 2, tzinfo=UTC)


async def test_generated_rows_are_ingestions_rows_and_fit_the_tables(
    analytics: AnalyticsService,
) -> None:
    generator = Generator(3, seed=5, days=14, end=END)
    plans = list(generator.plans(300))
    for plan in plans:
        assert rows_of(plan) == map_event(event_of(plan)), plan

    stored = await into_clickhouse(analytics.clickhouse, plans, batch_rows=100)
    expected = Counter(table for plan in plans for table, _ in rows_of(plan))
    assert stored == expected
    within = ", ".join(f"toUUID('{tenant.id}')" for tenant in generator.tenants)
    for table, count in expected.items():
        found = await analytics.clickhouse.rows(
            f"SELECT count() AS n FROM {table} WHERE tenant_id IN ({within})"
        )
        assert int(found[0]["n"]) == count, table

    heaviest = generator.tenants[0]
    viewed = [p for p in plans if p.tenant_id == heaviest.id and p.kind == "dashboard.viewed"]
    window = {
        "from": datetime.fromtimestamp(generator.start, UTC).isoformat(),
        "to": datetime.fromtimestamp(generator.end, UTC).isoformat(),
        "granularity": "week",
    }
    response = await analytics.get(reader(heaviest.id), "/reports/dashboards/views", **window)
    assert response.status_code == 200, response.text
    assert sum(point["views"] for point in response.json()["points"]) == len(viewed)


def test_distributions_have_their_shapes() -> None:
    generator = Generator(10, seed=3, days=28, end=END)
    plans = list(generator.plans(20_000))
    per_tenant = Counter(p.tenant_id for p in plans if p.kind == "query.executed")
    sizes = [per_tenant[tenant.id] for tenant in generator.tenants]
    assert sizes[0] > 2 * sizes[4] > 0  # Zipf-like tenants, the first the heaviest

    first = generator.tenants[0]
    mine = [p for p in plans if p.tenant_id == first.id]
    views = Counter(p.subject for p in mine if p.kind == "dashboard.viewed")
    assert views[first.dashboards[0]] > 3 * views[first.dashboards[9]]  # popular dashboards
    users = Counter(p.actor for p in mine if p.actor is not None)
    assert users[first.users[0]] > 0.15 * sum(users.values())  # a few heavy users

    executions = [p for p in plans if p.kind == "query.executed"]
    statuses = Counter(p.extra[5] for p in executions)
    assert 0.01 < statuses["failed"] / len(executions) < 0.04
    assert statuses["timeout"] > 0 and statuses["cancelled"] > 0
    ad_hoc = [p for p in executions if p.extra[6] is None]
    assert 0.12 < len(ad_hoc) / len(executions) < 0.18  # ad hoc queries, by users only
    assert all(p.actor is not None for p in ad_hoc)
    saved = Counter(p.extra[6] for p in mine if p.kind == "query.executed" and p.extra[6])
    assert len(saved) >= 5 and saved.most_common(1)[0][1] > 0.1 * saved.total()  # popular ones
    elapsed = sorted(p.extra[2] for p in executions)
    p50, p99 = elapsed[len(elapsed) // 2], elapsed[len(elapsed) * 99 // 100]
    assert p99 > 10 * p50  # log-normal with a tail

    offset = timedelta(hours=first.offset_h)
    local = [datetime.fromtimestamp(p.at, UTC) + offset for p in mine]
    weekdays = sum(1 for t in local if t.weekday() < 5) / 20
    weekends = sum(1 for t in local if t.weekday() >= 5) / 8
    assert weekdays > 2.5 * weekends  # weekly cycle
    working = sum(1 for t in local if 9 <= t.hour < 17) / 8
    night = sum(1 for t in local if t.hour < 5) / 5
    assert working > 5 * night  # diurnal cycle
    assert all(generator.start <= p.at < generator.end for p in plans)
