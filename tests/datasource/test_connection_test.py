"""Test connection through the HTTP API: the server's version and latency, or a clear error with
its stable code (never the password, never a stack trace); the source's status and
last_tested_at; the ``data_source.tested`` event; the egress policy before any packet."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from typing import Any

import pytest
from lookout_datasource.service.connection_tests import GRACE_S
from lookout_testing.broker import free_port
from lookout_testing.mysql import MysqlDatabase
from lookout_testing.servers import Servers

from .conftest import DatasourceService
from .connector_sources import Source, source_fixture, source_server_fixture  # noqa: F401
from .support import ADMIN, EDITOR, PASSWORD, VIEWER, Actor, permission
from .test_data_sources import events_about


def postgresql_config(dsn: str) -> dict[str, Any]:
    """The ``connection_config`` of a source on the PostgreSQL database at ``dsn``."""
    return {
        "host": "127.0.0.1",
        "port": 5432,
        "database": dsn.rsplit("/", 1)[1],
        "user": "postgres",
        "password": PASSWORD,
        "ssl_mode": "disable",
    }


class Listener:
    """A TCP listener on a loopback port that counts the connections it accepts; ``silent``: it
    keeps them open and never says a word (a server that hangs)."""

    def __init__(self, port: int, *, silent: bool = False) -> None:
        self.port = port
        self.connections = 0
        self.silent = silent
        self._server: asyncio.Server | None = None
        self._held: list[asyncio.StreamWriter] = []

    async def _accept(self, _: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        if self.silent:
            self._held.append(writer)
        else:
            writer.close()

    async def __aenter__(self) -> Listener:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", self.port)
        return self

    async def __aexit__(self, *_: object) -> None:
        assert self._server is not None
        for writer in self._held:
            writer.close()
        self._server.close()
        await self._server.wait_closed()


def path_of_test(source: dict[str, Any]) -> str:
    return f"/data-sources/{source['id']}/test"


async def test_a_reachable_source_answers_its_version_and_becomes_active(
    datasource: DatasourceService, tenant: uuid.UUID, database: str, servers: Servers
) -> None:
    admin = datasource.client(Actor(tenant, ADMIN))
    source = await admin.create_source(connection_config=postgresql_config(database))
    assert source["last_tested_at"] is None

    response = await admin.request("POST", path_of_test(source))
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["succeeded"] is True and body["error"] is None
    assert body["server_version"].startswith("PostgreSQL ")
    assert 0 <= body["latency_ms"] < 5_000
    assert body["status"] == "active"

    shown = (await admin.request("GET", f"/data-sources/{source['id']}")).json()
    assert shown["status"] == "active"
    assert shown["last_tested_at"] == body["tested_at"]
    assert shown["version"] == source["version"]  # a test is not a change of the source

    (event,) = [
        e
        for e in await events_about(servers, {source["id"]}, 2)
        if e["type"] == "data_source.tested"
    ]
    assert event["data"] == {
        "succeeded": True,
        "latency_ms": body["latency_ms"],
        "error": None,
        "error_code": None,
    }
    assert event["actor_id"] == str(admin.actor.user_id) and event["tenant_id"] == str(tenant)


async def test_a_wrong_password_is_bad_credentials_and_shown_nowhere(
    datasource: DatasourceService,
    tenant: uuid.UUID,
    mysql_database: MysqlDatabase,
    servers: Servers,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """MariaDB checks passwords (PostgreSQL here trusts loopback)."""
    admin = datasource.client(Actor(tenant, ADMIN))
    source = await admin.create_source(
        type="mysql",
        connection_config={
            "host": mysql_database.host,
            "port": mysql_database.port,
            "database": mysql_database.database,
            "user": mysql_database.user,
            "password": PASSWORD,
        },
    )
    response = await admin.request("POST", path_of_test(source))
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["succeeded"] is False and body["status"] == "error"
    assert body["error"]["code"] == "bad_credentials"
    assert body["server_version"] is None and body["latency_ms"] is None
    assert "Traceback" not in body["error"]["message"]
    assert (await admin.request("GET", f"/data-sources/{source['id']}")).json()["status"] == "error"

    events = await events_about(servers, {source["id"]}, 2)
    (event,) = [e for e in events if e["type"] == "data_source.tested"]
    assert event["data"]["succeeded"] is False
    assert event["data"]["error_code"] == "bad_credentials" and event["data"]["error"]
    assert all(PASSWORD not in r.text for r in admin.responses)
    assert PASSWORD not in json.dumps(events)
    assert all(PASSWORD not in f"{r.getMessage()} {r.__dict__}" for r in caplog.records)


async def test_a_fixed_password_makes_it_active_again(
    datasource: DatasourceService, tenant: uuid.UUID, mysql_database: MysqlDatabase
) -> None:
    admin = datasource.client(Actor(tenant, ADMIN))
    source = await admin.create_source(
        type="mysql",
        connection_config={
            "host": mysql_database.host,
            "port": mysql_database.port,
            "database": mysql_database.database,
            "user": mysql_database.user,
            "password": "wrong",
        },
    )
    assert (await admin.request("POST", path_of_test(source))).json()["status"] == "error"
    fixed = {"connection_config": {"password": mysql_database.password}}
    assert (await admin.request("PATCH", f"/data-sources/{source['id']}", json=fixed)).is_success
    body = (await admin.request("POST", path_of_test(source))).json()
    assert body["succeeded"] is True and body["status"] == "active"
    assert body["server_version"].split()[0] in ("MariaDB", "MySQL")


@pytest.mark.parametrize(
    ("changes", "code"),
    [
        ({"user": f"nobody_{uuid.uuid4().hex[:8]}"}, "bad_credentials"),
        ({"database": f"nowhere_{uuid.uuid4().hex[:8]}"}, "unknown_database"),
        ({"port": free_port()}, "unreachable"),
        ({"host": "169.254.169.254"}, "egress_refused"),  # cloud metadata: always refused
    ],
)
async def test_each_failure_has_its_code(
    datasource: DatasourceService,
    tenant: uuid.UUID,
    database: str,
    changes: dict[str, Any],
    code: str,
) -> None:
    admin = datasource.client(Actor(tenant, ADMIN))
    config = {**postgresql_config(database), **changes}
    source = await admin.create_source(connection_config=config)
    response = await admin.request("POST", path_of_test(source))
    assert response.status_code == 200, response.text
    assert response.json()["error"]["code"] == code
    assert response.json()["status"] == "error"


async def test_a_refused_address_gets_no_connection_attempt(
    datasource: DatasourceService, tenant: uuid.UUID
) -> None:
    """The test service lists one loopback port as a platform server: a source there is refused
    before any packet (the listener on that port never sees a connection)."""
    admin = datasource.client(Actor(tenant, ADMIN))
    async with Listener(datasource.platform_port) as listener:
        source = await admin.create_source(
            connection_config={
                "host": "127.0.0.1",
                "port": listener.port,
                "database": "d",
                "user": "u",
                "password": PASSWORD,
            }
        )
        body = (await admin.request("POST", path_of_test(source))).json()
        assert body["error"]["code"] == "egress_refused"
        assert "platform" in body["error"]["message"]
        assert listener.connections == 0


@pytest.mark.parametrize("kind", ["postgresql", "mysql", "clickhouse"])
async def test_a_server_that_never_answers_is_a_timeout(
    datasource: DatasourceService, tenant: uuid.UUID, kind: str
) -> None:
    admin = datasource.client(Actor(tenant, ADMIN))
    async with Listener(free_port(), silent=True) as listener:
        source = await admin.create_source(
            type=kind,
            connection_config={
                "host": "127.0.0.1",
                "port": listener.port,
                "database": "d",
                "user": "u",
                "password": PASSWORD,
                "connect_timeout_s": 1,
            },
        )
        started = time.monotonic()
        body = (await admin.request("POST", path_of_test(source))).json()
        assert body["error"]["code"] == "timeout", body
        assert time.monotonic() - started < 1 + GRACE_S + 2
        assert listener.connections >= 1


async def test_testing_needs_update_or_execute_rights(
    datasource: DatasourceService, tenant: uuid.UUID, database: str
) -> None:
    admin = datasource.client(Actor(tenant, ADMIN))
    source = await admin.create_source(connection_config=postgresql_config(database))
    viewer = datasource.client(Actor(tenant, VIEWER))  # read only
    response = await viewer.request("POST", path_of_test(source))
    assert response.status_code == 403 and response.json()["error"]["code"] == "forbidden"
    shown = (await admin.request("GET", f"/data-sources/{source['id']}")).json()
    assert shown["last_tested_at"] is None  # a refused caller tested nothing
    editor = datasource.client(Actor(tenant, EDITOR))  # read and execute
    assert (await editor.request("POST", path_of_test(source))).json()["succeeded"] is True
    updater = datasource.client(Actor(tenant, [permission("data_source", "update")]))
    assert (await updater.request("POST", path_of_test(source))).json()["succeeded"] is True
    unseen = Actor(tenant, [permission("data_source", "update", {"ids": [str(uuid.uuid4())]})])
    assert (
        await datasource.client(unseen).request("POST", path_of_test(source))
    ).status_code == 404


async def test_another_tenants_source_is_not_found(
    datasource: DatasourceService, tenant: uuid.UUID, database: str
) -> None:
    source = await datasource.client(Actor(tenant, ADMIN)).create_source(
        connection_config=postgresql_config(database)
    )
    stranger = datasource.client(Actor(uuid.uuid4(), ADMIN))
    response = await stranger.request("POST", path_of_test(source))
    assert response.status_code == 404 and response.json()["error"]["code"] == "not_found"
    missing = await stranger.request("POST", f"/data-sources/{uuid.uuid4()}/test")
    assert missing.status_code == 404


@pytest.mark.parametrize("source_server", ["clickhouse", "mysql"], indirect=True)
async def test_each_kind_answers_its_version(
    datasource: DatasourceService, tenant: uuid.UUID, source: Source
) -> None:
    admin = datasource.client(Actor(tenant, ADMIN))
    created = await admin.create_source(
        type=source.kind, connection_config=source.config.fingerprint_fields()
    )
    body = (await admin.request("POST", path_of_test(created))).json()
    assert body["succeeded"] is True, body
    flavour = {"clickhouse": ("ClickHouse",), "mysql": ("MariaDB", "MySQL")}[source.kind]
    assert body["server_version"].split()[0] in flavour
    assert body["status"] == "active"
