"""A dashboard's data in one call, end to end through the gateway of the running stack: a dashboard
whose three charts use saved queries on PostgreSQL, ClickHouse and MariaDB returns the three
results from ``/data`` with the filter's value bound in each; each execution lands once in
ClickHouse's ``query_metrics``."""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

import httpx
from lookout_kit.clickhouse import ClickHouse, client_session
from lookout_testing.accounts import bearer, signup
from lookout_testing.mysql import MysqlDatabase
from lookout_testing.servers import Servers

from tests.datasource.connector_sources import (
    PEOPLE,
    Source,
    clickhouse_source,
    mysql_source,
    postgresql_source,
)

QUERY = "SELECT id, name FROM people WHERE id >= {{ min_id }} ORDER BY id"


async def saved_query_on(http: httpx.AsyncClient, headers: dict[str, str], source: Source) -> str:
    created = await http.post(
        "/api/datasource/data-sources",
        headers=headers,
        json={
            "name": f"{source.kind} {uuid.uuid4().hex[:6]}",
            "type": source.kind,
            "connection_config": source.config.fingerprint_fields(),
        },
    )
    assert created.status_code == 201, created.text
    query = await http.post(
        "/api/datasource/saved-queries",
        headers=headers,
        json={
            "name": f"people on {source.kind}",
            "query_text": QUERY,
            "data_source_id": created.json()["id"],
            "parameters": [{"name": "min_id", "type": "number", "default": 1}],
        },
    )
    assert query.status_code == 201, query.text
    return str(query.json()["id"])


def dashboard_of(saved_queries: dict[str, str]) -> dict[str, Any]:
    return {
        "name": f"people {uuid.uuid4().hex[:6]}",
        "components": [
            {
                "id": kind,
                "type": "chart",
                "saved_query_id": saved_query_id,
                "parameter_bindings": {"min_id": "minimum"},
            }
            for kind, saved_query_id in saved_queries.items()
        ],
        "layout": {
            "items": [
                {"component_id": kind, "x": 8 * index, "y": 0, "w": 8, "h": 4}
                for index, kind in enumerate(saved_queries)
            ]
        },
        "filters": [
            {"id": "minimum", "type": "number", "label": "From id", "parameter": "min_id"},
        ],
    }


async def metrics_rows(servers: Servers, execution_ids: list[str]) -> dict[str, int]:
    """How many ``query_metrics`` rows each execution has, once every one has at least one."""
    async with client_session() as session:
        clickhouse = ClickHouse(session, url=servers.clickhouse, database="default")
        listed = ", ".join(f"toUUID('{execution_id}')" for execution_id in execution_ids)
        deadline = time.monotonic() + 60
        while True:
            rows = await clickhouse.rows(
                "SELECT toString(query_id) AS id, count() AS n FROM query_metrics"
                f" WHERE query_id IN ({listed}) GROUP BY query_id"
            )
            counts = {row["id"]: int(row["n"]) for row in rows}
            if len(counts) == len(execution_ids) or time.monotonic() > deadline:
                return counts
            await asyncio.sleep(0.5)


async def test_a_dashboard_of_three_connectors_returns_each_result_from_one_call(
    servers: Servers, database: str, clickhouse: ClickHouse, mysql_database: MysqlDatabase
) -> None:
    sources = [
        await postgresql_source(database),
        await clickhouse_source(clickhouse),
        await mysql_source(mysql_database),
    ]
    async with httpx.AsyncClient(base_url=servers.gateway, timeout=30) as http:
        account = await signup(http)
        headers = bearer(account)
        saved = {source.kind: await saved_query_on(http, headers, source) for source in sources}
        created = await http.post(
            "/api/dashboard/dashboards", headers=headers, json=dashboard_of(saved)
        )
        assert created.status_code == 201, created.text
        dashboard_id = created.json()["id"]

        answer = await http.get(
            f"/api/dashboard/dashboards/{dashboard_id}/data",
            headers=headers,
            params={"minimum": "2"},
        )
        assert answer.status_code == 200, answer.text
        components = answer.json()["components"]
        assert [c["component_id"] for c in components] == ["postgresql", "clickhouse", "mysql"]
        expected = [[id_, name] for id_, name in PEOPLE if id_ >= 2]
        for component in components:
            assert component["ok"], component
            assert component["saved_query_id"] == saved[component["component_id"]]
            assert component["result"]["rows"] == expected, component["component_id"]

        refused = await http.get(
            f"/api/dashboard/dashboards/{dashboard_id}/data",
            headers=headers,
            params={"minimum": "two"},
        )
        assert refused.status_code == 422, refused.text
        assert refused.json()["error"]["code"] == "invalid_filters"

        # Each execution lands once in query_metrics; read before the tenant is deleted (its
        # tenant.deleted removes the tenant's rows from ClickHouse).
        execution_ids = [component["result"]["execution_id"] for component in components]
        assert await metrics_rows(servers, execution_ids) == {id_: 1 for id_ in execution_ids}

        await http.delete(f"/api/identity/tenants/{account['tenant']['id']}", headers=headers)
