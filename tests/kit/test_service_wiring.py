"""What the kit wires into every service: auth from ``AuthSettings`` (``auth=True``), the typed
dependencies (caller, pool, events pool, runtime), and the runtime in the broker's context for
subscribers; against real PostgreSQL and Kafka, with a JWKS served over HTTP by the test."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaProducer
from fastapi import APIRouter, FastAPI
from faststream.kafka import KafkaRouter
from lookout_contracts import make_event
from lookout_contracts.events.identity import UserDeactivatedV1
from lookout_kit.app import Runtime, create_service_app
from lookout_kit.dependencies import (
    CallerDep,
    EventsPoolDep,
    PoolDep,
    RuntimeContext,
    RuntimeDep,
    ServiceCallerDep,
)
from lookout_kit.settings import AuthSettings, ServiceSettings
from lookout_testing.servers import Servers
from lookout_testing.topics import unique_topic
from lookout_testing.waiting import wait_until
from pydantic import ValidationError
from pydantic_settings import SettingsConfigDict

from .signing import Actor, SigningKey, served_jwks


class WiringSettings(AuthSettings, ServiceSettings):
    """A service's settings as every service writes them: the kit's knobs plus auth's."""

    model_config = SettingsConfigDict(env_prefix="LOOKOUT_KITWIRING_", extra="ignore", frozen=True)

    service_name: str = "kitwiring"


router = APIRouter()


@router.get("/whoami")
async def whoami(
    caller: CallerDep, pool: PoolDep, events_pool: EventsPoolDep, runtime: RuntimeDep
) -> dict[str, Any]:
    return {
        "user_id": str(caller.user_id),
        "tenant_id": str(caller.tenant_id),
        "database": await pool.fetchval("SELECT current_database()"),
        # The two pools differ in exactly this: the events pool does not wait for the WAL flush.
        "synchronous_commit": await pool.fetchval("SHOW synchronous_commit"),
        "events_synchronous_commit": await events_pool.fetchval("SHOW synchronous_commit"),
        "service": runtime.settings.service_name,
    }


@router.get("/calling-service")
async def calling_service(caller: ServiceCallerDep) -> dict[str, str]:
    return {"service": caller.service}


@dataclass
class Received:
    """What the test's subscriber saw: the runtime from the context and what it read with it."""

    runtimes: list[Runtime] = field(default_factory=list)
    databases: list[str] = field(default_factory=list)
    bodies: list[dict[str, Any]] = field(default_factory=list)


def subscribers(topic: str, received: Received) -> KafkaRouter:
    """A service's subscribers.py in small: a FastStream router whose handler takes the runtime."""
    kafka_router = KafkaRouter()

    @kafka_router.subscriber(topic, auto_offset_reset="earliest", title="kitwiring-pings")
    async def on_ping(body: dict[str, Any], runtime: RuntimeContext) -> None:
        async with runtime.require_pool().acquire() as conn:
            received.databases.append(await conn.fetchval("SELECT current_database()"))
        received.runtimes.append(runtime)
        received.bodies.append(body)

    return kafka_router


@dataclass
class Service:
    app: FastAPI
    http: httpx.AsyncClient
    key: SigningKey
    settings: WiringSettings
    pings_topic: str
    received: Received

    def headers(self, token: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {token}"}


@pytest.fixture
async def service(database: str, servers: Servers) -> AsyncIterator[Service]:
    key = SigningKey()
    received = Received()
    pings_topic = unique_topic("kitwiring")
    async with served_jwks(key) as jwks_url:
        settings = WiringSettings(
            database_url=database,
            kafka_bootstrap_servers=servers.kafka,
            identity_jwks_url=jwks_url,
            identity_events_topic=unique_topic("identity"),
            outbox_poll_interval_s=0.2,
        )
        app = create_service_app(
            settings,
            service_package="lookout_kit",
            title="kit wiring test",
            routers=[router],
            subscribers=[subscribers(pings_topic, received)],
            auth=True,
        )
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
            async with httpx.AsyncClient(transport=transport, base_url="http://kit") as http:

                async def ready() -> bool:
                    return (await http.get("/readyz")).status_code == 200

                await wait_until(ready, timeout=30, message="the service to be ready")
                yield Service(app, http, key, settings, pings_topic, received)


async def publish(servers: Servers, topic: str, value: bytes, key: bytes | None = None) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=servers.kafka, enable_idempotence=False)
    await producer.start()
    try:
        await producer.send_and_wait(topic, value, key=key)
    finally:
        await producer.stop()


async def test_handler_gets_caller_pools_and_runtime(service: Service) -> None:
    actor = Actor()
    response = await service.http.get(
        "/whoami", headers=service.headers(service.key.access_token(actor))
    )
    assert response.status_code == 200, response.text
    assert response.json() == {
        "user_id": str(actor.user_id),
        "tenant_id": str(actor.tenant_id),
        "database": str(service.settings.database_url).rsplit("/", 1)[-1],
        "synchronous_commit": "on",
        "events_synchronous_commit": "off",
        "service": "kitwiring",
    }


async def test_only_tokens_signed_by_the_served_keys_pass(service: Service) -> None:
    assert (await service.http.get("/whoami")).status_code == 401
    forged = SigningKey().access_token(Actor())
    response = await service.http.get("/whoami", headers=service.headers(forged))
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "invalid_token"


async def test_service_token_gives_the_calling_service(service: Service) -> None:
    token = service.key.service_token("alert")
    response = await service.http.get("/calling-service", headers=service.headers(token))
    assert response.status_code == 200, response.text
    assert response.json() == {"service": "alert"}
    # An access token is not a service token.
    user_token = service.key.access_token(Actor())
    refused = await service.http.get("/calling-service", headers=service.headers(user_token))
    assert refused.status_code == 401


async def test_identity_events_revoke_tokens(service: Service, servers: Servers) -> None:
    leaver, stayer = Actor(), Actor()
    leaver_headers = service.headers(service.key.access_token(leaver))
    assert (await service.http.get("/whoami", headers=leaver_headers)).status_code == 200
    event = make_event(
        "user.deactivated",
        tenant_id=leaver.tenant_id,
        subject_id=leaver.user_id,
        data=UserDeactivatedV1(),
    )
    await publish(servers, service.settings.identity_events_topic, event.to_json(), event.key)

    async def refused() -> bool:
        return (await service.http.get("/whoami", headers=leaver_headers)).status_code == 401

    await wait_until(refused, timeout=10, message="the deactivated user's token to be refused")
    stayer_headers = service.headers(service.key.access_token(stayer))
    assert (await service.http.get("/whoami", headers=stayer_headers)).status_code == 200


async def test_subscriber_gets_the_runtime_from_the_broker_context(
    service: Service, servers: Servers
) -> None:
    await publish(servers, service.pings_topic, b'{"ping": 1}')

    async def delivered() -> bool:
        return bool(service.received.bodies)

    await wait_until(delivered, timeout=20, message="the subscriber to handle the ping")
    assert service.received.bodies == [{"ping": 1}]
    assert service.received.runtimes[0] is service.app.state.runtime
    assert service.received.databases == [str(service.settings.database_url).rsplit("/", 1)[-1]]


def test_auth_needs_settings_with_auth_settings() -> None:
    with pytest.raises(TypeError, match="AuthSettings"):
        create_service_app(ServiceSettings(), service_package="lookout_kit", title="t", auth=True)


def test_auth_settings_are_validated_and_the_group_is_the_service_name() -> None:
    assert WiringSettings().identity_consumer_group == "kitwiring"
    assert WiringSettings(service_name="other").identity_consumer_group == "other"
    assert WiringSettings(identity_consumer_group="mine").identity_consumer_group == "mine"
    for bad in (
        {"identity_jwks_url": "not a url"},
        {"identity_events_topic": "spaces are not allowed"},
        {"identity_consumer_group": "no/slash"},
        {"jwt_issuer": ""},
        {"revocation_retention_s": 1},
    ):
        with pytest.raises(ValidationError):
            WiringSettings(**bad)
    assert WiringSettings().identity_events_topic == "identity.events"
