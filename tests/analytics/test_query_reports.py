"""The query reports against numbers computed here from the executions the test stored; over a
range of whole hours (read from ingestion's hourly rollups) and over one that is not (read from
the executions' rows)."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, time, timedelta
from typing import Any

import pytest

from .conftest import AnalyticsService, Stored
from .usage import END, START, TZ, WINDOW, ZONE

RANGES = {
    "whole hours": (START, END),
    "not whole hours": (START + timedelta(minutes=30, seconds=17), END - timedelta(minutes=41)),
}


@pytest.fixture(params=sorted(RANGES))
def window(request: pytest.FixtureRequest, stored: Stored) -> tuple[dict[str, str], list[Any]]:
    """A report window and the executions in it."""
    start, end = RANGES[request.param]
    executions = [
        event
        for event in stored.mine.events
        if event.type == "query.executed" and start <= event.time < end
    ]
    return {"from": start.isoformat(), "to": end.isoformat(), "tz": TZ}, executions


def quantile_exact(values: list[int], level: float) -> int:
    """ClickHouse's ``quantileExact``: the element at ``floor(level · n)`` of the sorted values."""
    ordered = sorted(values)
    return ordered[min(int(level * len(ordered)), len(ordered) - 1)]


def stats(executions: list[Any]) -> dict[str, int]:
    times = [event.data.execution_time_ms for event in executions]
    return {
        "executions": len(executions),
        "errors": sum(event.data.status in ("failed", "timeout") for event in executions),
        "p50_ms": quantile_exact(times, 0.5),
        "p95_ms": quantile_exact(times, 0.95),
        "p99_ms": quantile_exact(times, 0.99),
        "total_rows": sum(event.data.rows_returned for event in executions),
        "total_bytes": sum(event.data.bytes_returned for event in executions),
    }


def grouped(executions: list[Any], key: Any) -> dict[Any, dict[str, int]]:
    groups: dict[Any, list[Any]] = defaultdict(list)
    for event in executions:
        groups[key(event)].append(event)
    return {name: stats(events) for name, events in groups.items()}


def test_the_ranges_differ(stored: Stored) -> None:
    executions = stored.mine.in_range("query.executed")
    start, end = RANGES["not whole hours"]
    assert any(not start <= event.time < end for event in executions)


async def test_per_data_source(
    analytics: AnalyticsService, stored: Stored, window: tuple[dict[str, str], list[Any]]
) -> None:
    params, executions = window
    response = await analytics.get(stored.actor, "/reports/queries/by-data-source", **params)
    assert response.status_code == 200, response.text
    rows = response.json()["rows"]
    assert {row.pop("data_source_id"): row for row in rows} == grouped(
        executions, lambda event: str(event.data.data_source_id)
    )
    assert [row["executions"] for row in rows] == sorted(
        (row["executions"] for row in rows), reverse=True
    )


async def test_per_saved_query_and_ad_hoc_per_data_source(
    analytics: AnalyticsService, stored: Stored, window: tuple[dict[str, str], list[Any]]
) -> None:
    params, executions = window
    expected = grouped(
        executions,
        lambda event: (
            event.data.saved_query_id and str(event.data.saved_query_id),
            str(event.data.data_source_id),
        ),
    )
    # Two saved queries with one text, and ad hoc runs of the same texts: not grouped by text.
    saved = {key for key in expected if key[0] is not None}
    assert len(saved) == 3 and len(expected) > len(saved)
    assert len(expected) != len({(e.data.data_source_id, e.data.query_text) for e in executions})
    response = await analytics.get(stored.actor, "/reports/queries/by-query", **params)
    assert response.status_code == 200, response.text
    rows = response.json()["rows"]
    assert {(row.pop("saved_query_id"), row.pop("data_source_id")): row for row in rows} == expected
    assert [row["executions"] for row in rows] == sorted(
        (row["executions"] for row in rows), reverse=True
    )


async def test_latency_per_day(analytics: AnalyticsService, stored: Stored) -> None:
    executions = stored.mine.in_range("query.executed")
    response = await analytics.get(stored.actor, "/reports/queries/latency", **WINDOW)
    points = {datetime.fromisoformat(p.pop("bucket")): p for p in response.json()["points"]}
    expected = grouped(
        executions, lambda event: datetime.combine(event.time.astimezone(ZONE).date(), time(), ZONE)
    )
    assert {day: point for day, point in points.items() if point["executions"]} == expected


@pytest.mark.parametrize("limit", [5, 1_000])
async def test_slowest_queries_with_their_text(
    analytics: AnalyticsService,
    stored: Stored,
    window: tuple[dict[str, str], list[Any]],
    limit: int,
) -> None:
    params, executions = window
    executions = sorted(
        executions, key=lambda event: (-event.data.execution_time_ms, -event.time.timestamp())
    )
    # Timeouts all take 30 s: the slowest five are equals, the latest first.
    assert executions[5].data.execution_time_ms == 30_000
    response = await analytics.get(stored.actor, "/reports/queries/slowest", limit=limit, **params)
    assert response.status_code == 200, response.text
    rows = response.json()["rows"]
    assert [
        (row["query_id"], row["query_text"], row["execution_time_ms"], row["user_id"])
        for row in rows
    ] == [
        (str(e.data.query_id), e.data.query_text, e.data.execution_time_ms, str(e.actor_id))
        for e in executions[:limit]
    ]
    assert datetime.fromisoformat(rows[0]["at"]) == executions[0].time.replace(microsecond=0)


async def test_cost_per_user(
    analytics: AnalyticsService, stored: Stored, window: tuple[dict[str, str], list[Any]]
) -> None:
    params, executions = window
    expected: dict[str, dict[str, int]] = defaultdict(
        lambda: {"executions": 0, "total_execution_ms": 0, "total_rows": 0, "total_bytes": 0}
    )
    for event in executions:
        cost = expected[str(event.actor_id)]
        cost["executions"] += 1
        cost["total_execution_ms"] += event.data.execution_time_ms
        cost["total_rows"] += event.data.rows_returned
        cost["total_bytes"] += event.data.bytes_returned
    response = await analytics.get(stored.actor, "/reports/queries/cost-by-user", **params)
    rows = response.json()["rows"]
    assert {row.pop("user_id"): row for row in rows} == expected
    assert [row["total_execution_ms"] for row in rows] == sorted(
        (cost["total_execution_ms"] for cost in expected.values()), reverse=True
    )
