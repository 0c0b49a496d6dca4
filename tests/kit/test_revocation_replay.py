"""A replica started after a logout is not ready until its revocation cache has read identity's
events up to where they ended when it started: its first ready request refuses the ended session's
token. Against a real broker, with a service app as the kit builds every one (``auth=True``)."""

from __future__ import annotations

from typing import Any

import httpx
from aiokafka import AIOKafkaProducer
from fastapi import APIRouter
from lookout_contracts import make_event
from lookout_contracts.events.identity import UserLoggedOutV1
from lookout_kit.app import create_service_app
from lookout_kit.dependencies import CallerDep
from lookout_kit.settings import AuthSettings, ServiceSettings
from lookout_testing.servers import Servers
from lookout_testing.topics import unique_topic
from lookout_testing.waiting import wait_until
from pydantic_settings import SettingsConfigDict

from .signing import Actor, SigningKey, served_jwks

# identity's history before the replica starts: enough that reading it takes a moment.
EARLIER_EVENTS = 2_000


class ReplicaSettings(AuthSettings, ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="LOOKOUT_KITREPLICA_", extra="ignore", frozen=True)

    service_name: str = "kitreplica"


router = APIRouter()


@router.get("/whoami")
async def whoami(caller: CallerDep) -> dict[str, Any]:
    return {"session_id": caller.session_id}


def logged_out(actor: Actor) -> bytes:
    return make_event(
        "user.logged_out",
        tenant_id=actor.tenant_id,
        subject_id=actor.user_id,
        session_id=actor.session_id,
        data=UserLoggedOutV1(reason="logout"),
    ).to_json()


async def test_a_replica_started_after_a_logout_refuses_that_session_when_first_ready(
    servers: Servers,
) -> None:
    identity_topic = unique_topic("identity")
    leaver = Actor()
    producer = AIOKafkaProducer(bootstrap_servers=servers.kafka, enable_idempotence=False)
    await producer.start()
    try:
        for _ in range(EARLIER_EVENTS):
            other = Actor(tenant_id=leaver.tenant_id)
            await producer.send(identity_topic, logged_out(other), key=str(other.user_id).encode())
        # In the same record batch as earlier events of its partition: the log's end is past the
        # first offset of its last batch (all that ListOffsets tells of it here).
        await producer.send(identity_topic, logged_out(leaver), key=str(leaver.user_id).encode())
        await producer.flush()
    finally:
        await producer.stop()

    key = SigningKey()
    readiness: list[httpx.Response] = []
    async with served_jwks(key) as jwks_url:
        settings = ReplicaSettings(
            kafka_bootstrap_servers=servers.kafka,
            identity_jwks_url=jwks_url,
            identity_events_topic=identity_topic,
        )
        app = create_service_app(
            settings, service_package="lookout_kit", title="replica", routers=[router], auth=True
        )
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://replica") as http:

                async def ready() -> bool:
                    readiness.append(await http.get("/readyz"))
                    return readiness[-1].status_code == 200

                await wait_until(
                    ready, timeout=30, interval=0.01, message="the replica to be ready"
                )
                first = await http.get(
                    "/whoami", headers={"Authorization": f"Bearer {key.access_token(leaver)}"}
                )
                assert first.status_code == 401, first.text
                assert first.json()["error"]["code"] == "invalid_token"
                # Another session of the same user passes: the refusal is the logout's.
                stayer = Actor(tenant_id=leaver.tenant_id, user_id=leaver.user_id)
                other = await http.get(
                    "/whoami", headers={"Authorization": f"Bearer {key.access_token(stayer)}"}
                )
                assert other.status_code == 200, other.text

    behind = [
        response.json()["error"]["details"] for response in readiness if response.status_code == 503
    ]
    # (Other checks may fail meanwhile too, e.g. the broker's while the replica's client connects.)
    assert any(details.get("revocations") == "RevocationsBehind" for details in behind), behind
