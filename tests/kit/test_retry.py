"""Retries with backoff (lookout_kit.retry): results, bounds, the stop event, logs and the delays."""

from __future__ import annotations

import asyncio
import gc
import logging
import weakref

import pytest
from hypothesis import given
from hypothesis import strategies as st
from lookout_kit.retry import Backoff, RetryStopped, retry
from lookout_testing.waiting import wait_until

TINY = Backoff(initial_s=0.0001, max_s=0.001)


class Flaky:
    """An operation that fails ``failures`` times with ``error`` before it returns ``"done"``."""

    def __init__(self, failures: int, error: type[Exception] = ConnectionError) -> None:
        self.failures = failures
        self.error = error
        self.calls = 0

    async def __call__(self) -> str:
        self.calls += 1
        if self.calls <= self.failures:
            raise self.error(f"failure {self.calls}")
        return "done"


def retry_records(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "lookout.retry"]


async def test_retries_until_success_logging_each_failure(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="lookout.retry")
    operation = Flaky(5)
    backoff = Backoff(initial_s=0.001, max_s=0.004)
    assert await retry(operation, what="the flaky thing", backoff=backoff) == "done"
    assert operation.calls == 6
    records = retry_records(caplog)
    assert [r.getMessage() for r in records] == ["the flaky thing failed; retrying"] * 5
    assert all(r.levelno == logging.WARNING for r in records)
    assert [r.__dict__["error"] for r in records] == [
        repr(ConnectionError(f"failure {n}")) for n in range(1, 6)
    ]
    assert [r.__dict__["attempt"] for r in records] == [1, 2, 3, 4, 5]
    for n, record in enumerate(records):
        assert 0 <= record.__dict__["retry_in_s"] <= backoff.cap(n)


async def test_without_a_bound_it_never_gives_up() -> None:
    operation = Flaky(200)
    assert await retry(operation, what="stubborn", backoff=TINY) == "done"
    assert operation.calls == 201


async def test_gives_up_after_max_attempts_with_the_last_error(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="lookout.retry")
    operation = Flaky(10)
    with pytest.raises(ConnectionError, match="failure 3"):
        await retry(operation, what="bounded", backoff=TINY, max_attempts=3)
    assert operation.calls == 3
    assert [r.getMessage() for r in retry_records(caplog)] == [
        "bounded failed; retrying",
        "bounded failed; retrying",
        "bounded failed; giving up",
    ]


async def test_errors_it_is_not_told_to_retry_propagate_at_once() -> None:
    operation = Flaky(3, error=ValueError)
    with pytest.raises(ValueError, match="failure 1"):
        await retry(operation, what="picky", backoff=TINY, retry_on=(ConnectionError, OSError))
    assert operation.calls == 1


async def test_on_failure_runs_after_every_failure_before_the_next_attempt() -> None:
    operation = Flaky(3)
    seen: list[tuple[str, int]] = []

    async def on_failure(error: BaseException) -> None:
        seen.append((str(error), operation.calls))

    await retry(operation, what="cleaned up", backoff=TINY, on_failure=on_failure)
    assert seen == [("failure 1", 1), ("failure 2", 2), ("failure 3", 3)]


async def test_the_stop_event_ends_a_long_wait_at_once(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="lookout.retry")
    operation = Flaky(1_000)
    stopping = asyncio.Event()
    task = asyncio.create_task(
        retry(operation, what="patient", backoff=Backoff(60, 60), stopping=stopping)
    )

    async def waiting() -> bool:
        return bool(retry_records(caplog))

    await wait_until(waiting, message="the first failure to be logged")
    stopping.set()
    with pytest.raises(RetryStopped) as stopped:
        await asyncio.wait_for(task, timeout=5)  # the wait itself was up to 60 s
    assert operation.calls == 1
    assert isinstance(stopped.value.__cause__, ConnectionError)


async def test_a_set_stop_event_prevents_any_attempt() -> None:
    operation = Flaky(0)
    stopping = asyncio.Event()
    stopping.set()
    with pytest.raises(RetryStopped):
        await retry(operation, what="late", stopping=stopping)
    assert operation.calls == 0


async def test_a_failure_while_stopping_is_not_retried(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="lookout.retry")
    stopping = asyncio.Event()

    async def fails_as_we_stop() -> str:
        stopping.set()  # e.g. shutdown began while the attempt ran
        raise ConnectionError("gone")

    with pytest.raises(RetryStopped):
        await retry(fails_as_we_stop, what="shutting", backoff=Backoff(60, 60), stopping=stopping)
    assert [r.getMessage() for r in retry_records(caplog)] == ["shutting failed; stopping"]


@given(
    initial_s=st.floats(min_value=1e-4, max_value=10),
    ratio=st.floats(min_value=1, max_value=1_000),
    attempt=st.integers(min_value=0, max_value=200),
)
def test_delays_lie_between_zero_and_the_cap(initial_s: float, ratio: float, attempt: int) -> None:
    backoff = Backoff(initial_s=initial_s, max_s=initial_s * ratio)
    cap = backoff.cap(attempt)
    assert cap == pytest.approx(min(backoff.max_s, initial_s * 2.0**attempt))
    assert 0 <= backoff.delay(attempt) <= cap <= backoff.max_s


def test_delays_are_jittered_over_the_whole_range() -> None:
    backoff = Backoff(initial_s=0.1, max_s=1.0)
    delays = [backoff.delay(5) for _ in range(1_000)]
    assert backoff.cap(5) == 1.0
    assert min(delays) < 0.1
    assert max(delays) > 0.9


@pytest.mark.parametrize(("initial_s", "max_s"), [(0, 1), (-1, 1), (2, 1)])
def test_a_backoff_needs_a_positive_start_below_its_cap(initial_s: float, max_s: float) -> None:
    with pytest.raises(ValueError, match="initial_s"):
        Backoff(initial_s=initial_s, max_s=max_s)


async def test_what_the_operation_holds_is_freed_when_retry_returns_without_a_collection() -> None:
    """tenacity's objects form a cycle; the rows an insert passes in must not be kept in it until
    the cyclic collector runs (ingestion runs it by the clock)."""

    class Rows:
        pass

    async def insert() -> weakref.ref[Rows]:
        rows = Rows()

        async def operation() -> int:
            return len([rows])

        async def on_failure(_error: BaseException) -> None:
            del _error

        assert await retry(operation, what="an insert", on_failure=on_failure) == 1
        return weakref.ref(rows)

    gc.disable()
    try:
        gone = await insert()
        assert gone() is None
    finally:
        gc.enable()
