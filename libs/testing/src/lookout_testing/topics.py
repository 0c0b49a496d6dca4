"""Kafka helpers for tests: unique topic names and a capture that reads what a topic holds."""

from __future__ import annotations

import asyncio
import json
import uuid
from dataclasses import dataclass, field
from typing import Any

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition

from lookout_testing.waiting import wait_until


def unique_topic(prefix: str = "test") -> str:
    return f"{prefix}.{uuid.uuid4().hex[:12]}.events"


@dataclass
class TopicCapture:
    """Reads every record of one topic from the beginning, without a consumer group."""

    bootstrap_servers: str
    topic: str
    records: list[ConsumerRecord[bytes, bytes]] = field(default_factory=list)
    _consumer: AIOKafkaConsumer | None = None

    async def __aenter__(self) -> TopicCapture:
        self._consumer = AIOKafkaConsumer(
            bootstrap_servers=self.bootstrap_servers,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            request_timeout_ms=5_000,
        )
        await self._consumer.start()
        return self

    async def __aexit__(self, *_exc: object) -> None:
        if self._consumer is not None:
            await self._consumer.stop()

    async def _assign(self) -> bool:
        assert self._consumer is not None
        if self._consumer.assignment():
            return True
        partitions = await self._consumer._client.fetch_all_metadata()
        ids = partitions.partitions_for_topic(self.topic)
        if not ids:
            return False
        self._consumer.assign([TopicPartition(self.topic, p) for p in sorted(ids)])
        await self._consumer.seek_to_beginning()
        return True

    async def poll(self) -> int:
        """Read what is there now; return how many records were captured so far."""
        assert self._consumer is not None
        if not await self._assign():
            return len(self.records)
        batches = await self._consumer.getmany(timeout_ms=100, max_records=50_000)
        for records in batches.values():
            self.records.extend(records)
        return len(self.records)

    async def wait_for(
        self, count: int, *, timeout: float = 20.0
    ) -> list[ConsumerRecord[bytes, bytes]]:
        async def enough() -> bool:
            return await self.poll() >= count

        await wait_until(
            enough, timeout=timeout, interval=0.01, message=f"{count} records on {self.topic}"
        )
        return self.records

    async def settle(self, quiet_s: float = 0.5) -> list[ConsumerRecord[bytes, bytes]]:
        """Read until nothing new arrives for ``quiet_s`` (to prove no extra records come)."""
        last = -1
        while last != len(self.records):
            last = len(self.records)
            await asyncio.sleep(quiet_s)
            await self.poll()
        return self.records

    def envelopes(self) -> list[dict[str, Any]]:
        return [json.loads(record.value) for record in self.records if record.value is not None]
