"""The one tenant filter: a report's SQL reaches a table only through its scope."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
from lookout_analytics.repository import queries
from lookout_analytics.repository.scope import Scope, UnscopedQuery, read
from lookout_kit.clickhouse import bind

SCOPE = Scope(uuid.uuid4(), datetime(2026, 3, 1, tzinfo=UTC), datetime(2026, 3, 2, tzinfo=UTC))


@pytest.mark.parametrize(
    "query",
    [
        "SELECT count() FROM dashboard_events",
        "SELECT count() FROM {user_activity} WHERE user_id IN (SELECT user_id FROM user_activity)",
        "SELECT count() FROM default.query_metrics",
        "SELECT 1",
    ],
)
def test_sql_naming_a_table_itself_is_refused(query: str) -> None:
    with pytest.raises(UnscopedQuery):
        SCOPE.expand(query)


def test_each_table_becomes_the_tenants_rows_in_the_range() -> None:
    expanded, parameters = SCOPE.expand(
        "SELECT count() FROM {dashboard_events} WHERE dashboard_id NOT IN"
        " (SELECT dashboard_id FROM {dashboard_events_ever})"
    )
    sql = bind(expanded, parameters)
    tenant = f"tenant_id = toUUID('{SCOPE.tenant_id}')"
    assert sql.count(tenant) == 2
    assert sql.count("timestamp >= toDateTime('2026-03-01 00:00:00', 'UTC')") == 1
    assert sql.count("timestamp < toDateTime('2026-03-02 00:00:00', 'UTC')") == 2


async def test_a_report_cannot_pass_the_scopes_parameters() -> None:
    with pytest.raises(ValueError, match="scope"):
        # Refused before anything is sent: no client needed.
        await read(None, SCOPE, "SELECT 1 FROM {query_metrics}", {"scope_tenant": uuid.uuid4()})  # type: ignore[arg-type]


def test_a_narrowed_table_keeps_the_tenant_filter_and_adds_its_condition() -> None:
    user = uuid.uuid4()
    expanded, parameters = SCOPE.expand(
        "SELECT count() FROM {user_activity} WHERE session_id IN"
        " (SELECT session_id FROM {user_activity_ever}) AND dashboard_id IN"
        " (SELECT dashboard_id FROM {dashboard_events})",
        narrow={"user_activity": "user_id = {user_id:UUID}"},
    )
    sql = bind(expanded, {**parameters, "user_id": user})
    tenant = f"tenant_id = toUUID('{SCOPE.tenant_id}')"
    narrowed = f"AND (user_id = toUUID('{user}')))"
    assert sql.count(tenant) == 3
    # Inside both of user_activity's subqueries (just before each closes), not dashboard_events'.
    assert sql.count(narrowed) == 2
    assert sql.index("FROM dashboard_events") > sql.rindex(narrowed)


def test_a_narrowing_naming_a_table_is_refused() -> None:
    with pytest.raises(UnscopedQuery):
        SCOPE.expand(
            "SELECT count() FROM {user_activity}",
            narrow={"user_activity": "user_id IN (SELECT user_id FROM user_activity)"},
        )


def test_a_rollup_is_read_for_whole_hours_only() -> None:
    expanded, parameters = SCOPE.expand("SELECT count() FROM {query_metrics_hourly}")
    sql = bind(expanded, parameters)
    assert f"tenant_id = toUUID('{SCOPE.tenant_id}')" in sql
    assert "hour >= toDateTime('2026-03-01 00:00:00', 'UTC')" in sql
    assert "hour < toDateTime('2026-03-02 00:00:00', 'UTC')" in sql
    for start, end in [
        (datetime(2026, 3, 1, 0, 30, tzinfo=UTC), SCOPE.end),
        (SCOPE.start, datetime(2026, 3, 1, 23, 59, 59, tzinfo=UTC)),
    ]:
        partial = Scope(SCOPE.tenant_id, start, end)
        assert not partial.whole_hours
        with pytest.raises(UnscopedQuery):
            partial.expand("SELECT count() FROM {query_metrics_users_hourly}")
    with pytest.raises(UnscopedQuery):
        SCOPE.expand("SELECT count() FROM {query_metrics_hourly_ever}")
    with pytest.raises(UnscopedQuery):
        SCOPE.expand(
            "SELECT count() FROM {query_metrics} WHERE 1 IN (SELECT 1 FROM query_metrics_hourly)"
        )


async def test_whole_hours_read_the_rollups() -> None:
    """The per-source, per-saved-query and cost reports of a whole-hours range read the rollups
    (their speed); others read the rows."""
    sent: list[str] = []

    class Recording:
        async def read(self, query: str, *_: object, **__: object) -> list[dict[str, object]]:
            sent.append(query)
            return []

    partial = Scope(SCOPE.tenant_id, datetime(2026, 3, 1, 0, 0, 1, tzinfo=UTC), SCOPE.end)
    for scope, table in [(SCOPE, "query_metrics_hourly"), (partial, "query_metrics")]:
        sent.clear()
        client: Any = Recording()
        await queries.stats(client, scope, "data_source", 10)
        await queries.stats(client, scope, "saved_query", 10)
        await queries.cost_by_user(client, scope, 10)
        names = [re.findall(r"FROM (query_metrics\w*) WHERE", query) for query in sent]
        cost_table = "query_metrics_users_hourly" if scope is SCOPE else "query_metrics"
        assert names == [[table], [table], [cost_table]]


def test_a_prewhere_is_the_subquerys_with_the_tenant_filter_kept() -> None:
    expanded, parameters = SCOPE.expand(
        "SELECT count() FROM {query_metrics}", prewhere={"query_metrics": "execution_time_ms > 5"}
    )
    sql = bind(expanded, parameters)
    assert sql.startswith("SELECT count() FROM (SELECT * FROM query_metrics PREWHERE")
    assert f"WHERE tenant_id = toUUID('{SCOPE.tenant_id}')" in sql
    with pytest.raises(UnscopedQuery):
        SCOPE.expand(
            "SELECT count() FROM {query_metrics}",
            prewhere={"query_metrics": "1 IN (SELECT 1 FROM user_activity)"},
        )
