"""A record the relay marks as a possible resend is stored once however far back its original is:
its rows are looked up in ClickHouse when the window does not reach the original. Unmarked copies
beyond the window are still stored again (``test_ingest``)."""

from __future__ import annotations

import asyncio
import uuid

import aiohttp
import pytest
from aiokafka import AIOKafkaProducer, TopicPartition
from lookout_contracts.headers import CONTENT_TYPE_HEADER, POSSIBLE_RESEND_HEADER
from lookout_ingestion.steps import MessageRejected, Run
from lookout_ingestion.stored_copies import (
    DropStoredCopies,
    FindStored,
    Found,
    stored_copies_finder,
)
from lookout_kit.clickhouse import ClickHouseError
from lookout_kit.retry import Backoff
from lookout_testing.waiting import wait_until

from tests.ingestion.conftest import (
    PARTITIONS,
    SOURCES,
    Pipeline,
    pipeline_clickhouse,
    stop_process,
)
from tests.ingestion.factories import KINDS, Expected, stamp

MARKED = [(POSSIBLE_RESEND_HEADER, b"1"), (CONTENT_TYPE_HEADER, b"application/json")]
PLAIN = [(CONTENT_TYPE_HEADER, b"application/json")]
EVENTS_TOTAL = "lookout_ingestion_events_total"


async def test_a_marked_resend_beyond_the_window_is_stored_once(
    pipeline: Pipeline, ch_session: aiohttp.ClientSession
) -> None:
    login, executed = KINDS[3], KINDS[1]
    assert login.tables == ("user_activity",)
    assert executed.tables == ("query_metrics", "user_activity")  # keyed by the execution id
    logins = [stamp(login)[1] for _ in range(150)]
    executions = [stamp(executed)[1] for _ in range(60)]
    fresh, late = stamp(login)[1], stamp(login)[1]
    fillers = [stamp(login)[1] for _ in range(60)]
    # First the originals, stored before any copy comes: the lookup finds them in ClickHouse.
    originals = [(login.source, value, PLAIN) for value in logins] + [
        (executed.source, value, PLAIN) for value in executions
    ]
    copies = (
        [
            (login.source, logins[0], MARKED),  # 150 offsets after its original: beyond the window
            (login.source, logins[149], MARKED),  # 2 after: the window drops it, no lookup
            (login.source, logins[100], PLAIN),  # 52 after, unmarked: stored again (the limit)
            (login.source, fresh, MARKED),  # marked, but nothing was stored before: stored
            (login.source, late, PLAIN),
        ]
        + [(login.source, value, PLAIN) for value in fillers]
        # 61 after its original, which may be in the same run (not stored yet) or an earlier one
        + [(login.source, late, MARKED)]
        + [(executed.source, executions[0], MARKED)]  # 60 after: both of its rows were stored
    )
    pipeline.start_consumer(dedup_window="50")
    clickhouse = pipeline_clickhouse(pipeline, ch_session)
    expected = Expected()
    await _send(pipeline, originals)
    expected.rows["user_activity"] = 150 + 60
    expected.rows["query_metrics"] = 60
    counts = await pipeline.wait_for_rows(clickhouse, expected)
    assert counts["user_activity"] == (210, 210)
    await _send(pipeline, copies)
    expected.rows["user_activity"] = 210 + 1 + 1 + 1 + 60  # login 100 again, fresh, late, fillers
    counts = await pipeline.wait_for_rows(clickhouse, expected)
    assert counts["user_activity"] == (273, 272)
    assert counts["query_metrics"] == (60, 60)
    assert counts["dashboard_events"] == (0, 0)


async def test_a_marked_resend_whose_original_is_still_buffered_is_stored_once(
    pipeline: Pipeline, ch_session: aiohttp.ClientSession
) -> None:
    """The original is read and buffered (not flushed: a long batch age) when its marked copy
    comes in a later fetch: the lookup flushes it first, finds it and drops the copy."""
    login = KINDS[3]
    original = stamp(login)[1]
    fillers = [stamp(login)[1] for _ in range(60)]
    consumer = pipeline.start_metered_consumer(dedup_window="50", batch_max_age_s="20")

    async def assigned() -> bool:
        return len(await consumer.assigned(ch_session)) == len(SOURCES) * PARTITIONS

    await wait_until(assigned, timeout=40, interval=0.2, message="the consumer assigned")
    await _send(
        pipeline, [(login.source, original, PLAIN)] + [(login.source, v, PLAIN) for v in fillers]
    )

    async def buffered() -> bool:  # counted when its run joins the batch, flushed only at 20 s
        return await consumer.value(ch_session, EVENTS_TOTAL) >= 61

    await wait_until(buffered, timeout=20, interval=0.1, message="the original read and buffered")
    await _send(pipeline, [(login.source, original, MARKED)])
    expected = Expected()
    expected.rows["user_activity"] = 61
    clickhouse = pipeline_clickhouse(pipeline, ch_session)
    counts = await pipeline.wait_for_rows(clickhouse, expected, timeout=15)
    assert counts["user_activity"] == (61, 61)
    found = await consumer.metrics(ch_session)
    outcome = "lookout_ingestion_possible_resends_total"
    assert found.get((outcome, "outcome=stored_before")) == 1, found
    stop_process(consumer.process)


async def _send(
    pipeline: Pipeline, records: list[tuple[str, bytes, list[tuple[str, bytes]]]]
) -> None:
    key = b"one-partition"  # each source's events in one partition of its topic
    producer = AIOKafkaProducer(bootstrap_servers=pipeline.kafka, acks="all", linger_ms=5)
    await producer.start()
    try:
        for source, value, headers in records:
            await producer.send(pipeline.topic(source), value=value, key=key, headers=headers)
        await producer.flush()
    finally:
        await producer.stop()


class _Record:
    def __init__(self, offset: int) -> None:
        self.offset = offset


class _Event:
    def __init__(self, event_id: uuid.UUID) -> None:
        self.id = event_id


class _Taken:
    """The next step: the runs it was given."""

    def __init__(self) -> None:
        self.runs: list[Run] = []

    def submit(self, run: Run) -> None:
        self.runs.append(run)

    def poll(self) -> None: ...

    async def join(self, timeout: float | None = None) -> None: ...

    def close(self) -> None: ...


def _run(ids: list[uuid.UUID], marked: set[int]) -> Run:
    """A run of user_activity logins at offsets 0, 1, ... with the given event ids."""
    records = [_Record(offset) for offset in range(len(ids))]
    run = Run(TopicPartition("t", 0), records, generation=0)
    run.kept = [(record, _Event(event_id)) for record, event_id in zip(records, ids, strict=True)]
    run.rows = [("user_activity", record.offset, b"row") for record in records]
    run.copies_to_check = [("user_activity", offset, (ids[offset],)) for offset in sorted(marked)]
    run.mapped = len(ids)
    return run


async def test_a_marked_copy_of_an_event_earlier_in_its_run_is_dropped_without_a_lookup() -> None:
    looked_up: list[Run] = []

    async def find_stored(run: Run) -> Found:
        looked_up.append(run)
        return Found()

    taken = _Taken()
    step = DropStoredCopies(find_stored, taken)
    first, second = uuid.uuid4(), uuid.uuid4()
    run = _run([first, second, first], marked={2})
    step.submit(run)
    assert looked_up == [] and taken.runs == [run]
    assert [offset for _, offset, _ in run.rows or ()] == [0, 1]
    assert (run.resent, run.mapped) == (1, 2)


async def test_the_run_waits_for_the_lookup_and_loses_only_the_stored_rows() -> None:
    answer: asyncio.Future[Found] = asyncio.get_running_loop().create_future()

    async def find_stored(run: Run) -> Found:
        return await answer

    taken = _Taken()
    step = DropStoredCopies(find_stored, taken)
    run = _run([uuid.uuid4() for _ in range(5)], marked={1, 3, 4})
    with pytest.raises(MessageRejected):
        step.submit(run)
    await asyncio.sleep(0)
    with pytest.raises(MessageRejected):  # still waiting: submitted again after a poll
        step.submit(run)
    answer.set_result(Found(elsewhere={("user_activity", 3)}, here={("user_activity", 4)}))
    await asyncio.sleep(0)
    step.submit(run)
    assert taken.runs == [run]
    assert [offset for _, offset, _ in run.rows or ()] == [0, 1, 2]
    assert (run.resent, run.mapped, run.skipped_rows) == (1, 4, 1)
    assert run.copies_to_check is None


async def test_a_run_forced_through_while_it_waits_is_taken_at_once() -> None:
    started: list[asyncio.Future[Found]] = []

    async def find_stored(run: Run) -> Found:
        started.append(asyncio.get_running_loop().create_future())
        return await started[-1]

    taken = _Taken()
    step = DropStoredCopies(find_stored, taken)
    first = uuid.uuid4()
    run = _run([first, uuid.uuid4(), first, uuid.uuid4()], marked={2, 3})
    with pytest.raises(MessageRejected):
        step.submit(run)
    await asyncio.sleep(0)
    run.forced = True  # Backpressure.release: the log began again
    step.submit(run)
    await asyncio.sleep(0)
    assert taken.runs == [run] and started[0].cancelled()
    assert [offset for _, offset, _ in run.rows or ()] == [0, 1, 3]  # the in-run copy still goes


class _ClickHouse:
    """Answers ``read`` with the next of ``answers`` (an exception is raised)."""

    def __init__(self, *answers: object) -> None:
        self.answers = list(answers)
        self.queries: list[str] = []

    async def read(self, query: str, **_: object) -> object:
        self.queries.append(query)
        answer = self.answers.pop(0)
        if isinstance(answer, BaseException):
            raise answer
        return answer


class _Logs:
    def name(self, partition: TopicPartition) -> str:
        return str(uuid.UUID(int=7))


def _marked_run(activity_id: uuid.UUID) -> Run:
    run = _run([uuid.uuid4()], marked=set())
    row = (activity_id, uuid.uuid4(), uuid.uuid4(), "", "user.login", "user", "u", 1_700_000_000)
    run.copies_to_check = [("user_activity", 0, row)]
    return run


async def _nothing_buffered(_partition: TopicPartition) -> None:
    return None


def _finder(clickhouse: _ClickHouse) -> FindStored:
    return stored_copies_finder(
        clickhouse,  # type: ignore[arg-type]
        _Logs(),  # type: ignore[arg-type]
        Backoff(0.01, 0.02),
        _nothing_buffered,
    )


async def test_a_lookup_clickhouse_cannot_answer_is_retried_and_one_it_refuses_stores_the_rows() -> (
    None
):
    activity_id = uuid.uuid4()
    stored_elsewhere = [
        {
            "id": str(activity_id),
            "_topic": "t",
            "log": str(uuid.UUID(int=7)),
            "_partition": 0,
            "_offset": 99,
        }
    ]
    clickhouse = _ClickHouse(aiohttp.ClientConnectionError("down"), stored_elsewhere)
    found = await _finder(clickhouse)(_marked_run(activity_id))
    assert found.elsewhere == {("user_activity", 0)} and len(clickhouse.queries) == 2
    assert "activity_id = toUUID(" in clickhouse.queries[0]
    assert "date = toDate(toDateTime(1700000000))" in clickhouse.queries[0]

    timeout = ClickHouseError(500, "Code: 159, e.displayText() = DB::Exception: Timeout exceeded")
    refusing = _ClickHouse(timeout)
    found = await _finder(refusing)(_marked_run(activity_id))
    assert (found.elsewhere, found.here, len(refusing.queries)) == (set(), set(), 1)
