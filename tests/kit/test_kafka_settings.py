"""Kafka's production knobs are settings, not constants (issue 18): the replication factor of the
topics a service creates, and idempotent producers (on with Kafka in production; the local broker,
Tansu, refuses them, so they stay off by default)."""

from __future__ import annotations

import uuid

import httpx
from aiokafka.admin import AIOKafkaAdminClient
from lookout_contracts.topics import events_topic
from lookout_kit.app import create_service_app
from lookout_kit.kafka import ensure_topics
from lookout_kit.settings import ServiceSettings
from lookout_testing.servers import Servers
from lookout_testing.waiting import wait_until


async def replicas_of(bootstrap_servers: str, topic: str) -> list[int]:
    """The replica count of each of ``topic``'s partitions, as the broker describes it."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers)
    await admin.start()
    try:
        (described,) = await admin.describe_topics([topic])
    finally:
        await admin.close()
    assert described["error_code"] == 0, described
    return [len(partition["replicas"]) for partition in described["partitions"]]


async def test_topics_are_created_with_the_replication_factor_asked(servers: Servers) -> None:
    topic = f"rf-{uuid.uuid4().hex[:10]}"
    await ensure_topics(servers.kafka, [topic], partitions=2, replication_factor=3)
    assert await replicas_of(servers.kafka, topic) == [3, 3]


async def test_a_service_creates_its_topics_with_its_settings(
    database: str, servers: Servers
) -> None:
    name = f"kitrf{uuid.uuid4().hex[:8]}"
    settings = ServiceSettings(
        service_name=name,
        database_url=database,
        kafka_bootstrap_servers=servers.kafka,
        kafka_topic_partitions=2,
        kafka_replication_factor=3,
        kafka_idempotent_producer=True,
        outbox_relay_enabled=True,
    )
    app = create_service_app(settings, service_package="lookout_kit", title="t")
    async with app.router.lifespan_context(app):
        runtime = app.state.runtime
        # Every producer of the service is idempotent: the broker's and the outbox relay's.
        assert runtime.broker._connection_kwargs["enable_idempotence"] is True
        assert runtime.relay is not None
        producer = runtime.relay._producer_factory(servers.kafka, 1_000)
        assert producer._txn_manager is not None  # aiokafka makes one for idempotence only
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:

            async def topic_made() -> bool:
                admin = AIOKafkaAdminClient(bootstrap_servers=servers.kafka)
                await admin.start()
                try:
                    return events_topic(name) in await admin.list_topics()
                finally:
                    await admin.close()

            await wait_until(topic_made, timeout=20, message="the service's events topic")
            assert (await client.get("/livez")).status_code == 200
    assert await replicas_of(servers.kafka, events_topic(name)) == [3, 3]


def test_local_defaults_suit_the_local_broker() -> None:
    settings = ServiceSettings()
    assert settings.kafka_replication_factor == 1
    assert settings.kafka_idempotent_producer is False
