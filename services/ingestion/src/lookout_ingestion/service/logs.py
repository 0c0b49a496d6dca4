"""Logs that start again: which incarnation of each partition's log the consumer reads.

A partition's offsets are only unique within one incarnation of its log. A topic deleted and
created again, a move to another cluster, a restore from a backup, or the local broker's restart
(it keeps topics in memory) starts them again at 0 under the same name. Every row carries its
log's id (``_log``) and the stored watermarks are read per log, so events of a new log are never
taken for rows an earlier one stored.

A log is named by (topic, partition, topic id, epoch):

- the **topic id** (Kafka Metadata v10+, new at every creation of a topic): a topic created again
  is a new log. A broker without topic ids gives ``NO_TOPIC_ID``, and only epochs tell logs apart.
- the **epoch**, 0 at first, one more each time the consumer sees the log begin again under the same
  topic id: a stored watermark at or beyond the partition's end offset (at an assignment), or
  records fetched below the position already consumed (while it runs). Either is proof: rows are
  only stored from records read from the log, at offsets below its end. (ListOffsets may
  understate the end, as the local broker does: a watermark at or past it is checked against the
  exact end, a fetch's high watermark, before it counts.)

``ingestion_logs`` (ClickHouse) registers every log before any of its rows is stored, so a consumer
that restarts, or the next owner of the partition, continues the newest log of the topic id. Its
id is derived from its name (``log_id``): replicas that register one at the same time agree.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Awaitable, Callable, Collection, Iterable, Mapping

from aiokafka import AIOKafkaClient, AIOKafkaConsumer, TopicPartition
from aiokafka.errors import KafkaError
from lookout_kit.clickhouse import ClickHouse
from lookout_kit.partition_logs import NO_TOPIC_ID, exact_log_ends, topic_ids

from lookout_ingestion.encoding import encode_topic
from lookout_ingestion.metrics import OFFSET_REGRESSIONS
from lookout_ingestion.repository import logs as registry
from lookout_ingestion.repository.logs import Log
from lookout_ingestion.repository.offsets import StoredOffsets

logger = logging.getLogger("lookout.ingestion.logs")


class LogNotKnownYet(KafkaError):  # type: ignore[misc]
    """The broker did not say enough to tell which log a partition is in: asked again later."""

    retriable = True


async def identify_logs(
    clickhouse: ClickHouse,
    stored: StoredOffsets,
    partitions: Iterable[TopicPartition],
    *,
    topic_ids: Mapping[str, uuid.UUID],
    log_ends: Mapping[TopicPartition, int],
    went_back: Collection[TopicPartition] = (),
    exact_ends: Callable[[list[TopicPartition]], Awaitable[Mapping[TopicPartition, int]]]
    | None = None,
) -> dict[TopicPartition, Log]:
    """Find (or start, and register) the current log of each partition and load its stored
    watermarks into ``stored``.

    ``topic_ids``: the broker's topic ids now (a topic missing there counts as ``NO_TOPIC_ID``);
    ``log_ends``: each partition's end offset as ListOffsets gives it, and ``exact_ends`` the
    exact one, asked only where a watermark is at or past the former; ``went_back``: partitions
    whose fetched offsets were seen to go below what was consumed, so their log began again."""
    wanted = list(dict.fromkeys(partitions))
    if not wanted:
        return {}
    registered = await registry.registered(clickhouse, wanted)
    logs: dict[TopicPartition, Log] = {}
    new: dict[TopicPartition, str] = {}
    for partition in wanted:
        topic_id = topic_ids.get(partition.topic, NO_TOPIC_ID)
        earlier = registered.get(partition, {})
        if topic_id in earlier:
            logs[partition] = Log(partition, topic_id, earlier[topic_id])
        else:
            logs[partition] = Log(partition, topic_id, 0)
            new[partition] = "topic_created_again" if earlier else "first"
        stored.set_log(partition, logs[partition].id)
    await stored.load(clickhouse, [p for p in wanted if p not in new])
    ends = dict(log_ends)
    suspect = [p for p in wanted if p not in new and stored.threshold(p) >= ends.get(p, 0)]
    if suspect and exact_ends is not None:
        exact = await exact_ends(suspect)
        missing = [partition for partition in suspect if partition not in exact]
        if missing:  # no proof either way: ask again rather than start a log on a guess
            raise LogNotKnownYet(f"no exact end offset for {len(missing)} partition(s)")
        ends.update(exact)
    stored_before: dict[TopicPartition, int] = {}
    for partition in wanted:
        if partition in new:
            continue
        watermark = stored.threshold(partition)
        if partition in went_back or watermark >= ends.get(partition, 0):
            log = logs[partition]
            logs[partition] = Log(partition, log.topic_id, log.epoch + 1)
            new[partition] = (
                "offsets_went_back" if partition in went_back else "log_end_below_stored"
            )
            stored_before[partition] = watermark
            stored.set_log(partition, logs[partition].id)
    for partition, reason in new.items():
        log = logs[partition]
        await registry.register(
            clickhouse,
            log,
            reason=reason,
            log_end=ends.get(partition, 0),
            stored_before=stored_before.get(partition, -1),
        )
        if reason == "first":
            continue
        OFFSET_REGRESSIONS.labels(reason).inc()
        logger.warning(
            "the partition's log began again: its events are read as new, not as stored",
            extra={
                "topic": partition.topic,
                "partition": partition.partition,
                "reason": reason,
                "topic_id": str(log.topic_id),
                "epoch": log.epoch,
                "log_end": ends.get(partition),
                "stored_before": stored_before.get(partition),
            },
        )
    return logs


class LogWatch:
    """What one consumer knows of its partitions' logs: each owned partition's current log (its
    rows' encoded ``_topic, _log`` columns) and the topic id it was identified under, and a client
    that asks the broker for topic ids (aiokafka's consumer asks Metadata v5: no ids there)."""

    def __init__(self, bootstrap_servers: str) -> None:
        self._bootstrap_servers = bootstrap_servers
        self._client: AIOKafkaClient | None = None
        self._origins: dict[TopicPartition, bytes] = {}
        self._names: dict[TopicPartition, str] = {}
        self._topic_ids: dict[TopicPartition, uuid.UUID] = {}

    async def start(self) -> None:
        self._client = AIOKafkaClient(bootstrap_servers=self._bootstrap_servers)
        await self._client.bootstrap()

    async def close(self) -> None:
        if self._client is not None:
            await self._client.close()

    def origin(self, partition: TopicPartition) -> bytes:
        """The partition's rows' ``_topic, _log`` columns (``encode_origin`` appends the rest)."""
        return self._origins[partition]

    def name(self, partition: TopicPartition) -> str:
        """The partition's current log id, as text: the metadata of the offsets committed in it."""
        return self._names[partition]

    def forget(self, partitions: Iterable[TopicPartition]) -> None:
        for partition in partitions:
            self._origins.pop(partition, None)
            self._names.pop(partition, None)
            self._topic_ids.pop(partition, None)

    async def identify(
        self,
        clickhouse: ClickHouse,
        stored: StoredOffsets,
        consumer: AIOKafkaConsumer,
        partitions: list[TopicPartition],
        *,
        went_back: bool = False,
    ) -> None:
        """``identify_logs`` with what the broker says now: topic ids and end offsets."""
        assert self._client is not None
        if not partitions:
            return

        async def exact_ends(suspect: list[TopicPartition]) -> dict[TopicPartition, int]:
            return await exact_log_ends(self._bootstrap_servers, suspect)

        ids = await topic_ids(self._client, sorted({partition.topic for partition in partitions}))
        unknown = sorted({p.topic for p in partitions} - set(ids))
        if unknown:  # e.g. created a moment ago: never taken for a topic without an id
            raise LogNotKnownYet(f"the broker does not describe {', '.join(unknown)} yet")
        logs = await identify_logs(
            clickhouse,
            stored,
            partitions,
            topic_ids=ids,
            log_ends=await consumer.end_offsets(partitions),
            went_back=partitions if went_back else (),
            exact_ends=exact_ends,
        )
        for partition, log in logs.items():
            self._origins[partition] = encode_topic(partition.topic, log.id)
            self._names[partition] = str(log.id)
            self._topic_ids[partition] = log.topic_id

    async def read_other_logs_from_their_start(
        self, consumer: AIOKafkaConsumer, partitions: list[TopicPartition]
    ) -> None:
        """A committed offset names the log it was committed in (its metadata). One of another
        log (a commit that reached a topic created again under it) says nothing of this log:
        the partition is read from its start instead, and the watermarks skip what is stored."""
        # aiokafka's committed() drops the metadata; its coordinator gives both.
        committed = await consumer._coordinator.fetch_committed_offsets(partitions)
        for partition, offset in committed.items():
            metadata = getattr(offset, "metadata", "") if offset is not None else ""
            if metadata and metadata != self.name(partition):
                logger.warning(
                    "the committed offset is another log's: reading the partition from its start",
                    extra={"topic": partition.topic, "partition": partition.partition},
                )
                await consumer.seek_to_beginning(partition)

    async def created_again(self, partitions: Iterable[TopicPartition]) -> list[TopicPartition]:
        """The partitions whose topic has another id now than when their log was identified (a
        topic the broker no longer knows is not among them: deleted, not created again yet).
        Raises ``KafkaError`` when the broker does not answer."""
        assert self._client is not None
        wanted = list(partitions)
        if not wanted:
            return []
        ids = await topic_ids(self._client, sorted({partition.topic for partition in wanted}))
        return [
            partition
            for partition in wanted
            if (now := ids.get(partition.topic)) is not None
            and now != self._topic_ids.get(partition)
        ]
