"""Background workers (lookout_kit.worker): rounds, wake-ups, backoff, a bounded stop, metrics."""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from lookout_kit.retry import Backoff
from lookout_kit.worker import AT_ONCE, IDLE, NextRound, Worker
from lookout_testing.waiting import wait_until
from prometheus_client import REGISTRY
from tenacity.wait import wait_exponential


def sample(metric: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(metric, labels) or 0.0


class Rounds:
    """A round function that records when it ran and plays a script of outcomes: a number or
    ``IDLE`` to return, an exception to raise; past the script's end it returns ``IDLE``."""

    def __init__(self, *script: NextRound | Exception) -> None:
        self.script = list(script)
        self.started: list[float] = []

    async def __call__(self) -> NextRound:
        self.started.append(time.monotonic())
        step = self.script.pop(0) if self.script else IDLE
        if isinstance(step, Exception):
            raise step
        return step

    @property
    def calls(self) -> int:
        return len(self.started)

    def reached(self, calls: int) -> Callable[[], Awaitable[bool]]:
        async def condition() -> bool:
            return self.calls >= calls

        return condition


class WithoutJitter(Backoff):
    """The cap itself as every delay, so that a test can say which waits the worker must make."""

    def wait(self) -> Any:
        return wait_exponential(multiplier=self.initial_s, max=self.max_s)


def worker_name() -> str:
    return f"test-{uuid.uuid4().hex[:8]}"


async def test_a_worker_runs_a_round_then_waits_for_a_wake_up() -> None:
    rounds = Rounds()
    worker = Worker(worker_name(), rounds, interval_s=60)
    assert sample("lookout_worker_running", worker=worker.name) == 0
    worker.start()
    try:
        await wait_until(rounds.reached(1), message="the first round")
        assert worker.running
        assert sample("lookout_worker_running", worker=worker.name) == 1
        worker.wake()
        await wait_until(rounds.reached(2), message="the round after the wake-up")
        worker.wake()
        await wait_until(rounds.reached(3), message="the round after the second wake-up")
    finally:
        await worker.stop()
    assert not worker.running
    assert sample("lookout_worker_running", worker=worker.name) == 0
    assert sample("lookout_worker_rounds_total", worker=worker.name, outcome="ok") == 3
    assert sample("lookout_worker_round_seconds_count", worker=worker.name) == 3
    assert sample("lookout_worker_last_success_timestamp_seconds", worker=worker.name) > 0


async def test_an_idle_worker_runs_again_after_its_interval() -> None:
    rounds = Rounds()
    worker = Worker(worker_name(), rounds, interval_s=0.05, jitter=0.5)
    worker.start()
    try:
        await wait_until(rounds.reached(4), message="rounds at the interval, with no wake-up")
    finally:
        await worker.stop()


async def test_a_round_that_asks_for_more_runs_again_without_waiting() -> None:
    rounds = Rounds(AT_ONCE, AT_ONCE, 0.01, AT_ONCE, IDLE)
    worker = Worker(worker_name(), rounds, interval_s=60)
    worker.start()
    try:
        await wait_until(rounds.reached(5), message="five rounds without a wake-up")
    finally:
        await worker.stop()
    assert rounds.calls == 5  # the fifth said IDLE: no sixth within the 60 s interval
    assert rounds.started[3] - rounds.started[2] >= 0.01


async def test_after_a_wake_up_the_round_lingers() -> None:
    rounds = Rounds()
    worker = Worker(worker_name(), rounds, interval_s=60, linger_s=0.2)
    worker.start()
    try:
        await wait_until(rounds.reached(1), message="the first round")
        woken = time.monotonic()
        worker.wake()
        await wait_until(rounds.reached(2), message="the round after the wake-up")
    finally:
        await worker.stop()
    assert rounds.started[1] - woken >= 0.2


async def test_failing_rounds_back_off_and_a_success_starts_the_backoff_over(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="lookout.worker")
    failures = [ConnectionError(f"down {n}") for n in range(6)]
    rounds = Rounds(*failures[:4], AT_ONCE, *failures[4:], IDLE)
    seen: list[BaseException] = []

    async def on_failure(error: BaseException) -> None:
        seen.append(error)

    backoff = WithoutJitter(initial_s=0.01, max_s=0.04)
    worker = Worker(worker_name(), rounds, interval_s=60, backoff=backoff, on_failure=on_failure)
    worker.start()
    try:
        await wait_until(rounds.reached(8), message="the rounds after the failures")
    finally:
        await worker.stop()
    assert seen == failures
    records = [r for r in caplog.records if r.__dict__.get("worker") == worker.name]
    assert all(r.getMessage() == f"{worker.name} round failed; retrying" for r in records)
    assert [r.__dict__["error"] for r in records] == [repr(error) for error in failures]
    assert [r.__dict__["attempt"] for r in records] == [1, 2, 3, 4, 1, 2]
    # The waits grow up to the cap, start over after a success, and the worker keeps them.
    delays = [0.01, 0.02, 0.04, 0.04, 0.01, 0.02]
    assert [r.__dict__["retry_in_s"] for r in records] == delays
    retried = [1, 2, 3, 4, 6, 7]
    for delay, index in zip(delays, retried, strict=True):
        assert rounds.started[index] - rounds.started[index - 1] >= delay - 0.001
    assert sample("lookout_worker_rounds_total", worker=worker.name, outcome="error") == 6
    assert sample("lookout_worker_rounds_total", worker=worker.name, outcome="ok") == 2


async def test_stop_lets_the_round_in_progress_finish() -> None:
    entered, release = asyncio.Event(), asyncio.Event()
    finished: list[bool] = []

    async def slow_round() -> NextRound:
        entered.set()
        await release.wait()
        finished.append(True)
        return AT_ONCE  # asks for more, yet the worker is stopping

    worker = Worker(worker_name(), slow_round, interval_s=60, stop_timeout_s=30)
    worker.start()
    await asyncio.wait_for(entered.wait(), timeout=5)
    stopping = asyncio.create_task(worker.stop())
    for _ in range(20):
        await asyncio.sleep(0)  # let stop() run as far as it would without the round's end
    assert not stopping.done()
    release.set()
    await asyncio.wait_for(stopping, timeout=5)
    assert finished == [True]
    assert not worker.running


async def test_stop_cancels_a_round_that_overruns_its_bound() -> None:
    entered = asyncio.Event()
    cancelled: list[bool] = []

    async def stuck_round() -> NextRound:
        entered.set()
        try:
            await asyncio.Event().wait()  # never set
        except asyncio.CancelledError:
            cancelled.append(True)
            raise
        return IDLE

    worker = Worker(worker_name(), stuck_round, interval_s=60, stop_timeout_s=0.2)
    worker.start()
    await asyncio.wait_for(entered.wait(), timeout=5)
    began = time.monotonic()
    await asyncio.wait_for(worker.stop(), timeout=5)
    assert time.monotonic() - began >= 0.2
    assert cancelled == [True]
    assert not worker.running
    assert sample("lookout_worker_running", worker=worker.name) == 0


async def test_stop_ends_a_backoff_wait_at_once() -> None:
    rounds = Rounds(*[ConnectionError("down")] * 10)
    worker = Worker(worker_name(), rounds, interval_s=60, backoff=Backoff(60, 60))
    worker.start()
    await wait_until(rounds.reached(1), message="the failing round")
    began = time.monotonic()
    await asyncio.wait_for(worker.stop(), timeout=5)  # the backoff wait was up to 60 s
    assert time.monotonic() - began < 5
    assert rounds.calls == 1


async def test_stop_ends_an_idle_wait_at_once_and_a_worker_starts_again() -> None:
    rounds = Rounds()
    worker = Worker(worker_name(), rounds, interval_s=60, linger_s=60)
    worker.start()
    with pytest.raises(RuntimeError, match="already running"):
        worker.start()
    await wait_until(rounds.reached(1), message="the first round")
    await asyncio.wait_for(worker.stop(), timeout=5)
    await worker.stop()  # a second stop is harmless
    worker.start()
    try:
        await wait_until(rounds.reached(2), message="the first round after the restart")
    finally:
        await asyncio.wait_for(worker.stop(), timeout=5)


@pytest.mark.parametrize(
    "options",
    [{"interval_s": 0}, {"jitter": 1.0}, {"linger_s": -1}, {"stop_timeout_s": -1}],
)
def test_a_worker_refuses_nonsense_timing(options: dict[str, float]) -> None:
    settings = {"interval_s": 1.0, **options}
    with pytest.raises(ValueError, match="interval_s"):
        Worker("nonsense", Rounds(), **settings)
