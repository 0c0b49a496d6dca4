"""Identity in-process against the real PostgreSQL (a database per test) and broker (a topic per
test), driven over HTTP through httpx's ASGI transport."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import pytest
from fastapi import FastAPI
from lookout_identity.app import create_app
from lookout_identity.components import Components
from lookout_identity.settings import Settings
from lookout_testing.servers import Servers
from pydantic import SecretStr


@dataclass
class Identity:
    app: FastAPI
    client: httpx.AsyncClient
    settings: Settings
    topic: str

    @property
    def components(self) -> Components:
        components = self.app.state.components[Components]
        assert isinstance(components, Components)
        return components


def identity_settings(database: str, servers: Servers, topic: str, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "database_url": database,
        "kafka_bootstrap_servers": servers.kafka,
        "events_topic": topic,
        # Cheap hashing keeps the suite fast; the benchmark measures the real parameters.
        "argon2_time_cost": 1,
        "argon2_memory_cost_kib": 1024,
        "argon2_parallelism": 1,
        "service_clients": {"alert": SecretStr("alert-secret-for-tests")},
        "outbox_poll_interval_s": 0.2,
    }
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]


@pytest.fixture
async def identity(database: str, servers: Servers, topic: str) -> AsyncIterator[Identity]:
    settings = identity_settings(database, servers, topic)
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, client=("203.0.113.7", 40000))
        async with httpx.AsyncClient(transport=transport, base_url="http://identity") as client:
            yield Identity(app=app, client=client, settings=settings, topic=topic)
