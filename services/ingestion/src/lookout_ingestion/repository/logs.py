"""The registry of partition logs in ClickHouse (``ingestion_logs``): every incarnation of a
partition's log, registered before any of its rows is stored (``service/logs.py`` decides)."""

from __future__ import annotations

import uuid
from collections.abc import Collection
from dataclasses import dataclass

from aiokafka import TopicPartition
from lookout_kit.clickhouse import ClickHouse, quote

LOGS_TABLE = "ingestion_logs"
_NAMESPACE = uuid.UUID("6f1d2b1e-6a4f-4c55-9a57-4c6f6f6b6f75")


def log_id(partition: TopicPartition, topic_id: uuid.UUID, epoch: int) -> uuid.UUID:
    """The id of a log, from its name: the same for every replica."""
    return uuid.uuid5(_NAMESPACE, f"{partition.topic}\0{partition.partition}\0{topic_id}\0{epoch}")


@dataclass(frozen=True, slots=True)
class Log:
    partition: TopicPartition
    topic_id: uuid.UUID
    epoch: int

    @property
    def id(self) -> uuid.UUID:
        return log_id(self.partition, self.topic_id, self.epoch)


async def registered(
    clickhouse: ClickHouse, partitions: Collection[TopicPartition]
) -> dict[TopicPartition, dict[uuid.UUID, int]]:
    """Per partition: every topic id it had, with the newest epoch registered under it."""
    topics = ", ".join(quote(topic) for topic in sorted({tp.topic for tp in partitions}))
    rows = await clickhouse.rows(
        f"SELECT _topic, _partition, topic_id, max(epoch) AS epoch FROM {LOGS_TABLE} "
        f"WHERE _topic IN ({topics}) GROUP BY _topic, _partition, topic_id"
    )
    found: dict[TopicPartition, dict[uuid.UUID, int]] = {}
    for row in rows:
        partition = TopicPartition(row["_topic"], int(row["_partition"]))
        found.setdefault(partition, {})[uuid.UUID(row["topic_id"])] = int(row["epoch"])
    return found


async def register(
    clickhouse: ClickHouse, log: Log, *, reason: str, log_end: int, stored_before: int
) -> None:
    await clickhouse.execute(
        f"INSERT INTO {LOGS_TABLE} (_topic, _partition, topic_id, epoch, _log, reason, log_end, "
        f"stored_before) VALUES ({quote(log.partition.topic)}, {log.partition.partition}, "
        f"toUUID('{log.topic_id}'), {log.epoch}, toUUID('{log.id}'), {quote(reason)}, "
        f"{log_end}, {stored_before})"
    )
