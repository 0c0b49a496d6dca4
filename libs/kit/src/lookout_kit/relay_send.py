"""Sending one relay batch to Kafka so that no row reaches the topic before an earlier row of its key.

The rows are grouped by the partition their key maps to (the producer's default partitioner: the
placement ``send`` would choose) and each partition's rows go as explicit record batches, in ``id``
order, one at a time: the broker appends a record batch whole or not at all, and the next batch of a
partition is handed over only after the previous one was acknowledged. So when a row fails, no later
row of its partition -- hence of its key -- is sent or marked published: they wait for the next
round, behind it. Partitions are sent concurrently.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field

import asyncpg
from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError, MessageSizeTooLargeError
from aiokafka.partitioner import DefaultPartitioner
from lookout_contracts.envelope import CONTENT_TYPE

_PARTITIONER = DefaultPartitioner()


@dataclass
class Sent:
    """Rows Kafka acknowledged (each partition's leading run, in ``id`` order) and the errors that
    stopped the rest."""

    acknowledged: list[asyncpg.Record] = field(default_factory=list)
    errors: list[BaseException] = field(default_factory=list)


async def send_in_key_order(producer: AIOKafkaProducer, rows: Sequence[asyncpg.Record]) -> Sent:
    """Send ``rows`` (in ``id`` order); see the module doc for what a failure leaves unsent."""
    by_partition: dict[tuple[str, int], list[asyncpg.Record]] = {}
    partitions_of: dict[str, list[int]] = {}
    for row in rows:
        topic = row["topic"]
        if topic not in partitions_of:
            partitions_of[topic] = sorted(await producer.partitions_for(topic))
        partitions = partitions_of[topic]
        partition = _PARTITIONER(row["message_key"], partitions, partitions)
        by_partition.setdefault((topic, partition), []).append(row)
    outcomes = await asyncio.gather(
        *(
            _send_partition(producer, topic, partition, partition_rows)
            for (topic, partition), partition_rows in by_partition.items()
        )
    )
    sent = Sent()
    for acknowledged, error in outcomes:
        sent.acknowledged.extend(acknowledged)
        if error is not None:
            sent.errors.append(error)
    sent.acknowledged.sort(key=lambda row: row["id"])
    return sent


async def _send_partition(
    producer: AIOKafkaProducer, topic: str, partition: int, rows: list[asyncpg.Record]
) -> tuple[list[asyncpg.Record], KafkaError | None]:
    acknowledged: list[asyncpg.Record] = []
    while len(acknowledged) < len(rows):
        pending = rows[len(acknowledged) :]
        batch = producer.create_batch()
        taken = 0
        for row in pending:
            appended = batch.append(
                timestamp=None,
                key=row["message_key"],
                value=row["payload"],
                headers=headers(row["traceparent"]),
            )
            if appended is None:
                break
            taken += 1
        batch.close()
        if taken == 0:
            return acknowledged, MessageSizeTooLargeError(f"outbox row {pending[0]['id']}")
        try:
            future = await producer.send_batch(batch, topic, partition=partition)
            await future
        except KafkaError as error:
            return acknowledged, error
        acknowledged.extend(pending[:taken])
    return acknowledged, None


def headers(traceparent: str | None) -> list[tuple[str, bytes]]:
    """The Kafka headers of an outbox row: its content type and, when known, its trace context."""
    found = [("content-type", CONTENT_TYPE.encode())]
    if traceparent:
        found.append(("traceparent", traceparent.encode()))
    return found
