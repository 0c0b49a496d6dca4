"""Background workers: a named loop of rounds with backoff on failure, a bounded stop and metrics.

A ``Worker`` runs its ``run_round`` coroutine over and over. What a round returns decides when the
next one runs: ``IDLE`` (``None``) waits for ``wake()`` or for the interval (plus ``linger_s`` after a
wake-up, so that what happens in the next moment joins the round), a number of seconds waits that
long (``AT_ONCE``: none). A round that raises is retried with ``lookout_kit.retry`` (full-jitter
backoff, each failure logged at warning) until it succeeds. ``stop()`` lets the round in progress
finish, ends any wait at once, and cancels the round only when it overruns ``stop_timeout_s``.

Several replicas each run their own workers; what must run once among them takes a lease
(``lookout_kit.lease``) inside its round.

Metrics, labelled by the worker's name: ``lookout_worker_rounds_total{worker,outcome}`` (``ok`` or
``error``), ``lookout_worker_running{worker}``, ``lookout_worker_round_seconds{worker}`` and
``lookout_worker_last_success_timestamp_seconds{worker}``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Awaitable, Callable
from typing import Final, TypeAlias

from prometheus_client import Counter, Gauge, Histogram

from lookout_kit.retry import DEFAULT_BACKOFF, Backoff, RetryStopped, retry

logger = logging.getLogger("lookout.worker")

NextRound: TypeAlias = float | None
IDLE: Final[NextRound] = None
AT_ONCE: Final[NextRound] = 0.0

ROUNDS = Counter(
    "lookout_worker_rounds_total", "Rounds of background workers", ["worker", "outcome"]
)
RUNNING = Gauge("lookout_worker_running", "1 while the background worker's loop runs", ["worker"])
ROUND_SECONDS = Histogram(
    "lookout_worker_round_seconds",
    "Time one round of a background worker took",
    ["worker"],
    buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300),
)
LAST_SUCCESS = Gauge(
    "lookout_worker_last_success_timestamp_seconds",
    "When the background worker's last round succeeded (Unix time)",
    ["worker"],
)


class Worker:
    """One named background loop; ``start()`` and ``stop()`` it from the owner's lifecycle."""

    def __init__(
        self,
        name: str,
        run_round: Callable[[], Awaitable[NextRound]],
        *,
        interval_s: float,
        jitter: float = 0.0,
        linger_s: float = 0.0,
        backoff: Backoff = DEFAULT_BACKOFF,
        stop_timeout_s: float = 10.0,
        on_failure: Callable[[BaseException], Awaitable[None]] | None = None,
    ) -> None:
        if interval_s <= 0 or not 0 <= jitter < 1 or linger_s < 0 or stop_timeout_s < 0:
            raise ValueError(
                "a worker needs interval_s > 0, 0 <= jitter < 1, linger_s >= 0, stop_timeout_s >= 0"
            )
        self.name = name
        self._run_round = run_round
        self._interval_s = interval_s
        self._jitter = jitter
        self._linger_s = linger_s
        self._backoff = backoff
        self._stop_timeout_s = stop_timeout_s
        self._on_failure = on_failure
        self._wake = asyncio.Event()
        self._stopping = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._ok = ROUNDS.labels(name, "ok")
        self._error = ROUNDS.labels(name, "error")
        self._running = RUNNING.labels(name)
        self._seconds = ROUND_SECONDS.labels(name)
        self._last_success = LAST_SUCCESS.labels(name)

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    def start(self) -> None:
        if self.running:
            raise RuntimeError(f"worker {self.name} is already running")
        self._stopping = asyncio.Event()
        self._wake.clear()
        self._task = asyncio.create_task(self._loop(), name=f"worker:{self.name}")

    def wake(self) -> None:
        """Run the next round now, or right after the one in progress (and its linger)."""
        self._wake.set()

    async def stop(self) -> None:
        """Stop the loop: the round in progress may finish within ``stop_timeout_s``, else it is
        cancelled. Does nothing when the worker is not running."""
        task, self._task = self._task, None
        if task is None:
            return
        self._stopping.set()
        self._wake.set()
        done, _ = await asyncio.wait({task}, timeout=self._stop_timeout_s)
        if not done:
            logger.warning(
                "worker did not stop in time; cancelling its round",
                extra={"worker": self.name, "stop_timeout_s": self._stop_timeout_s},
            )
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        elif not task.cancelled() and task.exception() is not None:
            logger.error(
                "worker ended with an error",
                extra={"worker": self.name, "error": repr(task.exception())},
            )

    async def _loop(self) -> None:
        self._running.set(1)
        try:
            while not self._stopping.is_set():
                self._wake.clear()  # a wake-up during the round runs the next one at once
                try:
                    next_round = await retry(
                        self._round,
                        what=f"{self.name} round",
                        backoff=self._backoff,
                        stopping=self._stopping,
                        on_failure=self._on_failure,
                        log=logger,
                        log_extra={"worker": self.name},
                    )
                except RetryStopped:
                    return
                await self._pause(next_round)
        finally:
            self._running.set(0)

    async def _round(self) -> NextRound:
        started = time.perf_counter()
        try:
            next_round = await self._run_round()
        except Exception:
            self._error.inc()
            raise
        finally:
            self._seconds.observe(time.perf_counter() - started)
        self._ok.inc()
        self._last_success.set_to_current_time()
        return next_round

    async def _pause(self, next_round: NextRound) -> None:
        if next_round is not None:
            if next_round > 0:
                await self._wait_stopping(next_round)
            return
        interval = self._interval_s * random.uniform(1 - self._jitter, 1 + self._jitter)
        try:
            await asyncio.wait_for(self._wake.wait(), interval)
        except TimeoutError:
            return
        if self._linger_s and not self._stopping.is_set():
            await self._wait_stopping(self._linger_s)

    async def _wait_stopping(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), seconds)
