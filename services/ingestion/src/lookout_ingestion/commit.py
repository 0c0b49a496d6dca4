"""The commit step: a flushed batch's positions, committed only after every table's rows and every
dead letter of the batch are acknowledged (so the committed offset never passes an event that is
not fully stored). Each partition's offset carries its log's id as metadata, so an offset is never
taken for one of another log; partitions no longer owned are not committed (their new owner is)."""

from __future__ import annotations

import logging
from collections.abc import Callable

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import KafkaError
from aiokafka.structs import OffsetAndMetadata

from lookout_ingestion.batching import Batch

logger = logging.getLogger("lookout.ingestion.commit")


class Committer:
    def __init__(self, consumer: AIOKafkaConsumer) -> None:
        self._consumer = consumer
        self.committed: dict[TopicPartition, int] = {}
        """What this consumer last committed per partition (for the lag metric)."""

    async def commit(self, batch: Batch, owned: Callable[[TopicPartition], bool]) -> None:
        offsets = {
            partition: OffsetAndMetadata(position, batch.logs.get(partition, ""))
            for partition, position in batch.positions.items()
            if owned(partition)
        }
        if not offsets:
            return
        try:
            await self._consumer.commit(offsets)
        except KafkaError as error:
            # The rows are stored: whoever reads these offsets again skips them.
            logger.warning("commit failed", extra={"error": repr(error)})
            return
        for partition, committed in offsets.items():
            self.committed[partition] = committed.offset

    def forget(self, partitions: list[TopicPartition]) -> None:
        for partition in partitions:
            self.committed.pop(partition, None)
