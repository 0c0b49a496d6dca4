"""Kafka wiring: the service's FastStream broker (subscribers, consumer groups, AsyncAPI docs)."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError
from faststream.kafka import KafkaBroker
from faststream.kafka.opentelemetry import KafkaTelemetryMiddleware
from faststream.specification import AsyncAPI

from lookout_kit.retry import Backoff, RetryStopped, retry

logger = logging.getLogger("lookout.kafka")

CONNECT_BACKOFF = Backoff(initial_s=0.2, max_s=5.0)


def create_broker(bootstrap_servers: str, *, idempotent: bool = False) -> KafkaBroker:
    """A broker whose subscribers continue the producer's trace (``traceparent`` header).
    ``idempotent``: its producer's retries write nothing twice (the local broker, Tansu, has no
    idempotent producer: ``kafka_idempotent_producer`` is off by default, on in production).

    The client's default request timeout (40 s) stays: a JoinGroup request legitimately waits for the
    group's rebalance, which takes longer than a short timeout allows."""
    return KafkaBroker(
        bootstrap_servers,
        middlewares=[KafkaTelemetryMiddleware()],
        enable_idempotence=idempotent,
        logger=logging.getLogger("lookout.faststream"),
        log_level=logging.DEBUG,  # "Received"/"Processed" per message: debug, not info
    )


async def start_with_retry(
    broker: KafkaBroker,
    stopping: asyncio.Event,
    *,
    bootstrap_servers: str,
    topics: list[str],
    partitions: int,
    replication_factor: int = 1,
) -> None:
    """Create the topics, then start the broker, retrying with backoff while Kafka is unreachable
    (``/readyz`` says so meanwhile). Returns when connected, or when ``stopping`` is set."""

    async def connect() -> None:
        await ensure_topics(
            bootstrap_servers, topics, partitions=partitions, replication_factor=replication_factor
        )
        await broker.start()

    async def disconnect(_error: BaseException) -> None:
        await broker.stop()  # a half-started broker holds clients and tasks

    try:
        await retry(
            connect,
            what="connecting to kafka",
            backoff=CONNECT_BACKOFF,
            stopping=stopping,
            on_failure=disconnect,
            log=logger,
        )
    except RetryStopped:
        return
    logger.info("kafka broker connected")


def subscribed_topics(broker: KafkaBroker) -> list[str]:
    """The plain topic names the broker's subscribers read (pattern subscribers excluded)."""
    names: list[str] = []
    for subscriber in broker.subscribers:
        for topic in getattr(subscriber, "topics", None) or []:
            name = getattr(topic, "name", topic)
            if isinstance(name, str) and name not in names:
                names.append(name)
    return names


async def ensure_topics(
    bootstrap_servers: str,
    topics: list[str],
    *,
    partitions: int,
    replication_factor: int = 1,
    timeout_s: float = 10.0,
) -> None:
    """Create the topics that do not exist yet, so consumers get partitions from their first poll
    (a group subscribed to a missing topic would wait for a metadata refresh). An existing topic
    is left as it is (its partitions and replicas are the operator's)."""
    if not topics:
        return
    admin = AIOKafkaAdminClient(
        bootstrap_servers=bootstrap_servers, request_timeout_ms=int(timeout_s * 1000)
    )
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [
            NewTopic(name, num_partitions=partitions, replication_factor=replication_factor)
            for name in topics
            if name not in existing
        ]
        if missing:
            try:
                await admin.create_topics(missing)
            except TopicAlreadyExistsError:
                pass  # another replica made it first
            logger.info("created topics", extra={"topics": [t.name for t in missing]})
    finally:
        await admin.close()


def asyncapi_document(broker: KafkaBroker, *, title: str, version: str) -> Any:
    return (
        AsyncAPI(broker, title=title, version=version, schema_version="3.0.0")
        .to_specification()
        .to_jsonable()
    )
