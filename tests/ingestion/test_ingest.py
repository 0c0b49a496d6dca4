"""Events into ClickHouse through the real broker and server: exact rows, dead letters, replicas."""

from __future__ import annotations

import asyncio
import signal
from random import Random
from uuid import uuid4

import aiohttp
from aiokafka import TopicPartition
from lookout_contracts.headers import (
    DLQ_CODE_HEADER,
    DLQ_ORIGINAL_TOPIC_HEADER,
    DLQ_REASON_HEADER,
)
from lookout_ingestion.batching import TableRows
from lookout_ingestion.encoding import encode_origin, encode_row
from lookout_ingestion.insert import Backoff, _learn_outcome
from lookout_ingestion.mapping import COLUMNS, TABLES
from lookout_ingestion.repository.offsets import StoredOffsets
from lookout_kit.clickhouse import ClickHouse, ClickHouseError
from lookout_testing.topics import TopicCapture
from lookout_testing.waiting import wait_until

from tests.ingestion.conftest import (
    PARTITIONS,
    SOURCES,
    Pipeline,
    PrivateClickHouse,
    pipeline_clickhouse,
    produce,
    stop_process,
)
from tests.ingestion.factories import KINDS, Expected, mixed_events, stamp

ROWS_TOTAL = "lookout_ingestion_rows_total"


def exact(expected: Expected) -> dict[str, tuple[int, int]]:
    return {table: (expected.rows[table], expected.rows[table]) for table in TABLES}


def with_resends(events: list[tuple[str, bytes, bytes]]) -> list[tuple[str, bytes, bytes]]:
    """Every tenth event is sent again 100 events later, as the outbox relay does after a lost
    acknowledgement (same key and bytes): the expected rows do not change."""
    out = []
    for n, event in enumerate(events):
        out.append(event)
        if n >= 100 and n % 10 == 0:
            out.append(events[n - 100])
    return out


async def test_100k_events_land_exactly_once(
    pipeline: Pipeline, ch_session: aiohttp.ClientSession
) -> None:
    expected = Expected()
    events = mixed_events(100_000, expected)
    consumer = pipeline.start_consumer()
    await produce(pipeline.kafka, pipeline, events)
    clickhouse = pipeline_clickhouse(pipeline, ch_session)
    assert await pipeline.wait_for_rows(clickhouse, expected, timeout=90) == exact(expected)
    stop_process(consumer, signal.SIGTERM)
    assert consumer.returncode == 0


async def test_bad_events_go_to_the_dead_letter_topic_and_neighbours_arrive(
    pipeline: Pipeline, ch_session: aiohttp.ClientSession
) -> None:
    expected = Expected()
    valid = mixed_events(4, expected)
    key = b"one-partition-for-all"
    bad = {
        b"{not json": "invalid_json",
        b'{"id":"9a3c1f9e-0d4b-4a8e-9c55-1f0b8a6d2e11","type":"thing.happened","version":1}': "unknown_event_type",
        valid[0][2].replace(b'"version":2', b'"version":0'): "invalid_data",
    }
    events = []
    for (source, _, value), bad_value in zip(valid, [*bad, None], strict=True):
        events.append((source, key, value))
        if bad_value is not None:
            events.append(("dashboard", key, bad_value))
    pipeline.start_consumer()
    await produce(pipeline.kafka, pipeline, events)
    clickhouse = pipeline_clickhouse(pipeline, ch_session)
    assert await pipeline.wait_for_rows(clickhouse, expected) == exact(expected)
    async with TopicCapture(pipeline.kafka, pipeline.dlq_topic) as capture:
        records = await capture.wait_for(3)
        await capture.settle()
    assert [record.value for record in records] == list(bad)
    for record, code in zip(records, bad.values(), strict=True):
        headers = {name: value.decode() for name, value in record.headers}
        assert headers[DLQ_CODE_HEADER] == code
        assert headers[DLQ_REASON_HEADER]
        assert headers[DLQ_ORIGINAL_TOPIC_HEADER] == pipeline.topic("dashboard")
        assert record.key == key


async def test_a_restart_reads_the_window_without_dead_lettering_again(
    pipeline: Pipeline, ch_session: aiohttp.ClientSession
) -> None:
    """After a restart the consumer reads the records before its committed offset again to fill
    the resend window: an invalid one among them must not go to the DLQ a second time, nor move
    the committed position back."""
    key = b"one-partition-for-all"
    first_expected, then_expected = Expected(), Expected()
    first = [("dashboard", key, value) for _, _, value in mixed_events(4, first_expected)]
    bad = [("dashboard", key, b"{not json"), ("dashboard", key, b"[]")]
    consumer = pipeline.start_consumer()
    await produce(pipeline.kafka, pipeline, first[:2] + bad + first[2:])
    clickhouse = pipeline_clickhouse(pipeline, ch_session)
    assert await pipeline.wait_for_rows(clickhouse, first_expected) == exact(first_expected)
    stop_process(consumer, signal.SIGTERM)
    then = mixed_events(4, then_expected)
    pipeline.start_consumer()
    await produce(pipeline.kafka, pipeline, then)
    expected = Expected(first_expected.rows + then_expected.rows)
    assert await pipeline.wait_for_rows(clickhouse, expected) == exact(expected)
    async with TopicCapture(pipeline.kafka, pipeline.dlq_topic) as capture:
        await capture.wait_for(2)
        records = await capture.settle()
    assert [record.value for record in records] == [value for _, _, value in bad]


async def test_sigkill_at_random_moments_loses_and_duplicates_nothing(
    pipeline: Pipeline, ch_session: aiohttp.ClientSession
) -> None:
    expected = Expected()
    events = mixed_events(100_000, expected)
    # Small, frequent flushes: more kills land mid-insert or between an insert and its commit.
    settings = {"batch_max_rows": "3000", "batch_max_age_s": "0.2"}
    producing = asyncio.create_task(
        produce(pipeline.kafka, pipeline, with_resends(events), rate=6_000)
    )
    random = Random(7)
    clickhouse = pipeline_clickhouse(pipeline, ch_session)
    for _ in range(6):
        consumer = pipeline.start_consumer(**settings)
        stored = sum(rows for rows, _ in (await pipeline.counts(clickhouse)).values())

        async def storing(stored: int = stored) -> bool:
            # The group waits out the killed member's session first: kill only a working consumer.
            now = sum(rows for rows, _ in (await pipeline.counts(clickhouse)).values())
            return now > stored or now == sum(expected.rows.values())

        await wait_until(storing, timeout=30, interval=0.05, message="the consumer storing rows")
        await asyncio.sleep(random.uniform(0.0, 1.5))
        consumer.kill()
        await asyncio.to_thread(consumer.wait)
    await producing
    # What the killed consumers stored (each one stored rows: see ``storing``) they stored once:
    # no id twice in any table, and no more rows than there are events for it.
    before = await pipeline.counts(clickhouse)
    for table, (rows, ids) in before.items():
        assert rows == ids <= expected.rows[table], f"{table}: {rows} rows, {ids} ids"
    final = pipeline.start_consumer(**settings)
    assert await pipeline.wait_for_rows(clickhouse, expected, timeout=90) == exact(expected)
    stop_process(final)


async def test_two_replicas_one_stopped_mid_run(
    pipeline: Pipeline, ch_session: aiohttp.ClientSession
) -> None:
    """Both replicas share the partitions and store rows; the one stopped mid-run hands its
    partitions to the other, and every event is stored once."""
    expected = Expected()
    events = mixed_events(40_000, expected)
    first, second = pipeline.start_metered_consumer(), pipeline.start_metered_consumer()
    shares: tuple[set[str], set[str]] = (set(), set())

    async def both_assigned() -> bool:
        nonlocal shares
        shares = (await first.assigned(ch_session), await second.assigned(ch_session))
        return len(shares[0] | shares[1]) == len(SOURCES) * PARTITIONS and all(shares)

    await wait_until(both_assigned, timeout=40, interval=0.2, message="both replicas assigned")
    assert not shares[0] & shares[1], shares
    producing = asyncio.create_task(
        produce(pipeline.kafka, pipeline, with_resends(events), rate=5_000)
    )

    async def both_storing() -> bool:
        stored = [await replica.value(ch_session, ROWS_TOTAL) for replica in (first, second)]
        return all(rows > 0 for rows in stored)

    await wait_until(both_storing, timeout=8, interval=0.2, message="both replicas storing rows")
    assert not producing.done(), "the second replica stops mid-run"
    stop_process(second.process, signal.SIGTERM)
    assert second.process.returncode == 0
    await producing
    clickhouse = pipeline_clickhouse(pipeline, ch_session)
    assert await pipeline.wait_for_rows(clickhouse, expected, timeout=90) == exact(expected)
    assert len(await first.assigned(ch_session)) == len(SOURCES) * PARTITIONS
    stop_process(first.process)


async def test_resent_events_are_stored_once_also_after_a_restart(
    pipeline: Pipeline, ch_session: aiohttp.ClientSession
) -> None:
    """The outbox relay resends an event (same id and key, a later offset) when an acknowledgement
    is lost. Resends read by a running consumer, and resends of events stored before a restart
    (the new consumer reads the window before its committed offsets again), are dropped."""
    clickhouse = pipeline_clickhouse(pipeline, ch_session)
    first_expected, then_expected = Expected(), Expected()
    first = mixed_events(2_000, first_expected)
    then = mixed_events(1_000, then_expected)
    consumer = pipeline.start_consumer()
    await produce(pipeline.kafka, pipeline, first + first[:300])
    assert await pipeline.wait_for_rows(clickhouse, first_expected) == exact(first_expected)
    stop_process(consumer, signal.SIGTERM)  # everything committed: the resends below come after
    assert consumer.returncode == 0
    resent_and_new = [
        event for pair in zip(first[-500:], then[:500], strict=True) for event in pair
    ]
    await produce(pipeline.kafka, pipeline, resent_and_new + then[500:] + first[1_000:1_200])
    pipeline.start_consumer()
    expected = Expected(first_expected.rows + then_expected.rows)
    assert await pipeline.wait_for_rows(clickhouse, expected) == exact(expected)


async def test_a_resend_further_back_than_the_window_is_stored_again(
    pipeline: Pipeline, ch_session: aiohttp.ClientSession
) -> None:
    """The rule is "the same id at one of the ``dedup_window`` offsets before, in the partition":
    deterministic, so every replica and restart decides alike; copies further apart are kept."""
    login = KINDS[3]  # user.logged_in: one user_activity row each
    key = b"one-partition"
    events = [(login.source, key, stamp(login)[1]) for _ in range(150)]
    resends = [events[0], events[149], events[100], events[110]]  # at offsets 150 to 153
    pipeline.start_consumer(dedup_window="50")
    await produce(pipeline.kafka, pipeline, events + resends)
    expected = Expected()
    expected.rows["user_activity"] = 152  # events 0 and 100 again: 150 and 52 offsets apart
    clickhouse = pipeline_clickhouse(pipeline, ch_session)
    counts = await pipeline.wait_for_rows(clickhouse, expected)
    assert counts["user_activity"] == (152, 150)


async def test_records_fetched_while_the_assignment_waits_are_read_again(
    pipeline: Pipeline, ch_session: aiohttp.ClientSession
) -> None:
    """aiokafka hands out a new assignment's records while the consumer still waits for a
    previous owner's INSERTs; they must be read again once the partitions are its own, not
    skipped (they were, when two replicas started on a backlog: the commit went past them)."""
    expected = Expected()
    await produce(pipeline.kafka, pipeline, mixed_events(5_000, expected))
    # A query that looks like a previous owner's INSERT still running, until the test kills it.
    previous_owner = f"lookout-ingestion:{pipeline.prefix}:{pipeline.database}:previous"
    blocking = asyncio.create_task(
        ch_session.post(
            pipeline.clickhouse_url,
            params={"query_id": previous_owner, "max_block_size": "1"},
            data="SELECT count() FROM (SELECT sleep(2) FROM system.numbers LIMIT 30)",
        )
    )
    clickhouse = pipeline_clickhouse(pipeline, ch_session)

    async def running() -> bool:
        return previous_owner in await clickhouse.running_query_ids(previous_owner)

    await wait_until(running, timeout=10, interval=0.05, message="the blocking query")
    consumer = pipeline.start_consumer()
    log = pipeline.log_dir / "consumer-0.log"

    async def waiting() -> bool:
        return log.exists() and b"waiting for a previous owner's inserts" in log.read_bytes()

    await wait_until(waiting, timeout=30, interval=0.1, message="the consumer waiting")
    # Longer than a flush's age (1 s): a consumer that did not wait would have stored rows.
    for _ in range(6):
        await asyncio.sleep(0.5)
        assert await running(), "the blocking query ended before the check"
        counts = await pipeline.counts(clickhouse)
        assert all(rows == 0 for rows, _ in counts.values()), f"stored while waiting: {counts}"
    await clickhouse.execute(f"KILL QUERY WHERE query_id = '{previous_owner}' SYNC")
    assert await pipeline.wait_for_rows(clickhouse, expected, timeout=60) == exact(expected)
    (await blocking).close()
    stop_process(consumer)


async def test_a_retry_reads_what_is_stored_from_the_table_not_its_view(
    pipeline: Pipeline, ch_session: aiohttp.ClientSession
) -> None:
    """A ClickHouse server killed between an INSERT's table part and its view part leaves the view
    behind the table; a retry that trusted the view would store those rows twice."""
    clickhouse = pipeline_clickhouse(pipeline, ch_session)
    partition = TopicPartition(pipeline.topic("dashboard"), 0)
    row = (uuid4(), uuid4(), uuid4(), "", "dashboard.viewed", "dashboard", str(uuid4()), 0)
    rows = [
        encode_row("user_activity", row, encode_origin(partition.topic, 0, n)) for n in range(3)
    ]
    await clickhouse.insert_rowbinary(
        "user_activity", COLUMNS["user_activity"], b"".join(rows), query_id=uuid4().hex
    )
    await clickhouse.execute(
        "TRUNCATE TABLE `.inner.user_activity_log_offsets`"
    )  # the lost view part
    stored = StoredOffsets()
    await stored.load(clickhouse, [partition])
    assert stored.stored("user_activity", partition) == -1  # what the view says
    batch = TableRows()
    for offset, encoded in enumerate(rows):
        batch.add(partition, offset, encoded)
    await _learn_outcome(
        clickhouse, "user_activity", batch, uuid4().hex, stored, Backoff(0.01, 0.01), 0
    )
    assert stored.stored("user_activity", partition) == 2  # what the table holds


async def test_clickhouse_stopped_30s_under_load(
    pipeline: Pipeline, private_clickhouse: PrivateClickHouse, ch_session: aiohttp.ClientSession
) -> None:
    pipeline.clickhouse_url = private_clickhouse.url
    admin = ClickHouse(ch_session, url=private_clickhouse.url, database="default")
    await admin.execute(f"CREATE DATABASE {pipeline.database}")
    expected = Expected()
    events = mixed_events(50_000, expected)
    # A low bound on buffered rows: the outage must pause fetching, not fill memory.
    consumer = pipeline.start_metered_consumer(max_buffered_rows="20000", batch_max_rows="5000")
    producing = asyncio.create_task(produce(pipeline.kafka, pipeline, events, rate=1_400))
    clickhouse = pipeline_clickhouse(pipeline, ch_session)

    async def flowing() -> bool:
        try:
            return sum(rows for rows, _ in (await pipeline.counts(clickhouse)).values()) > 0
        except ClickHouseError:
            return False

    await wait_until(flowing, timeout=30, message="first rows before the outage")
    await private_clickhouse.stop()
    outage_ends = asyncio.get_running_loop().time() + 30

    async def paused() -> bool:
        return await consumer.value(ch_session, "lookout_ingestion_fetch_paused") == 1

    await wait_until(paused, timeout=28, interval=0.5, message="fetching paused in the outage")
    consumed = await consumer.value(ch_session, "lookout_ingestion_events_total")
    await asyncio.sleep(max(0.0, outage_ends - asyncio.get_running_loop().time()))
    assert await consumer.value(ch_session, "lookout_ingestion_events_total") == consumed, (
        "events read while fetching was paused"
    )
    assert await paused(), "still paused at the end of the outage"
    assert consumer.process.poll() is None, "the consumer survives the outage"
    await private_clickhouse.start()
    await producing
    assert await pipeline.wait_for_rows(clickhouse, expected, timeout=90) == exact(expected)
    assert not await paused(), "fetching resumed"
    stop_process(consumer.process)
