"""A published event, read back with confluent-kafka (librdkafka: a client we did not write)."""

from __future__ import annotations

import asyncio
import json
import re
import uuid
from collections.abc import AsyncIterator

import asyncpg
import pytest
from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, Message, TopicPartition
from lookout_kit.database import create_pool
from lookout_kit.outbox import publish_in_tx
from lookout_kit.telemetry import configure_tracing
from lookout_testing.servers import Servers
from opentelemetry import trace

from .factories import make_relay, step_event

ENVELOPE_KEYS = {
    "id",
    "type",
    "version",
    "source",
    "time",
    "tenant_id",
    "actor_id",
    "session_id",
    "subject",
    "data",
}


@pytest.fixture
async def pool(outbox_database: str) -> AsyncIterator[asyncpg.Pool]:
    pool = await create_pool(outbox_database)
    yield pool
    await pool.close()


def read_one(bootstrap_servers: str, topic: str, timeout_s: float = 20.0) -> Message:
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap_servers,
            "group.id": f"foreign-{uuid.uuid4().hex[:8]}",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
        }
    )
    try:
        # Assign partitions directly: the point is librdkafka's decoding of our records.
        metadata = consumer.list_topics(topic, timeout=10)
        partitions = sorted(metadata.topics[topic].partitions)
        consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in partitions])
        remaining = timeout_s
        while remaining > 0:
            message = consumer.poll(0.5)
            remaining -= 0.5
            if message is None:
                continue
            error = message.error()
            if error is not None and error.code() in (
                KafkaError._PARTITION_EOF,
                KafkaError.UNKNOWN_TOPIC_OR_PART,
            ):
                continue
            assert error is None, error
            return message
        raise AssertionError(f"nothing read from {topic} in {timeout_s}s")
    finally:
        consumer.close()


async def test_envelope_key_and_headers_as_documented(
    pool: asyncpg.Pool, outbox_database: str, servers: Servers, topic: str
) -> None:
    configure_tracing("kittest", None)
    event = step_event("aggregate-42", 1)
    with trace.get_tracer("test").start_as_current_span("a request"):
        async with pool.acquire() as conn, conn.transaction():
            await publish_in_tx(conn, event, topic=topic)
    relay = make_relay(outbox_database, pool, servers.kafka)
    try:
        assert (await relay.publish_batch()).published == 1
    finally:
        await relay.stop()

    message = await asyncio.to_thread(read_one, servers.kafka, topic)
    assert message.key() == b"aggregate-42"
    headers = {name: value for name, value in (message.headers() or [])}
    assert headers["content-type"] == b"application/json"
    assert re.fullmatch(rb"00-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}", headers["traceparent"])
    envelope = json.loads(message.value())
    assert set(envelope) == ENVELOPE_KEYS
    assert envelope["id"] == str(event.id)
    assert envelope["type"] == "widget.stepped"
    assert envelope["version"] == 1
    assert envelope["source"] == "kittest"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", envelope["time"])
    assert envelope["tenant_id"] == str(event.tenant_id)
    assert envelope["actor_id"] is None and envelope["session_id"] is None
    assert envelope["subject"] == {"type": "widget", "id": "aggregate-42"}
    assert envelope["data"] == {"sequence": 1}
