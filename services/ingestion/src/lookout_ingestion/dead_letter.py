"""Dead-letter step: a rejected record goes to ``ingestion.dlq`` with its original key, bytes and
headers, plus why (reason, code) and where it came from (topic, partition, offset)."""

from __future__ import annotations

import asyncio
from typing import Any

from aiokafka import AIOKafkaProducer, ConsumerRecord
from lookout_contracts.headers import dead_letter_headers

from lookout_ingestion.decode import Rejected
from lookout_ingestion.metrics import DEAD_LETTERS
from lookout_ingestion.steps import PassOn, Run, Step


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
            headers=dead_letter_headers(
                record.headers,
                reason=rejected.reason,
                code=rejected.code,
                topic=record.topic,
                partition=record.partition,
                offset=record.offset,
            ),
        )
        DEAD_LETTERS.labels(rejected.code).inc()
        return future

    async def deliver(self, record: ConsumerRecord[Any, Any], rejected: Rejected) -> None:
        """Send, and return once the broker acknowledged it."""
        await (await self.send(record, rejected))


class DeadLetter(PassOn):
    """The dead-letter step: the run's rejected records are sent in the background (nothing waits
    for them here); the batch's commit waits for their acknowledgements."""

    def __init__(self, letters: DeadLetters, next_step: Step) -> None:
        super().__init__(next_step)
        self._letters = letters

    def submit(self, run: Run) -> None:
        if run.dead_letters is None:
            run.dead_letters = [
                asyncio.ensure_future(self._letters.deliver(record, rejected))
                for record, rejected in run.rejected
            ]
        self.next.submit(run)
