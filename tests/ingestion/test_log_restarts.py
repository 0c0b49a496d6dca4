"""Topics that begin again at offset 0 (the local broker's restart, a topic deleted and created
again): the events of the new log are stored, each once, and the consumer says so."""

from __future__ import annotations

import asyncio
import signal
import uuid
from random import Random

import aiohttp
import pytest
from aiokafka import TopicPartition
from aiokafka.structs import OffsetAndMetadata
from lookout_ingestion.encoding import encode_origin, encode_row, encode_topic
from lookout_ingestion.mapping import COLUMNS
from lookout_ingestion.metrics import OFFSET_REGRESSIONS
from lookout_ingestion.repository.offsets import StoredOffsets
from lookout_ingestion.service.logs import LogNotKnownYet, LogWatch, identify_logs
from lookout_kit.clickhouse import ClickHouse
from lookout_testing.broker import PrivateBroker
from lookout_testing.waiting import wait_until

from tests.ingestion.conftest import Pipeline, pipeline_clickhouse, produce, stop_process
from tests.ingestion.factories import Expected, mixed_events
from tests.ingestion.test_ingest import exact

# Quick to see topics come and go, and to give a killed member's partitions to the next one.
FAST = {"metadata_max_age_ms": "1000", "batch_max_rows": "2000", "batch_max_age_s": "0.3"}


async def restart_broker(broker: PrivateBroker, pipeline: Pipeline) -> None:
    """Stop and start the broker: it keeps topics in memory, so they begin again at offset 0."""
    await broker.stop()
    await broker.start()
    await pipeline.create_topics()


async def registered_reasons(clickhouse: ClickHouse) -> list[str]:
    rows = await clickhouse.rows("SELECT reason FROM ingestion_logs ORDER BY reason")
    return [row["reason"] for row in rows]


async def test_a_broker_restart_between_two_batches_loses_and_duplicates_nothing(
    restartable_pipeline: Pipeline,
    private_broker: PrivateBroker,
    ch_session: aiohttp.ClientSession,
) -> None:
    pipeline = restartable_pipeline
    clickhouse = pipeline_clickhouse(pipeline, ch_session)
    first_expected, second_expected = Expected(), Expected()
    first = mixed_events(3_000, first_expected)
    # More events than before: every offset the first batch used is used again.
    second = mixed_events(6_000, second_expected)
    consumer = pipeline.start_consumer(**FAST)
    await produce(pipeline.kafka, pipeline, first)
    assert await pipeline.wait_for_rows(clickhouse, first_expected) == exact(first_expected)

    await restart_broker(private_broker, pipeline)
    await produce(pipeline.kafka, pipeline, second)

    expected = Expected(first_expected.rows + second_expected.rows)
    assert await pipeline.wait_for_rows(clickhouse, expected, timeout=90) == exact(expected)
    assert consumer.poll() is None, "the consumer lives through the broker's restart"
    stop_process(consumer)
    # Never silent: each partition's new log is registered with why, and the consumer warned.
    reasons = await registered_reasons(clickhouse)
    partitions = 4 * 3  # SOURCES x PARTITIONS
    assert reasons.count("first") == partitions
    assert len(reasons) - partitions >= partitions  # each partition began again at least once
    log = (pipeline.log_dir / "consumer-0.log").read_text()
    assert "the partition's log began again" in log


async def test_sigkills_around_a_broker_restart_lose_and_duplicate_nothing(
    restartable_pipeline: Pipeline,
    private_broker: PrivateBroker,
    ch_session: aiohttp.ClientSession,
) -> None:
    pipeline = restartable_pipeline
    clickhouse = pipeline_clickhouse(pipeline, ch_session)
    first_expected, second_expected = Expected(), Expected()
    first = mixed_events(3_000, first_expected)
    second = mixed_events(12_000, second_expected)
    consumer = pipeline.start_consumer(**FAST)
    await produce(pipeline.kafka, pipeline, first)
    assert await pipeline.wait_for_rows(clickhouse, first_expected) == exact(first_expected)
    consumer.kill()  # whether its last commit went out or not, its rows are stored
    await asyncio.to_thread(consumer.wait)

    await private_broker.stop()
    # One that starts while the broker is down, and is killed once it is back.
    waiting = pipeline.start_consumer(**FAST)
    await asyncio.sleep(1)
    await private_broker.start()
    await pipeline.create_topics()
    producing = asyncio.create_task(produce(pipeline.kafka, pipeline, second, rate=1_500))
    random = Random(20)
    consumer = waiting
    everything = sum(first_expected.rows.values()) + sum(second_expected.rows.values())
    for _ in range(3):
        before = sum(rows for rows, _ in (await pipeline.counts(clickhouse)).values())

        async def storing(before: int = before) -> bool:
            # The group waits out the killed member's session first: kill only a working one.
            now = sum(rows for rows, _ in (await pipeline.counts(clickhouse)).values())
            return now > before or now == everything

        await wait_until(storing, timeout=40, interval=0.05, message="the consumer storing rows")
        await asyncio.sleep(random.uniform(0.0, 1.0))
        consumer.kill()
        await asyncio.to_thread(consumer.wait)
        consumer = pipeline.start_consumer(**FAST)
    await producing

    expected = Expected(first_expected.rows + second_expected.rows)
    assert await pipeline.wait_for_rows(clickhouse, expected, timeout=90) == exact(expected)
    stop_process(consumer, signal.SIGTERM)


async def test_topics_deleted_and_created_again_under_a_running_consumer(
    pipeline: Pipeline, ch_session: aiohttp.ClientSession
) -> None:
    """What production sees: the same names, new topics (new topic ids), offsets from 0."""
    from aiokafka.admin import AIOKafkaAdminClient

    clickhouse = pipeline_clickhouse(pipeline, ch_session)
    first_expected, second_expected = Expected(), Expected()
    consumer = pipeline.start_consumer(**FAST)
    await produce(pipeline.kafka, pipeline, mixed_events(2_000, first_expected))
    assert await pipeline.wait_for_rows(clickhouse, first_expected) == exact(first_expected)

    admin = AIOKafkaAdminClient(bootstrap_servers=pipeline.kafka)
    await admin.start()
    try:
        await admin.delete_topics([pipeline.topic(source) for source in ("dashboard", "identity")])
    finally:
        await admin.close()
    await pipeline.create_topics()
    await produce(pipeline.kafka, pipeline, mixed_events(4_000, second_expected))

    expected = Expected(first_expected.rows + second_expected.rows)
    assert await pipeline.wait_for_rows(clickhouse, expected, timeout=90) == exact(expected)
    stop_process(consumer)
    assert "topic_created_again" in await registered_reasons(clickhouse)


async def test_each_way_a_log_begins_again_gives_a_new_log_and_counts_it(
    pipeline: Pipeline, ch_session: aiohttp.ClientSession
) -> None:
    """The registry decides alone (no broker): a new topic id, a stored watermark at or past the
    log's end, and offsets seen going back each start a new log, whose watermark is empty; a log
    that goes on keeps its watermark."""
    clickhouse = pipeline_clickhouse(pipeline, ch_session)
    partition = TopicPartition(pipeline.topic("identity"), 1)
    topic_id = uuid.uuid4()

    async def identify(
        topic: uuid.UUID, log_end: int, *, went_back: bool = False, exact_end: int | None = None
    ) -> tuple[int, int]:
        stored = StoredOffsets()

        async def exact_ends(asked: list[TopicPartition]) -> dict[TopicPartition, int]:
            assert asked == [partition]
            return {} if exact_end is None else {partition: exact_end}

        logs = await identify_logs(
            clickhouse,
            stored,
            [partition],
            topic_ids={partition.topic: topic},
            log_ends={partition: log_end},
            went_back=[partition] if went_back else (),
            exact_ends=exact_ends,
        )
        log = logs[partition]
        assert stored.log(partition) == log.id
        return log.epoch, stored.threshold(partition)

    async def store(up_to: int) -> None:
        stored = StoredOffsets()
        logs = await identify_logs(
            clickhouse,
            stored,
            [partition],
            topic_ids={partition.topic: topic_id},
            log_ends={partition: up_to + 1},
        )
        origin = encode_topic(partition.topic, logs[partition].id)
        row = (uuid.uuid4(), uuid.uuid4(), uuid.uuid4(), "", "user.logged_in", "user", "u", 0)
        rows = b"".join(
            encode_row("user_activity", row, encode_origin(origin, 1, offset))
            for offset in range(up_to + 1)
        )
        await clickhouse.insert_rowbinary(
            "user_activity", COLUMNS["user_activity"], rows, query_id=uuid.uuid4().hex
        )

    def regressions(reason: str) -> float:
        return OFFSET_REGRESSIONS.labels(reason)._value.get()

    counted = {
        reason: regressions(reason)
        for reason in ("topic_created_again", "log_end_below_stored", "offsets_went_back")
    }
    assert await identify(topic_id, 0) == (0, -1)
    await store(up_to=99)
    assert await identify(topic_id, 150) == (0, 99)  # the same log goes on
    assert await identify(topic_id, 100) == (0, 99)
    # ListOffsets understated the end (the local broker gives the last batch's first offset).
    assert await identify(topic_id, 60, exact_end=100) == (0, 99)
    with pytest.raises(LogNotKnownYet):  # no exact end: no guess, asked again
        await identify(topic_id, 99)
    assert await identify(topic_id, 99, exact_end=99) == (1, -1)  # stored 99 is past the end
    assert regressions("log_end_below_stored") == counted["log_end_below_stored"] + 1
    assert await identify(topic_id, 99) == (1, -1)  # registered: the next owner continues it
    assert await identify(topic_id, 500, went_back=True) == (2, -1)
    assert regressions("offsets_went_back") == counted["offsets_went_back"] + 1
    assert await identify(uuid.uuid4(), 500) == (0, -1)  # the topic was created again
    assert regressions("topic_created_again") == counted["topic_created_again"] + 1
    assert await registered_reasons(clickhouse) == sorted(
        ["first", "log_end_below_stored", "offsets_went_back", "topic_created_again"]
    )


class CommittedWithMetadata:
    """A stand-in for the consumer's group coordinator: the local broker (Tansu) drops an offset
    commit's metadata, so only a stub can say what Kafka says (which keeps it)."""

    def __init__(self, committed: dict[TopicPartition, OffsetAndMetadata]) -> None:
        self._coordinator = self
        self.committed = committed
        self.from_start: list[TopicPartition] = []

    async def fetch_committed_offsets(
        self, partitions: list[TopicPartition]
    ) -> dict[TopicPartition, OffsetAndMetadata]:
        return {p: self.committed[p] for p in partitions if p in self.committed}

    async def seek_to_beginning(self, partition: TopicPartition) -> None:
        self.from_start.append(partition)


async def test_an_offset_committed_in_another_log_is_not_used(
    pipeline: Pipeline, ch_session: aiohttp.ClientSession
) -> None:
    """A commit that reached a topic created again under it (in flight while the topic was
    deleted) names the old log in its metadata: that partition is read from its start; one
    committed in the current log, or before logs were named (no metadata), is used."""
    clickhouse = pipeline_clickhouse(pipeline, ch_session)
    ours, other, unnamed = (TopicPartition(pipeline.topic("identity"), n) for n in range(3))
    watch = LogWatch(pipeline.kafka)
    await watch.start()
    try:
        await watch.identify(clickhouse, StoredOffsets(), FakeEnds(), [ours, other, unnamed])
        consumer = CommittedWithMetadata(
            {
                ours: OffsetAndMetadata(100, watch.name(ours)),
                other: OffsetAndMetadata(100, str(uuid.uuid4())),
                unnamed: OffsetAndMetadata(100, ""),
            }
        )
        await watch.read_other_logs_from_their_start(consumer, [ours, other, unnamed])  # type: ignore[arg-type]
    finally:
        await watch.close()
    assert consumer.from_start == [other]


class FakeEnds:
    """End offsets of an empty topic (what identify asks the consumer)."""

    async def end_offsets(self, partitions: list[TopicPartition]) -> dict[TopicPartition, int]:
        return dict.fromkeys(partitions, 0)
