"""Test support for the alert service: callers, bodies, a data source whose rows the tests move
(a ``metrics`` table in a PostgreSQL database of the test's own), and local receivers — an HTTP
server that checks each webhook's signature and an SMTP server (aiosmtpd)."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from email import message_from_bytes
from email.message import Message
from typing import Any

import asyncpg
import httpx
from aiohttp import web
from aiosmtpd.controller import Controller
from lookout_testing.broker import free_port

# Re-exported: this service's tests take their tokens from here.
from lookout_testing.tokens import AUDIENCE as AUDIENCE
from lookout_testing.tokens import ISSUER as ISSUER
from lookout_testing.tokens import Actor as Actor
from lookout_testing.tokens import SigningKeys as SigningKeys


def permission(
    resource: str, action: str, conditions: dict[str, Any] | None = None
) -> dict[str, Any]:
    entry: dict[str, Any] = {"resource": resource, "action": action}
    if conditions is not None:
        entry["conditions"] = conditions
    return entry


ADMIN = [
    permission("alert", "admin"),
    permission("data_source", "admin"),
    permission("saved_query", "admin"),
]
EDITOR = [
    permission("saved_query", "read"),
    permission("alert", "read"),
    permission("alert", "create"),
    permission("alert", "update", {"owner_only": True}),
    permission("alert", "delete", {"owner_only": True}),
]
VIEWER = [permission("saved_query", "read"), permission("alert", "read")]
SECRET = "whsec-" + uuid.uuid4().hex  # what no response, event or log line may ever show


class Client:
    """An API (alert's or datasource's) as one actor sees it."""

    def __init__(
        self,
        http: httpx.AsyncClient,
        token: str,
        actor: Actor,
        default_query: Callable[[], Awaitable[str]] | None = None,
    ) -> None:
        self.http = http
        self.actor = actor
        self.headers = {"Authorization": f"Bearer {token}"}
        self.default_query = default_query

    async def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        headers = {**self.headers, **kwargs.pop("headers", {})}
        return await self.http.request(method, path, headers=headers, **kwargs)

    async def create_alert(self, **overrides: Any) -> dict[str, Any]:
        """An alert on ``query_id``, by default a saved query of the actor's tenant."""
        if "query_id" not in overrides and self.default_query is not None:
            overrides["query_id"] = await self.default_query()
        response = await self.request("POST", "/alerts", json=an_alert(**overrides))
        assert response.status_code == 201, response.text
        body: dict[str, Any] = response.json()
        return body

    async def evaluate(self, alert_id: str) -> dict[str, Any]:
        response = await self.request("POST", f"/alerts/{alert_id}/evaluate")
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    async def history(self, alert_id: str, **params: Any) -> dict[str, Any]:
        response = await self.request("GET", f"/alerts/{alert_id}/history", params=params)
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body


def an_alert(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": f"errors {uuid.uuid4().hex[:8]}",
        "query_id": str(uuid.uuid4()),
        "parameter_values": {"name": "errors"},
        "condition_config": {
            "value": {"kind": "column", "column": "value"},
            "threshold": {"op": ">", "value": 10},
        },
        "notification_config": {
            "channels": [{"kind": "webhook", "url": "http://127.0.0.1:9/hook", "secret": SECRET}]
        },
        "schedule": {"kind": "interval", "seconds": 60},
    }
    body.update(overrides)
    return body


async def events_of(dsn: str, subject_id: str) -> list[dict[str, Any]]:
    """The events the alert service wrote for one alert, in order (its outbox)."""
    connection = await asyncpg.connect(dsn)
    try:
        rows = await connection.fetch(
            "SELECT payload FROM outbox WHERE message_key = $1 ORDER BY id", subject_id.encode()
        )
    finally:
        await connection.close()
    return [json.loads(row["payload"]) for row in rows]


# -- a data source the tests move -----------------------------------------------------------------

QUERY = "SELECT name, value FROM metrics WHERE name = {{ name }} ORDER BY value DESC"


async def set_metric(dsn: str, name: str, value: int) -> None:
    connection = await asyncpg.connect(dsn)
    try:
        await connection.execute(
            "CREATE TABLE IF NOT EXISTS metrics (name text PRIMARY KEY, value integer NOT NULL)"
        )
        await connection.execute(
            "INSERT INTO metrics VALUES ($1, $2) ON CONFLICT (name) DO UPDATE SET value = $2",
            name,
            value,
        )
    finally:
        await connection.close()


def metrics_source_body(dsn: str) -> dict[str, Any]:
    """A PostgreSQL data source on the database ``dsn`` (trust auth: the password is unused)."""
    return {
        "name": f"metrics {uuid.uuid4().hex[:6]}",
        "type": "postgresql",
        "connection_config": {
            "host": "127.0.0.1",
            "port": 5432,
            "database": dsn.rsplit("/", 1)[1],
            "user": "postgres",
            "password": "unused",
            "ssl_mode": "disable",
        },
    }


def metrics_query_body(name: str, source_id: str) -> dict[str, Any]:
    """``QUERY`` saved on the source ``source_id`` (one parameter: the metric's name)."""
    return {
        "name": name,
        "query_text": QUERY,
        "data_source_id": source_id,
        "parameters": [{"name": "name", "type": "text", "required": True}],
    }


def webhook_alert_body(name: str, query_id: str, url: str) -> dict[str, Any]:
    """An alert on the ``errors`` metric above 10, evaluated every second, to the webhook ``url``
    signed with ``SECRET``."""
    return {
        "name": name,
        "query_id": query_id,
        "parameter_values": {"name": "errors"},
        "condition_config": {
            "value": {"kind": "column", "column": "value"},
            "threshold": {"op": ">", "value": 10},
        },
        "notification_config": {"channels": [{"kind": "webhook", "url": url, "secret": SECRET}]},
        "schedule": {"kind": "interval", "seconds": 1},
    }


async def metrics_query(datasource: Client, dsn: str) -> str:
    """A saved query on ``metrics`` in the database ``dsn`` (one parameter: the metric's name)."""
    await set_metric(dsn, "errors", 0)
    source = await datasource.request("POST", "/data-sources", json=metrics_source_body(dsn))
    assert source.status_code == 201, source.text
    query = await datasource.request(
        "POST",
        "/saved-queries",
        json=metrics_query_body(f"metric {uuid.uuid4().hex[:6]}", source.json()["id"]),
    )
    assert query.status_code == 201, query.text
    return str(query.json()["id"])


async def metrics_query_through_gateway(
    http: httpx.AsyncClient, headers: dict[str, str], database: str
) -> str:
    """The same through the running stack's gateway as ``headers``' caller; ``warnings`` is
    high too, but not what an alert on ``errors`` selects."""
    await set_metric(database, "errors", 0)
    await set_metric(database, "warnings", 99)  # high, but not what the alert's values select
    source = await http.post(
        "/api/datasource/data-sources", headers=headers, json=metrics_source_body(database)
    )
    assert source.status_code == 201, source.text
    query = await http.post(
        "/api/datasource/saved-queries",
        headers=headers,
        json=metrics_query_body("errors by name", source.json()["id"]),
    )
    assert query.status_code == 201, query.text
    return str(query.json()["id"])


# -- receivers ------------------------------------------------------------------------------------


def verified(secret: str, headers: Any, body: bytes) -> bool:
    timestamp = headers.get("X-Lookout-Timestamp", "")
    expected = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return hmac.compare_digest(
        headers.get("X-Lookout-Signature", ""), f"sha256={expected.hexdigest()}"
    )


@dataclass
class WebhookReceiver:
    """An HTTP server of the test's own: records each request's JSON and whether its signature
    verifies under ``secret``; answers ``statuses`` in turn (then 200)."""

    secret: str = SECRET
    port: int = field(default_factory=free_port)
    received: list[dict[str, Any]] = field(default_factory=list)
    verified: list[bool] = field(default_factory=list)
    statuses: list[int] = field(default_factory=list)
    _runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    async def _handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        self.verified.append(verified(self.secret, request.headers, body))
        self.received.append(await request.json())
        status = self.statuses.pop(0) if self.statuses else 200
        return web.Response(status=status)

    async def __aenter__(self) -> WebhookReceiver:
        app = web.Application()
        app.router.add_post("/hook", self._handle)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._runner is not None:
            await self._runner.cleanup()


class _Mailbox:
    def __init__(self) -> None:
        self.messages: list[Message] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append(message_from_bytes(envelope.content))
        return "250 OK"


@dataclass
class SmtpReceiver:
    """A real SMTP server (aiosmtpd) on a free port, keeping what it receives."""

    port: int = field(default_factory=free_port)
    mailbox: _Mailbox = field(default_factory=_Mailbox)
    _controller: Controller | None = None

    @property
    def messages(self) -> list[Message]:
        return self.mailbox.messages

    async def __aenter__(self) -> SmtpReceiver:
        self._controller = Controller(self.mailbox, hostname="127.0.0.1", port=self.port)
        await asyncio.to_thread(self._controller.start)
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._controller is not None:
            await asyncio.to_thread(self._controller.stop)
