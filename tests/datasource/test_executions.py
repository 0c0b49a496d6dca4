"""Executions through the API against a real PostgreSQL data source: a saved query run with the
caller's own values, ad hoc queries and their permission, bad values, the row limit, a timeout,
cancel, tenants, the result cache and the ``query.executed`` event of each execution."""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from typing import Any

import asyncpg
import pytest
from lookout_datasource.repository import executions as execution_rows
from lookout_testing.servers import Servers
from lookout_testing.waiting import wait_until

from .conftest import DatasourceService
from .execution_support import executed_events, running_on_server, sales_source
from .support import ADMIN, EDITOR, PASSWORD, VIEWER, Actor, Client, permission

REVENUE = (
    "SELECT region, sum(amount)::integer AS total FROM sales"
    " WHERE region = {{ region }} AND sold_on >= {{ since }} GROUP BY region"
)
REVENUE_PARAMETERS = [
    {"name": "region", "type": "enum", "options": ["eu", "us"], "default": "eu"},
    {"name": "since", "type": "date", "required": True},
]


async def revenue_query(admin: Client, source: dict[str, Any], **overrides: Any) -> dict[str, Any]:
    return await admin.create_query(
        source["id"],
        query_text=REVENUE,
        parameters=REVENUE_PARAMETERS,
        is_public=False,
        **overrides,
    )


async def service_rows(datasource: DatasourceService, sql: str, *args: Any) -> list[Any]:
    connection = await asyncpg.connect(datasource.database)
    try:
        return list(await connection.fetch(sql, *args))
    finally:
        await connection.close()


async def test_a_viewer_runs_a_saved_query_with_own_values(
    datasource: DatasourceService, tenant: uuid.UUID, database: str
) -> None:
    admin = datasource.client(Actor(tenant, ADMIN))
    source = await sales_source(admin, database)
    query = await revenue_query(admin, source)
    viewer = datasource.client(Actor(tenant, VIEWER))  # no data_source:execute
    path = f"/saved-queries/{query['id']}/execute"

    response = await viewer.request(
        "POST", path, json={"values": {"region": "us", "since": "2026-01-01"}}
    )
    assert response.status_code == 200, response.text
    result = response.json()
    assert result["rows"] == [["us", 5]]
    assert result["columns"] == [
        {"name": "region", "type": "text"},
        {"name": "total", "type": "int4"},
    ]
    assert result["row_count"] == 1 and result["truncated"] is False and result["cached"] is False
    assert result["bytes"] > 0 and result["duration_ms"] >= 0
    assert result["saved_query_id"] == query["id"] and result["data_source_id"] == source["id"]

    # The default applies to what is not given.
    response = await viewer.request("POST", path, json={"values": {"since": "2026-01-15"}})
    assert response.json()["rows"] == [["eu", 20]]

    # A value is data, never SQL: a text parameter carrying SQL matches nothing.
    injected = await admin.create_query(
        source["id"],
        query_text="SELECT count(*)::integer AS n FROM sales WHERE region = {{ region }}",
        parameters=[{"name": "region", "type": "text"}],
    )
    response = await viewer.request(
        "POST",
        f"/saved-queries/{injected['id']}/execute",
        json={"values": {"region": "eu' OR '1'='1"}},
    )
    assert response.json()["rows"] == [[0]]

    execution = await viewer.request("GET", f"/executions/{result['execution_id']}")
    assert execution.status_code == 200
    assert execution.json()["status"] == "success" and execution.json()["row_count"] == 1
    assert execution.json()["user_id"] == str(viewer.actor.user_id)
    metrics = (await datasource.http.get("/metrics")).text
    assert 'lookout_datasource_executions_total{kind="postgresql",status="success"}' in metrics


async def test_ad_hoc_needs_execute_on_the_source(
    datasource: DatasourceService, tenant: uuid.UUID, database: str
) -> None:
    admin = datasource.client(Actor(tenant, ADMIN))
    source = await sales_source(admin, database)
    body = {
        "query_text": "SELECT count(*)::integer AS n FROM sales WHERE amount > {{ least }}",
        "parameters": [{"name": "least", "type": "number"}],
        "values": {"least": 6},
    }
    path = f"/data-sources/{source['id']}/execute"

    viewer = datasource.client(Actor(tenant, VIEWER))
    response = await viewer.request("POST", path, json=body)
    assert response.status_code == 403, response.text
    assert response.json()["error"]["code"] == "forbidden"

    editor = datasource.client(Actor(tenant, EDITOR))
    response = await editor.request("POST", path, json=body)
    assert response.status_code == 200, response.text
    assert response.json()["rows"] == [[2]] and response.json()["saved_query_id"] is None

    only_another = Actor(
        tenant, [permission("data_source", "execute", {"ids": [str(uuid.uuid4())]})]
    )
    response = await datasource.client(only_another).request("POST", path, json=body)
    assert response.status_code == 404


@pytest.mark.parametrize(
    ("values", "name", "kind"),
    [
        ({"since": "yesterday"}, "since", "invalid_value"),
        ({"since": "2026-01-01", "region": "mars"}, "region", "invalid_value"),
        ({"region": "eu"}, "since", "missing"),
        ({"since": None}, "since", "missing"),
        ({"since": "2026-01-01", "other": 1}, "other", "unknown_parameter"),
        ({"since": 20260101}, "since", "invalid_value"),
    ],
)
async def test_a_bad_parameter_value_is_422_and_runs_nothing(
    datasource: DatasourceService,
    tenant: uuid.UUID,
    database: str,
    values: dict[str, Any],
    name: str,
    kind: str,
) -> None:
    admin = datasource.client(Actor(tenant, ADMIN))
    source = await sales_source(admin, database)
    query = await revenue_query(admin, source)
    response = await admin.request(
        "POST", f"/saved-queries/{query['id']}/execute", json={"values": values}
    )
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "invalid_parameters"
    assert [(d["loc"], d["type"]) for d in error["details"]] == [(["body", "values", name], kind)]
    assert name in error["message"]
    recorded = await service_rows(
        datasource, "SELECT id FROM query_executions WHERE tenant_id = $1", tenant
    )
    assert recorded == []


async def test_the_row_limit_truncates_and_the_service_caps_it(
    datasource: DatasourceService, tenant: uuid.UUID, database: str
) -> None:
    admin = datasource.client(Actor(tenant, ADMIN))
    source = await sales_source(admin, database)
    path = f"/data-sources/{source['id']}/execute"
    series = "SELECT g FROM generate_series(1, {{ n }}) AS g"
    parameters = [{"name": "n", "type": "number"}]

    response = await admin.request(
        "POST",
        path,
        json={"query_text": series, "parameters": parameters, "values": {"n": 50}, "row_limit": 10},
    )
    result = response.json()
    assert result["rows"] == [[g] for g in range(1, 11)]
    assert result["row_count"] == 10 and result["truncated"] is True

    response = await admin.request(
        "POST",
        path,
        json={"query_text": series, "parameters": parameters, "values": {"n": 50}, "row_limit": 50},
    )
    assert response.json()["row_count"] == 50 and response.json()["truncated"] is False

    # A request cannot raise the service's limit (10,000 rows).
    response = await admin.request(
        "POST",
        path,
        json={
            "query_text": series,
            "parameters": parameters,
            "values": {"n": 10_001},
            "row_limit": 1_000_000,
        },
    )
    assert response.json()["row_count"] == 10_000 and response.json()["truncated"] is True


async def test_a_timeout_stops_the_query_and_is_reported(
    datasource: DatasourceService, tenant: uuid.UUID, database: str, servers: Servers
) -> None:
    admin = datasource.client(Actor(tenant, ADMIN))
    source = await sales_source(admin, database)
    marker = f"slow-{uuid.uuid4().hex[:8]}"
    response = await admin.request(
        "POST",
        f"/data-sources/{source['id']}/execute",
        json={"query_text": f"SELECT pg_sleep(30), '{marker}'", "timeout_s": 1},
    )
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "timeout"
    assert error["details"]["status"] == "timeout"
    execution_id = error["details"]["execution_id"]
    assert await running_on_server(database, marker) == []

    execution = (await admin.request("GET", f"/executions/{execution_id}")).json()
    assert execution["status"] == "timeout" and execution["error_code"] == "timeout"
    assert execution["finished_at"] is not None

    [event] = await executed_events(servers, source["id"], 1)
    assert event["data"]["status"] == "timeout" and event["data"]["query_id"] == execution_id
    assert event["data"]["error"].startswith("timeout")


async def test_cancel_stops_the_query_on_the_server(
    datasource: DatasourceService, tenant: uuid.UUID, database: str, servers: Servers
) -> None:
    admin = datasource.client(Actor(tenant, ADMIN))
    source = await sales_source(admin, database)
    starter = datasource.client(Actor(tenant, EDITOR))
    marker = f"long-{uuid.uuid4().hex[:8]}"
    running = asyncio.create_task(
        starter.request(
            "POST",
            f"/data-sources/{source['id']}/execute",
            json={"query_text": f"SELECT pg_sleep(30), '{marker}'"},
        )
    )

    async def started() -> bool:
        return bool(await running_on_server(database, marker))

    await wait_until(started, timeout=10, message="the query to run on the server")
    [application] = await running_on_server(database, marker)
    execution_id = application.removeprefix("lookout:")
    status = await starter.request("GET", f"/executions/{execution_id}")
    assert status.json()["status"] == "running"

    other = datasource.client(Actor(tenant, EDITOR))  # same rights, not the starter
    refused = await other.request("POST", f"/executions/{execution_id}/cancel")
    assert refused.status_code == 403
    assert await running_on_server(database, marker) != []

    outcome = await starter.request("POST", f"/executions/{execution_id}/cancel")
    assert outcome.status_code == 200, outcome.text
    assert outcome.json() == {
        "execution_id": execution_id,
        "cancelled": True,
        "status": "cancelled",
    }
    response = await asyncio.wait_for(running, timeout=10)
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "cancelled"
    assert await running_on_server(database, marker) == []
    assert (await starter.request("GET", f"/executions/{execution_id}")).json()[
        "status"
    ] == "cancelled"

    again = await starter.request("POST", f"/executions/{execution_id}/cancel")
    assert again.json() == {"execution_id": execution_id, "cancelled": False, "status": "cancelled"}
    [event] = await executed_events(servers, source["id"], 1)
    assert event["data"]["status"] == "cancelled" and event["actor_id"] == str(
        starter.actor.user_id
    )


async def test_another_tenants_query_source_and_execution_are_404(
    datasource: DatasourceService, tenant: uuid.UUID, database: str
) -> None:
    admin = datasource.client(Actor(tenant, ADMIN))
    source = await sales_source(admin, database)
    query = await revenue_query(admin, source)
    ran = await admin.request(
        "POST", f"/saved-queries/{query['id']}/execute", json={"values": {"since": "2026-01-01"}}
    )
    execution_id = ran.json()["execution_id"]

    stranger = datasource.client(Actor(uuid.uuid4(), [*ADMIN, permission("tenant", "admin")]))
    for method, path, body in [
        ("POST", f"/saved-queries/{query['id']}/execute", {"values": {"since": "2026-01-01"}}),
        ("POST", f"/data-sources/{source['id']}/execute", {"query_text": "SELECT 1"}),
        ("GET", f"/executions/{execution_id}", None),
        ("POST", f"/executions/{execution_id}/cancel", None),
    ]:
        response = await stranger.request(method, path, json=body)
        assert response.status_code == 404, (path, response.text)
        assert PASSWORD not in response.text


async def test_an_execution_is_seen_by_its_starter_and_admins_only(
    datasource: DatasourceService, tenant: uuid.UUID, database: str
) -> None:
    admin = datasource.client(Actor(tenant, ADMIN))
    source = await sales_source(admin, database)
    editor = datasource.client(Actor(tenant, EDITOR))
    ran = await editor.request(
        "POST", f"/data-sources/{source['id']}/execute", json={"query_text": "SELECT 1 AS one"}
    )
    path = f"/executions/{ran.json()['execution_id']}"
    assert (await editor.request("GET", path)).status_code == 200
    assert (await datasource.client(Actor(tenant, EDITOR)).request("GET", path)).status_code == 403
    tenant_admin = datasource.client(Actor(tenant, [permission("tenant", "admin")]))
    assert (await tenant_admin.request("GET", path)).status_code == 200
    assert (await admin.request("GET", path)).status_code == 200  # data_source:admin
    assert (await editor.request("GET", f"/executions/{uuid.uuid4()}")).status_code == 404


async def test_a_cached_result_within_max_age_is_no_execution(
    datasource: DatasourceService, tenant: uuid.UUID, database: str, servers: Servers
) -> None:
    admin = datasource.client(Actor(tenant, ADMIN))
    source = await sales_source(admin, database)
    query = await revenue_query(admin, source)
    path = f"/saved-queries/{query['id']}/execute"
    body = {"values": {"since": "2026-01-01"}, "max_age_s": 60}

    first = (await admin.request("POST", path, json=body)).json()
    assert first["cached"] is False and first["cache_age_s"] is None
    second = (await admin.request("POST", path, json=body)).json()
    assert second["cached"] is True, "no cache hit: does Redis answer on 127.0.0.1:6379?"
    assert second["execution_id"] == first["execution_id"]
    assert second["rows"] == first["rows"] == [["eu", 30]]
    assert 0 <= second["cache_age_s"] < 60

    # Other values, no max_age, or a changed source: an execution each.
    other = (
        await admin.request("POST", path, json={**body, "values": {"since": "2026-02-01"}})
    ).json()
    assert other["cached"] is False and other["rows"] == [["eu", 20]]
    fresh = (await admin.request("POST", path, json={"values": {"since": "2026-01-01"}})).json()
    assert fresh["cached"] is False
    await admin.request("PATCH", f"/data-sources/{source['id']}", json={"name": "renamed"})
    changed = (await admin.request("POST", path, json=body)).json()
    assert changed["cached"] is False

    events = await executed_events(servers, source["id"], 4, settle_s=1.5)
    assert len(events) == 4
    ids = [e["data"]["query_id"] for e in events]
    assert len(set(ids)) == 4 and ids.count(first["execution_id"]) == 1
    recorded = await service_rows(
        datasource, "SELECT id FROM query_executions WHERE tenant_id = $1", tenant
    )
    assert len(recorded) == 4


async def test_an_execution_ends_only_after_its_start_is_recorded(
    datasource: DatasourceService,
    tenant: uuid.UUID,
    database: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The start is written while the query goes to its server: an end written first would find
    no row, and the start would then stay ``running`` for good."""
    admin = datasource.client(Actor(tenant, ADMIN))
    source = await sales_source(admin, database)
    insert_execution = execution_rows.insert_execution

    async def slow_insert(*args: Any, **kwargs: Any) -> None:
        await asyncio.sleep(0.5)  # far longer than the query
        await insert_execution(*args, **kwargs)

    monkeypatch.setattr(execution_rows, "insert_execution", slow_insert)
    response = await admin.request(
        "POST", f"/data-sources/{source['id']}/execute", json={"query_text": "SELECT 1 AS one"}
    )
    assert response.status_code == 200, response.text
    execution_id = response.json()["execution_id"]
    execution = (await admin.request("GET", f"/executions/{execution_id}")).json()
    assert (execution["status"], execution["row_count"]) == ("success", 1)


async def test_an_execution_uses_the_source_as_it_is_now(
    datasource: DatasourceService, tenant: uuid.UUID, database: str
) -> None:
    """The process keeps a source's opened settings and pool per version: a change of its
    settings is what the next execution uses."""
    admin = datasource.client(Actor(tenant, ADMIN))
    source = await sales_source(admin, database)
    path = f"/data-sources/{source['id']}/execute"
    query = {"query_text": "SELECT count(*)::integer AS n FROM sales"}
    assert (await admin.request("POST", path, json=query)).status_code == 200
    changed = await admin.request(
        "PATCH",
        f"/data-sources/{source['id']}",
        json={"connection_config": {"database": f"missing_{uuid.uuid4().hex[:8]}"}},
    )
    assert changed.status_code == 200, changed.text
    failed = await admin.request("POST", path, json=query)
    assert failed.status_code == 422, failed.text
    assert failed.json()["error"]["code"] == "unknown_database"
    restored = await admin.request(
        "PATCH",
        f"/data-sources/{source['id']}",
        json={"connection_config": {"database": source["connection_config"]["database"]}},
    )
    assert restored.status_code == 200, restored.text
    assert (await admin.request("POST", path, json=query)).status_code == 200


async def test_each_execution_publishes_query_executed(
    datasource: DatasourceService, tenant: uuid.UUID, database: str, servers: Servers
) -> None:
    admin = datasource.client(Actor(tenant, ADMIN))
    source = await sales_source(admin, database)
    query = await revenue_query(admin, source)
    viewer = datasource.client(Actor(tenant, VIEWER))
    ok = (
        await viewer.request(
            "POST",
            f"/saved-queries/{query['id']}/execute",
            json={"values": {"region": "us", "since": "2026-01-01"}},
        )
    ).json()
    failed = await admin.request(
        "POST",
        f"/data-sources/{source['id']}/execute",
        json={"query_text": "SELECT nothing FROM nowhere"},
    )
    assert failed.status_code == 422 and failed.json()["error"]["code"] == "query_error"

    events = await executed_events(servers, source["id"], 2)
    by_id = {e["data"]["query_id"]: e for e in events}
    success = by_id[ok["execution_id"]]
    assert success["subject"] == {"type": "query", "id": ok["execution_id"]}
    assert success["tenant_id"] == str(tenant)
    assert success["actor_id"] == str(viewer.actor.user_id)
    assert success["session_id"] == viewer.actor.session_id
    assert success["data"] == {
        "query_id": ok["execution_id"],
        "data_source_id": source["id"],
        "saved_query_id": query["id"],
        "query_text": REVENUE,
        "execution_time_ms": success["data"]["execution_time_ms"],
        "rows_returned": 1,
        "bytes_returned": ok["bytes"],
        "status": "success",
        "error": None,
    }
    failure = by_id[failed.json()["error"]["details"]["execution_id"]]
    assert failure["actor_id"] == str(admin.actor.user_id)
    assert failure["data"]["status"] == "failed" and failure["data"]["saved_query_id"] is None
    assert failure["data"]["rows_returned"] == 0
    assert "nowhere" in failure["data"]["error"]
    assert PASSWORD not in json.dumps(events) and "'us'" not in json.dumps(events)


async def test_no_secret_in_any_execution_response_event_or_log_line(
    datasource: DatasourceService,
    tenant: uuid.UUID,
    database: str,
    servers: Servers,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    admin = datasource.client(Actor(tenant, ADMIN))
    source = await sales_source(admin, database)
    config = {
        "host": "127.0.0.1",
        "port": 5432,
        "database": database.rsplit("/", 1)[1],
        "user": f"nobody_{uuid.uuid4().hex[:6]}",
        "password": PASSWORD,
        "ssl_mode": "disable",
    }
    refused = await admin.create_source(connection_config=config)
    query = await revenue_query(admin, source)
    responses = [
        await admin.request(
            "POST",
            f"/saved-queries/{query['id']}/execute",
            json={"values": {"since": "2026-01-01"}},
        ),
        await admin.request(
            "POST", f"/data-sources/{refused['id']}/execute", json={"query_text": "SELECT 1"}
        ),
        await admin.request(
            "POST", f"/data-sources/{source['id']}/execute", json={"query_text": "SELECT x FROM y"}
        ),
        await admin.request(
            "POST",
            "/executions/batch",
            json={"items": [{"data_source_id": refused["id"], "query_text": "SELECT 1"}]},
        ),
    ]
    assert [r.status_code for r in responses] == [200, 422, 422, 200]
    assert responses[1].json()["error"]["code"] == "bad_credentials"
    events = await executed_events(servers, refused["id"], 2)
    events += await executed_events(servers, source["id"], 2)
    assert all(PASSWORD not in response.text for response in responses)
    assert PASSWORD not in json.dumps(events)
    lines = [f"{record.getMessage()} {record.__dict__}" for record in caplog.records]
    assert any(refused["id"] in line for line in lines)  # the service did log about it
    assert all(PASSWORD not in line for line in lines)


async def test_cancel_stops_an_execution_still_waiting_for_a_slot(
    datasource: DatasourceService, tenant: uuid.UUID, database: str, servers: Servers
) -> None:
    admin = datasource.client(Actor(tenant, ADMIN))
    source = await sales_source(admin, database)
    path = f"/data-sources/{source['id']}/execute"
    busy = f"busy-{uuid.uuid4().hex[:8]}"
    holders = [
        asyncio.create_task(
            admin.request("POST", path, json={"query_text": f"SELECT pg_sleep(30), '{busy}'"})
        )
        for _ in range(4)  # the source's limit: every slot taken
    ]

    async def all_busy() -> bool:
        return len(await running_on_server(database, busy)) == 4

    await wait_until(all_busy, timeout=10, message="four queries to hold the source's slots")
    holding = {name.removeprefix("lookout:") for name in await running_on_server(database, busy)}
    waiting = asyncio.create_task(
        admin.request("POST", path, json={"query_text": "SELECT 'never ran' AS x"})
    )

    async def queued() -> set[str]:
        rows = await service_rows(
            datasource,
            "SELECT id::text FROM query_executions WHERE tenant_id = $1 AND status = 'running'",
            tenant,
        )
        return {row[0] for row in rows} - holding

    await wait_until(queued, timeout=10, message="the fifth execution to wait for a slot")
    [execution_id] = await queued()
    outcome = await admin.request("POST", f"/executions/{execution_id}/cancel")
    assert outcome.json() == {
        "execution_id": execution_id,
        "cancelled": True,
        "status": "cancelled",
    }
    response = await asyncio.wait_for(waiting, timeout=5)
    assert response.status_code == 422, response.text
    assert response.json()["error"]["code"] == "cancelled"
    assert response.json()["error"]["details"]["execution_id"] == execution_id
    execution = (await admin.request("GET", f"/executions/{execution_id}")).json()
    assert execution["status"] == "cancelled"

    for holder in holding:  # the others, from the server
        assert (await admin.request("POST", f"/executions/{holder}/cancel")).json()["cancelled"]
    for task in holders:
        assert (await asyncio.wait_for(task, timeout=10)).json()["error"]["code"] == "cancelled"
    events = await executed_events(servers, source["id"], 5)
    assert {e["data"]["status"] for e in events} == {"cancelled"}
