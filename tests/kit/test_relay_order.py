"""The relay keeps each key's order when Kafka fails one row of a batch: no later row of that key is
sent or marked published before it, against real PostgreSQL and a real broker.

The failure is injected at the producer: a real ``AIOKafkaProducer`` whose acknowledgement of the
record of one event id fails once (as a produce request that times out would), whichever way the
relay hands records over (``send`` or ``send_batch``)."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections import defaultdict
from typing import Any

import asyncpg
import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaTimeoutError
from lookout_kit.outbox import publish_many_in_tx
from lookout_kit.relay import OutboxRelay, RelayError, make_producer
from lookout_testing.servers import Servers
from lookout_testing.topics import TopicCapture

from .factories import step_event


class _RecordingBatch:
    """A real batch builder that remembers the values appended to it."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.values: list[bytes] = []

    def append(self, **record: Any) -> Any:
        appended = self.inner.append(**record)
        if appended is not None:
            self.values.append(record["value"])
        return appended

    def close(self) -> None:
        self.inner.close()


class AckFailsOnce:
    """Wraps a real producer: the acknowledgement of the record holding ``event_id`` fails once."""

    def __init__(self, producer: AIOKafkaProducer, event_id: uuid.UUID) -> None:
        self._producer = producer
        self._needle = str(event_id).encode()
        self.failures = 0

    def _fails(self, values: list[bytes]) -> bool:
        if self.failures or not any(self._needle in value for value in values):
            return False
        self.failures += 1
        return True

    @staticmethod
    def _failed() -> asyncio.Future[Any]:
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        future.set_exception(KafkaTimeoutError("injected: no acknowledgement"))
        return future

    async def send(self, topic: str, value: bytes, **kwargs: Any) -> asyncio.Future[Any]:
        if self._fails([value]):
            return self._failed()
        return await self._producer.send(topic, value=value, **kwargs)

    def create_batch(self) -> _RecordingBatch:
        return _RecordingBatch(self._producer.create_batch())

    async def send_batch(
        self, batch: _RecordingBatch, topic: str, *, partition: int
    ) -> asyncio.Future[Any]:
        if self._fails(batch.values):
            return self._failed()
        return await self._producer.send_batch(batch.inner, topic, partition=partition)

    def __getattr__(self, name: str) -> Any:  # start, stop, partitions_for, ...
        return getattr(self._producer, name)


async def test_a_failed_row_holds_back_the_later_rows_of_its_key(
    pool: asyncpg.Pool, outbox_database: str, servers: Servers, topic: str
) -> None:
    # Two aggregates interleaved; the first event of "a" is the one Kafka fails.
    events = [
        step_event("a", 1),
        step_event("b", 1),
        step_event("a", 2),
        step_event("b", 2),
        step_event("a", 3),
    ]
    injected: list[AckFailsOnce] = []

    def producer_factory(bootstrap_servers: str, request_timeout_ms: int) -> Any:
        injected.append(
            AckFailsOnce(make_producer(bootstrap_servers, request_timeout_ms), events[0].id)
        )
        return injected[-1]

    relay = OutboxRelay(
        dsn=outbox_database,
        pool=pool,
        bootstrap_servers=servers.kafka,
        producer_factory=producer_factory,
    )
    async with pool.acquire() as conn, conn.transaction():
        await publish_many_in_tx(conn, events, topic=topic)
    try:
        with pytest.raises(RelayError):
            await relay.publish_batch()
        assert injected[0].failures == 1
        published = {
            row["event_id"]
            for row in await pool.fetch(
                "SELECT event_id FROM outbox WHERE published_at IS NOT NULL"
            )
        }
        assert not published & {event.id for event in events if event.subject.id == "a"}

        outcome = await relay.publish_batch()  # the next round: nothing fails
        assert await pool.fetchval("SELECT count(*) FROM outbox WHERE published_at IS NULL") == 0
        assert outcome.published == len(events) - len(published)
        async with TopicCapture(servers.kafka, topic) as capture:
            await capture.wait_for(len(events), timeout=20)
            records = await capture.settle(0.5)
    finally:
        await relay.stop()

    sequences: dict[bytes, list[int]] = defaultdict(list)
    for record in sorted(records, key=lambda record: (record.partition, record.offset)):
        sequences[record.key].append(json.loads(record.value)["data"]["sequence"])
    assert dict(sequences) == {b"a": [1, 2, 3], b"b": [1, 2]}
