"""Executions through the API on each kind's real server (PostgreSQL, ClickHouse, MariaDB): a
list parameter bound, the row limit, and a timeout that leaves the server's process list."""

from __future__ import annotations

import uuid

from lookout_testing.waiting import wait_until

from .conftest import DatasourceService
from .connector_sources import Source, source_fixture, source_server_fixture  # noqa: F401
from .support import ADMIN, Actor


async def test_each_kind_runs_through_the_api(
    datasource: DatasourceService, tenant: uuid.UUID, source: Source
) -> None:
    admin = datasource.client(Actor(tenant, ADMIN))
    created = await admin.create_source(
        type=source.kind, connection_config=source.config.fingerprint_fields()
    )
    path = f"/data-sources/{created['id']}/execute"
    body = {
        "query_text": "SELECT id, name FROM people WHERE id IN ({{ ids }}) ORDER BY id",
        "parameters": [{"name": "ids", "type": "list"}],
        "values": {"ids": [1, 3]},
    }
    response = await admin.request("POST", path, json=body)
    assert response.status_code == 200, response.text
    result = response.json()
    assert result["rows"] == [[1, "ann"], [3, "o'hara"]]
    assert [column["name"] for column in result["columns"]] == ["id", "name"]
    assert result["truncated"] is False

    limited = (await admin.request("POST", path, json={**body, "row_limit": 1})).json()
    assert limited["rows"] == [[1, "ann"]] and limited["truncated"] is True

    marker = f"m{uuid.uuid4().hex}"
    response = await admin.request(
        "POST", path, json={"query_text": source.long_query(marker), "timeout_s": 1}
    )
    assert response.status_code == 422, response.text
    assert response.json()["error"]["code"] == "timeout"
    execution_id = response.json()["error"]["details"]["execution_id"]
    status = (await admin.request("GET", f"/executions/{execution_id}")).json()["status"]
    assert status == "timeout"

    async def gone() -> bool:
        return await source.running(marker) == 0

    await wait_until(gone, timeout=3, message="the query to leave the server's process list")
