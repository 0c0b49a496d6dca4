"""The schema browser: a refresh reads a source's tables and columns into the browser (upserts,
removes what disappeared, keeps a summary and publishes its event), tables are searched and
paged, a table's columns come in its own order; the periodic refresh leases each source so that
one replica refreshes it; another tenant's source is 404."""

from __future__ import annotations

import asyncio
import base64
import json
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import asyncpg
import httpx
import pytest
from lookout_datasource.app import create_app
from lookout_datasource.repository.data_sources import DataSourceRow
from lookout_datasource.schemas.data_sources import DataSource, DataSourceCreate
from lookout_datasource.service.connectors.pools import ConnectorPools
from lookout_datasource.service.data_sources import create_data_source
from lookout_datasource.service.egress import EgressPolicy
from lookout_datasource.service.schema_browser import LeaseLost, Refresher, refresh_claimed
from lookout_datasource.service.schema_refresher import SchemaRefresher
from lookout_datasource.settings import Settings
from lookout_kit.auth import Authenticator
from lookout_kit.auth.caller import Caller, Permission
from lookout_kit.database import create_pool
from lookout_kit.lease import claim_due
from lookout_kit.migrate import apply_migrations
from lookout_kit.secret_box import SecretBox
from lookout_testing.databases import temporary_database
from lookout_testing.servers import Servers
from lookout_testing.topics import unique_topic
from lookout_testing.waiting import wait_until

from .conftest import DatasourceService
from .connector_sources import Source, source_fixture, source_server_fixture  # noqa: F401
from .support import ADMIN, AUDIENCE, ISSUER, VIEWER, Actor, Client, SigningKeys
from .test_connection_test import postgresql_config
from .test_data_sources import events_about

TABLES = {
    "orders": "id bigint PRIMARY KEY, placed_on date NOT NULL, amount numeric(12, 2) DEFAULT 0",
    "customers": "id bigint PRIMARY KEY, name text",
}


async def run(dsn: str, *statements: str) -> None:
    connection = await asyncpg.connect(dsn)
    try:
        for statement in statements:
            await connection.execute(statement)
    finally:
        await connection.close()


async def warehouse(dsn: str) -> dict[str, Any]:
    """``orders`` and ``customers`` in the database at ``dsn``; a source's config on it."""
    await run(dsn, *(f"CREATE TABLE {name} ({columns})" for name, columns in TABLES.items()))
    return postgresql_config(dsn)


async def refresh(client: Client, source: dict[str, Any]) -> dict[str, Any]:
    response = await client.request("POST", f"/data-sources/{source['id']}/schema/refresh")
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def tables(client: Client, source: dict[str, Any], **params: Any) -> dict[str, Any]:
    response = await client.request("GET", f"/data-sources/{source['id']}/tables", params=params)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def names(page: dict[str, Any]) -> list[str]:
    return [f"{t['schema_name']}.{t['table_name']}" for t in page["items"]]


async def test_a_refresh_fills_the_browser(
    datasource: DatasourceService, tenant: uuid.UUID, database: str, servers: Servers
) -> None:
    admin = datasource.client(Actor(tenant, ADMIN))
    source = await admin.create_source(connection_config=await warehouse(database))
    assert await tables(admin, source) == {"items": [], "next_cursor": None}

    summary = await refresh(admin, source)
    assert summary["succeeded"] is True and summary["error"] is None
    assert (summary["tables"], summary["columns"], summary["removed_columns"]) == (2, 5, 0)
    assert summary["refreshed_at"] == summary["attempted_at"]

    page = await tables(admin, source)
    assert page["items"] == [
        {"schema_name": "public", "table_name": "customers", "columns": 2},
        {"schema_name": "public", "table_name": "orders", "columns": 3},
    ]
    response = await admin.request(
        "GET",
        f"/data-sources/{source['id']}/columns",
        params={"schema": "public", "table": "orders"},
    )
    assert response.status_code == 200, response.text
    assert response.json()["columns"] == [
        {"name": "id", "data_type": "bigint", "is_nullable": False, "column_default": None,
         "position": 1},
        {"name": "placed_on", "data_type": "date", "is_nullable": False, "column_default": None,
         "position": 2},
        {"name": "amount", "data_type": "numeric", "is_nullable": True, "column_default": "0",
         "position": 3},
    ]  # fmt: skip

    shown = (await admin.request("GET", f"/data-sources/{source['id']}")).json()
    assert shown["schema_info"] == summary
    assert shown["schema_refreshed_at"] is not None
    events = await events_about(servers, {source["id"]}, 2)
    (event,) = [e for e in events if e["type"] == "data_source.schema_refreshed"]
    assert event["data"] == {
        "succeeded": True,
        "tables": 2,
        "columns": 5,
        "removed_columns": 0,
        "error": None,
        "error_code": None,
    }
    assert event["actor_id"] == str(admin.actor.user_id)  # who asked (the worker's: none)


async def test_what_disappeared_goes_and_what_changed_follows(
    datasource: DatasourceService, tenant: uuid.UUID, database: str
) -> None:
    admin = datasource.client(Actor(tenant, ADMIN))
    source = await admin.create_source(connection_config=await warehouse(database))
    await refresh(admin, source)
    await run(
        database,
        "DROP TABLE customers",
        "ALTER TABLE orders DROP COLUMN amount",
        "ALTER TABLE orders ALTER COLUMN placed_on DROP NOT NULL",
        "ALTER TABLE orders ADD COLUMN note varchar(20)",
    )
    summary = await refresh(admin, source)
    assert (summary["tables"], summary["columns"], summary["removed_columns"]) == (1, 3, 3)
    assert names(await tables(admin, source)) == ["public.orders"]
    columns = (
        await admin.request(
            "GET",
            f"/data-sources/{source['id']}/columns",
            params={"schema": "public", "table": "orders"},
        )
    ).json()["columns"]
    assert [(c["name"], c["is_nullable"], c["position"]) for c in columns] == [
        ("id", False, 1),
        ("placed_on", True, 2),
        ("note", True, 3),
    ]
    gone = await admin.request(
        "GET",
        f"/data-sources/{source['id']}/columns",
        params={"schema": "public", "table": "customers"},
    )
    assert gone.status_code == 404 and gone.json()["error"]["code"] == "unknown_table"


async def test_a_failed_refresh_keeps_the_browser_and_says_why(
    datasource: DatasourceService, tenant: uuid.UUID, database: str
) -> None:
    admin = datasource.client(Actor(tenant, ADMIN))
    source = await admin.create_source(connection_config=await warehouse(database))
    first = await refresh(admin, source)
    path = f"/data-sources/{source['id']}"
    moved = {"connection_config": {"database": f"nowhere_{uuid.uuid4().hex[:8]}"}}
    assert (await admin.request("PATCH", path, json=moved)).is_success
    failed = await refresh(admin, source)
    assert failed["succeeded"] is False
    assert failed["error"]["code"] == "unknown_database"
    assert (failed["tables"], failed["columns"]) == (2, 5)
    assert failed["refreshed_at"] == first["refreshed_at"]
    assert failed["attempted_at"] > first["attempted_at"]
    assert len((await tables(admin, source))["items"]) == 2
    assert (await admin.request("GET", path)).json()["schema_info"]["error"]["code"] == (
        "unknown_database"
    )


async def test_tables_are_searched_and_paged(
    datasource: DatasourceService, tenant: uuid.UUID, database: str
) -> None:
    admin = datasource.client(Actor(tenant, ADMIN))
    await run(
        database,
        "CREATE SCHEMA sales",
        *(f"CREATE TABLE t_{i} (id int)" for i in range(5)),
        "CREATE TABLE sales.orders (id int, total int)",
        "CREATE TABLE sales.order_lines (id int)",
        'CREATE TABLE "100%_real" (id int)',
    )
    source = await admin.create_source(connection_config=postgresql_config(database))
    assert (await refresh(admin, source))["tables"] == 8

    seen: list[str] = []
    page = await tables(admin, source, limit=3)
    while True:
        assert len(page["items"]) <= 3
        seen += names(page)
        if page["next_cursor"] is None:
            break
        page = await tables(admin, source, limit=3, cursor=page["next_cursor"])
    expected = ["public.100%_real", *(f"public.t_{i}" for i in range(5))]
    assert seen == [*expected, "sales.order_lines", "sales.orders"]

    assert names(await tables(admin, source, search="ORDER")) == [
        "sales.order_lines",
        "sales.orders",
    ]
    assert names(await tables(admin, source, search="sales.orders")) == ["sales.orders"]
    assert names(await tables(admin, source, search="%")) == ["public.100%_real"]  # literal
    assert names(await tables(admin, source, search="t_")) == [
        f"public.t_{i}" for i in range(5)
    ]  # "_" is literal too
    assert (await tables(admin, source, search="nothing"))["items"] == []

    lone_surrogate = base64.urlsafe_b64encode(b'["\\ud800", "t"]').decode()
    for cursor in ("x", lone_surrogate, base64.urlsafe_b64encode(b"[1, 2]").decode()):
        bad = await admin.request(
            "GET", f"/data-sources/{source['id']}/tables", params={"cursor": cursor}
        )
        assert bad.status_code == 422 and bad.json()["error"]["code"] == "invalid_cursor"


@pytest.mark.parametrize("source_server", ["clickhouse", "mysql"], indirect=True)
async def test_a_refresh_reads_each_kind(
    datasource: DatasourceService, tenant: uuid.UUID, source: Source
) -> None:
    engine = " ENGINE = Memory" if source.kind == "clickhouse" else ""
    integer = "Int32" if source.kind == "clickhouse" else "INT"
    await source.run(f"CREATE TABLE ordered (zeta {integer}, alpha {integer}){engine}")
    admin = datasource.client(Actor(tenant, ADMIN))
    created = await admin.create_source(
        type=source.kind, connection_config=source.config.fingerprint_fields()
    )
    summary = await refresh(admin, created)
    assert summary["succeeded"] is True, summary
    page = await tables(admin, created, search="people")
    (people,) = page["items"]
    assert people["table_name"] == "people" and people["columns"] == 2
    columns = (
        await admin.request(
            "GET",
            f"/data-sources/{created['id']}/columns",
            params={"schema": people["schema_name"], "table": "people"},
        )
    ).json()["columns"]
    assert [column["name"] for column in columns] == ["id", "name"]
    ordered = (
        await admin.request(
            "GET",
            f"/data-sources/{created['id']}/columns",
            params={"schema": people["schema_name"], "table": "ordered"},
        )
    ).json()["columns"]
    assert [(c["name"], c["position"]) for c in ordered] == [("zeta", 1), ("alpha", 2)]


async def test_rights_and_tenants(
    datasource: DatasourceService, tenant: uuid.UUID, database: str
) -> None:
    admin = datasource.client(Actor(tenant, ADMIN))
    source = await admin.create_source(connection_config=await warehouse(database))
    await refresh(admin, source)
    base = f"/data-sources/{source['id']}"
    viewer = datasource.client(Actor(tenant, VIEWER))
    assert len((await tables(viewer, source))["items"]) == 2  # read is enough to browse
    refused = await viewer.request("POST", f"{base}/schema/refresh")
    assert refused.status_code == 403  # refreshing connects: update or execute

    stranger = datasource.client(Actor(uuid.uuid4(), ADMIN))
    for method, path, params in [
        ("POST", f"{base}/schema/refresh", None),
        ("GET", f"{base}/tables", None),
        ("GET", f"{base}/columns", {"schema": "public", "table": "orders"}),
        ("GET", f"/data-sources/{uuid.uuid4()}/tables", None),
    ]:
        response = await stranger.request(method, path, params=params)
        assert response.status_code == 404, (path, response.text)
        assert response.json()["error"]["code"] == "not_found"


async def test_a_refresh_in_progress_is_409(
    datasource: DatasourceService, tenant: uuid.UUID, database: str
) -> None:
    admin = datasource.client(Actor(tenant, ADMIN))
    source = await admin.create_source(connection_config=await warehouse(database))
    connection = await asyncpg.connect(datasource.database)
    try:  # another replica holds the source's lease
        await connection.execute(
            "UPDATE data_sources SET leased_until = now() + interval '1 minute', "
            "leased_by = 'another' WHERE id = $1",
            uuid.UUID(source["id"]),
        )
    finally:
        await connection.close()
    response = await admin.request("POST", f"/data-sources/{source['id']}/schema/refresh")
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "schema_refresh_in_progress"
    assert (await tables(admin, source))["items"] == []


async def test_a_new_connection_is_due_for_a_refresh_at_once(
    datasource: DatasourceService, tenant: uuid.UUID, database: str
) -> None:
    admin = datasource.client(Actor(tenant, ADMIN))
    source = await admin.create_source(connection_config=await warehouse(database))
    await refresh(admin, source)  # the next run is an interval away

    async def due() -> bool:
        connection = await asyncpg.connect(datasource.database)
        try:
            return bool(
                await connection.fetchval(
                    "SELECT next_run_at <= now() FROM data_sources WHERE id = $1",
                    uuid.UUID(source["id"]),
                )
            )
        finally:
            await connection.close()

    path = f"/data-sources/{source['id']}"
    assert not await due()
    assert (await admin.request("PATCH", path, json={"name": "renamed"})).is_success
    assert not await due()  # the same database
    moved = {"connection_config": {"database": "postgres"}}
    assert (await admin.request("PATCH", path, json=moved)).is_success
    assert await due()


# -- the periodic refresh -------------------------------------------------------------------------


class CountingPools(ConnectorPools):
    """The service's connector pools, counting the introspections they run."""

    introspections = 0

    async def introspect(self, *args: Any, **kwargs: Any) -> Any:
        CountingPools.introspections += 1
        return await super().introspect(*args, **kwargs)


@pytest.fixture
async def service_pool(database: str) -> AsyncIterator[asyncpg.Pool]:
    """The datasource service's database of this test alone (no other test's sources due)."""
    await apply_migrations(database, "lookout_datasource")
    pool = await create_pool(database, min_size=1, max_size=8)
    try:
        yield pool
    finally:
        await pool.close()


async def a_source(pool: asyncpg.Pool, box: SecretBox, config: dict[str, Any]) -> DataSource:
    """A source made by the service's use case in ``pool``'s database (due at once)."""
    caller = Caller(
        tenant_id=uuid.uuid4(),
        user_id=uuid.uuid4(),
        role_id=uuid.uuid4(),
        session_id="s",
        permissions=(Permission("data_source", "admin"),),
    )
    body = DataSourceCreate(name="warehouse", type="postgresql", connection_config=config)
    return await create_data_source(pool, box, caller, body)


def a_refresher(pool: asyncpg.Pool, box: SecretBox) -> Refresher:
    """One replica's refresher: connector pools of its own (counting), a lease of 60 s."""
    return Refresher(
        pool=pool,
        pools=CountingPools(EgressPolicy(allow_loopback=True)),
        box=box,
        interval=timedelta(hours=1),
        lease_s=60,
    )


async def test_two_replicas_refresh_a_due_source_once(
    service_pool: asyncpg.Pool, servers: Servers
) -> None:
    box = Settings().secret_box()
    async with temporary_database(servers.postgres, prefix="test_warehouse") as warehouse_dsn:
        created = await a_source(service_pool, box, await warehouse(warehouse_dsn))
        CountingPools.introspections = 0
        replicas = [
            SchemaRefresher(a_refresher(service_pool, box), batch=4, poll_interval_s=60)
            for _ in range(2)
        ]
        try:
            await asyncio.gather(*(replica.run_round() for replica in replicas))
            await asyncio.gather(*(replica.run_round() for replica in replicas))
        finally:
            for replica in replicas:
                await replica.refresher.pools.close()

    async with service_pool.acquire() as conn:
        refreshed = await conn.fetch(
            "SELECT payload FROM outbox WHERE event_type = 'data_source.schema_refreshed'"
        )
        row = await conn.fetchrow(
            "SELECT schema_info, next_run_at - schema_refreshed_at AS gap, leased_by "
            "FROM data_sources WHERE id = $1",
            created.id,
        )
    assert CountingPools.introspections == 1  # one replica read the source, once
    assert len(refreshed) == 1
    event = json.loads(refreshed[0]["payload"])
    assert event["actor_id"] is None and event["data"]["tables"] == 2  # nobody asked: the worker
    assert row is not None and row["schema_info"]["tables"] == 2
    assert timedelta(minutes=59) < row["gap"] <= timedelta(hours=1)
    assert row["leased_by"] is None


async def test_the_app_runs_the_periodic_refresh(servers: Servers, database: str) -> None:
    """The worker starts and stops with the app: a new source (due at once) gets its schema
    without anyone asking."""
    config = await warehouse(database)
    keys = SigningKeys()
    async with temporary_database(servers.postgres, prefix="test_datasource") as service_db:
        settings = Settings(
            database_url=service_db,
            kafka_bootstrap_servers=servers.kafka,
            identity_events_topic=unique_topic("identity"),
            identity_consumer_group=f"test-datasource-{uuid.uuid4().hex[:8]}",
            egress_allow_loopback=True,
            schema_refresh_enabled=True,
            schema_refresh_poll_s=0.2,
        )
        app = create_app(settings, Authenticator(keys, issuer=ISSUER, audience=AUDIENCE))
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://datasource") as http:
                admin = Client(http, keys.token(actor := Actor(uuid.uuid4(), ADMIN)), actor)
                source = await admin.create_source(connection_config=config)

                async def refreshed() -> bool:
                    shown = await admin.request("GET", f"/data-sources/{source['id']}")
                    return shown.json()["schema_refreshed_at"] is not None

                await wait_until(refreshed, timeout=20, message="the periodic schema refresh")
                assert len((await tables(admin, source))["items"]) == 2


async def test_a_refresh_that_lost_its_lease_writes_nothing(
    service_pool: asyncpg.Pool, servers: Servers
) -> None:
    box = Settings().secret_box()
    refresher = a_refresher(service_pool, box)
    async with temporary_database(servers.postgres, prefix="test_warehouse") as warehouse_dsn:
        created = await a_source(service_pool, box, await warehouse(warehouse_dsn))
        (claimed,) = await claim_due(service_pool, "data_sources", limit=1, lease_s=60, owner="a")
        # Its lease expired and another replica took the source meanwhile.
        await service_pool.execute(
            "UPDATE data_sources SET leased_by = 'b' WHERE id = $1", created.id
        )
        try:
            with pytest.raises(LeaseLost):
                await refresh_claimed(refresher, DataSourceRow.of(claimed), owner="a")
        finally:
            await refresher.pools.close()
    async with service_pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM data_source_schemas") == 0
        assert await conn.fetchval("SELECT schema_info FROM data_sources") is None
        assert await conn.fetchval("SELECT leased_by FROM data_sources") == "b"
        assert (
            await conn.fetchval(
                "SELECT count(*) FROM outbox WHERE event_type = 'data_source.schema_refreshed'"
            )
            == 0
        )
