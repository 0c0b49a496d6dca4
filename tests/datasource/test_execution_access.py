"""What the execution endpoints and the schema refresh will use: ``load_data_source``,
``require_execute``, ``get_data_source_with_secrets`` and the lease columns (a source made through
the API, read back by the use cases)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import timedelta

import asyncpg
import pytest
from lookout_datasource.service.data_sources import (
    get_data_source_with_secrets,
    load_data_source,
    require_execute,
)
from lookout_datasource.settings import Settings
from lookout_kit.auth.caller import Caller, Permission
from lookout_kit.auth.conditions import Conditions
from lookout_kit.database import create_pool
from lookout_kit.errors import Forbidden, NotFound
from lookout_kit.lease import claim_due, complete

from .conftest import DatasourceService
from .support import ADMIN, PASSWORD, Actor


@pytest.fixture
async def conn(datasource: DatasourceService) -> AsyncIterator[asyncpg.Connection]:
    """A connection to the service's database set up as the service's own pool sets them up."""
    pool = await create_pool(datasource.database, min_size=1, max_size=1)
    try:
        async with pool.acquire() as connection:
            yield connection
    finally:
        await pool.close()


def caller(tenant: uuid.UUID, *permissions: Permission) -> Caller:
    return Caller(
        tenant_id=tenant,
        user_id=uuid.uuid4(),
        role_id=uuid.uuid4(),
        session_id="s",
        permissions=permissions,
    )


async def test_execute_needs_the_permission(
    datasource: DatasourceService, tenant: uuid.UUID, conn: asyncpg.Connection
) -> None:
    created = await datasource.client(Actor(tenant, ADMIN)).create_source()
    source_id = uuid.UUID(created["id"])
    runner = caller(tenant, Permission("data_source", "execute"))
    row = await load_data_source(conn, runner, source_id, "execute")
    require_execute(runner, row)

    reader = caller(tenant, Permission("data_source", "read"))
    row = await load_data_source(conn, reader, source_id, "read")
    with pytest.raises(Forbidden):
        require_execute(reader, row)
    with pytest.raises(Forbidden):
        await load_data_source(conn, reader, source_id, "execute")

    only_others = Permission("data_source", "execute", Conditions(ids=(str(uuid.uuid4()),)))
    with pytest.raises(NotFound):
        require_execute(caller(tenant, only_others), row)
    with pytest.raises(NotFound):
        require_execute(caller(uuid.uuid4(), Permission("data_source", "admin")), row)


async def test_the_secrets_open_for_a_connector(
    datasource: DatasourceService, tenant: uuid.UUID, conn: asyncpg.Connection
) -> None:
    created = await datasource.client(Actor(tenant, ADMIN)).create_source()
    box = Settings().secret_box()  # the service under test runs with the default (local) keys
    row, config = await get_data_source_with_secrets(conn, box, tenant, uuid.UUID(created["id"]))
    assert row.version == 1 and row.type == "postgresql"
    assert config.secret("password") == PASSWORD
    assert (config.host, config.port, config.user) == ("127.0.0.1", 5432, "reporter")
    with pytest.raises(NotFound):
        await get_data_source_with_secrets(conn, box, uuid.uuid4(), row.id)
    # A sealed value copied to another row does not open there.
    other = await datasource.client(Actor(tenant, ADMIN)).create_source()
    await conn.execute(
        "UPDATE data_sources SET secrets = $1 WHERE id = $2",
        row.secrets,
        uuid.UUID(other["id"]),
    )
    with pytest.raises(Exception, match="failed authentication"):
        await get_data_source_with_secrets(conn, box, tenant, uuid.UUID(other["id"]))


async def test_data_sources_follow_the_lease_contract(
    datasource: DatasourceService, tenant: uuid.UUID, conn: asyncpg.Connection
) -> None:
    """The schema refresh's columns (next_run_at, leased_until, leased_by) work with the kit's
    lease: a new source is due at once, one claimer gets it, completing schedules the next run."""
    created = await datasource.client(Actor(tenant, ADMIN)).create_source()
    source_id = uuid.UUID(created["id"])
    first = await claim_due(conn, "data_sources", limit=10, lease_s=30, owner="a", only=[source_id])
    assert [row["id"] for row in first] == [source_id]
    assert (
        await claim_due(conn, "data_sources", limit=10, lease_s=30, owner="b", only=[source_id])
        == []
    )
    assert (
        await complete(conn, "data_sources", [source_id], owner="a", next_run=timedelta(hours=1))
        == 1
    )
    assert (
        await claim_due(conn, "data_sources", limit=10, lease_s=30, owner="b", only=[source_id])
        == []
    )
