"""Dead-letter step: a rejected record goes to ``ingestion.dlq`` with its original key, bytes and
headers, plus why (reason, code) and where it came from (topic, partition, offset)."""

from __future__ import annotations

import asyncio
from typing import Any

from aiokafka import AIOKafkaProducer, ConsumerRecord
from lookout_contracts.headers import (
    DLQ_CODE_HEADER,
    DLQ_ORIGINAL_OFFSET_HEADER,
    DLQ_ORIGINAL_PARTITION_HEADER,
    DLQ_ORIGINAL_TOPIC_HEADER,
    DLQ_REASON_HEADER,
)

from lookout_ingestion.decode import Rejected
from lookout_ingestion.metrics import DEAD_LETTERS

# Header values are bytes on the wire; a reason is short by contract, cut it anyway.
_MAX_REASON_BYTES = 1_000


def dead_letter_headers(
    record: ConsumerRecord[Any, Any], rejected: Rejected
) -> list[tuple[str, bytes]]:
    ours = {
        DLQ_REASON_HEADER,
        DLQ_CODE_HEADER,
        DLQ_ORIGINAL_TOPIC_HEADER,
        DLQ_ORIGINAL_PARTITION_HEADER,
        DLQ_ORIGINAL_OFFSET_HEADER,
    }
    original = [(name, value) for name, value in (record.headers or ()) if name not in ours]
    return [
        *original,
        (DLQ_REASON_HEADER, rejected.reason.encode()[:_MAX_REASON_BYTES]),
        (DLQ_CODE_HEADER, rejected.code.encode()),
        (DLQ_ORIGINAL_TOPIC_HEADER, record.topic.encode()),
        (DLQ_ORIGINAL_PARTITION_HEADER, str(record.partition).encode()),
        (DLQ_ORIGINAL_OFFSET_HEADER, str(record.offset).encode()),
    ]


class DeadLetters:
    """Sends rejected records; the caller awaits the returned futures before committing past them."""

    def __init__(self, producer: AIOKafkaProducer, topic: str) -> None:
        self._producer = producer
        self.topic = topic

    async def send(
        self, record: ConsumerRecord[Any, Any], rejected: Rejected
    ) -> asyncio.Future[Any]:
        future: asyncio.Future[Any] = await self._producer.send(
            self.topic,
            value=record.value,
            key=record.key,
            headers=dead_letter_headers(record, rejected),
        )
        DEAD_LETTERS.labels(rejected.code).inc()
        return future
