"""The fuzz's tenant and its real objects, made once through the running gateway; the data source
they run on is a PostgreSQL database of the run's own with a ``people`` table."""

from __future__ import annotations

from collections.abc import AsyncIterator

import asyncpg
import httpx
import pytest
from lookout_testing.databases import temporary_database
from lookout_testing.servers import Servers

from .objects import FuzzTenant, RealObjects


@pytest.fixture(scope="session")
async def real_objects(servers: Servers) -> AsyncIterator[RealObjects]:
    async with temporary_database(servers.postgres, prefix="test_fuzz") as dsn:
        connection = await asyncpg.connect(dsn)
        try:
            await connection.execute("CREATE TABLE people (id integer NOT NULL, name text)")
            await connection.execute("INSERT INTO people VALUES (1, 'ann'), (2, 'bob')")
        finally:
            await connection.close()
        with httpx.Client(timeout=30) as http:
            tenant = FuzzTenant(servers.gateway, http)
            tenant.start()
            objects = RealObjects(tenant, dsn.rsplit("/", 1)[1])
            objects.make_shared()
            yield objects
