"""The dashboard benchmark's floor: a bare ASGI app that does what ``GET /dashboards/{id}`` must do
and nothing else — the same read (the dashboard and the caller's grants, one round trip) and the
same event insert (``dashboard.viewed`` into the outbox on the no-WAL-wait pool) — with one
asyncpg pool each, as the service has.

No framework, no middleware, no token check: what the service costs beyond this is the price of
its stack (routing, validation, auth, telemetry). ``make bench-dashboard`` serves it with uvicorn
on ``BENCH_FLOOR_PORT`` and loads it through the same gateway (``/api/bench-floor/``), at the same
rate as the service. The caller (tenant, user, role) comes from the environment: the benchmark's
own tenant.
"""

from __future__ import annotations

import json
import os
import uuid
from typing import Any

import asyncpg
from lookout_contracts import make_event
from lookout_contracts.events.dashboard import DashboardViewedV1
from lookout_dashboard.settings import Settings
from lookout_kit.database import create_pool
from lookout_kit.outbox import publish_standalone

_READ = """
SELECT d.id, d.name, d.description, d.tenant_id, d.owner_id, d.layout, d.components, d.filters,
       d.tags, d.is_public, d.version, d.created_at, d.updated_at, d.published_at,
       ARRAY(SELECT p.permission_type FROM dashboard_permissions p
             WHERE p.dashboard_id = d.id AND (p.user_id = $3 OR p.role_id = $4)) AS granted
FROM dashboards d
WHERE d.tenant_id = $1 AND d.id = $2
"""

_PREFIX = "/dashboards/"
_state: dict[str, Any] = {}


async def _respond(send: Any, status: int, body: bytes) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"application/json")],
        }
    )
    await send({"type": "http.response.body", "body": body})


async def _lifespan(receive: Any, send: Any) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            dsn = Settings().database_dsn
            assert dsn is not None
            _state["pool"] = await create_pool(dsn, min_size=4, max_size=10)
            _state["events_pool"] = await create_pool(
                dsn, min_size=1, max_size=4, server_settings={"synchronous_commit": "off"}
            )
            _state["tenant"] = uuid.UUID(os.environ["BENCH_FLOOR_TENANT"])
            _state["user"] = uuid.UUID(os.environ["BENCH_FLOOR_USER"])
            _state["role"] = uuid.UUID(os.environ["BENCH_FLOOR_ROLE"])
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await _state["pool"].close()
            await _state["events_pool"].close()
            await send({"type": "lifespan.shutdown.complete"})
            return


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        await _lifespan(receive, send)
        return
    path: str = scope["path"]
    if scope["type"] != "http" or not path.startswith(_PREFIX):
        await _respond(send, 404, b'{"error":"not found"}')
        return
    try:
        dashboard_id = uuid.UUID(path[len(_PREFIX) :])
    except ValueError:
        await _respond(send, 404, b'{"error":"not found"}')
        return
    tenant, user, role = _state["tenant"], _state["user"], _state["role"]
    pool: asyncpg.Pool = _state["pool"]
    async with pool.acquire() as conn:
        row = await conn.fetchrow(_READ, tenant, dashboard_id, user, role)
    if row is None:
        await _respond(send, 404, b'{"error":"not found"}')
        return
    viewed = make_event(
        "dashboard.viewed",
        tenant_id=tenant,
        subject_id=dashboard_id,
        actor_id=user,
        data=DashboardViewedV1(version=row["version"]),
    )
    await publish_standalone(_state["events_pool"], viewed)
    await _respond(send, 200, json.dumps(dict(row), default=str).encode())
