"""Retries with exponential backoff and full jitter (tenacity), stoppable by an ``asyncio.Event``.

``retry(operation, what=..., backoff=..., stopping=...)`` calls ``operation`` until it succeeds, the
``stopping`` event is set (``RetryStopped``), or ``max_attempts`` is spent (the last error is raised).
Each failed attempt is logged at warning level with the error's ``repr``. The wait after the n-th
failure is drawn uniformly from ``[0, min(max_s, initial_s * 2**(n-1))]`` ("full jitter"), so that
replicas that failed together do not retry together; a set ``stopping`` event ends a wait at once.

Loops that count attempts themselves use the same strategy through ``Backoff.delay(attempt)``
(``attempt`` 0 = the wait after the first failure) or hand ``Backoff.wait()`` to tenacity.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, NoReturn, TypeVar, cast

from tenacity import AsyncRetrying, RetryCallState, retry_if_exception
from tenacity.wait import wait_exponential, wait_random_exponential

T = TypeVar("T")

logger = logging.getLogger("lookout.retry")

ErrorTypes = type[BaseException] | tuple[type[BaseException], ...]


class RetryStopped(Exception):
    """The ``stopping`` event was set before the operation succeeded."""


@dataclass(frozen=True)
class Backoff:
    """Exponential backoff with full jitter: the n-th wait lies in ``[0, cap(n - 1)]``."""

    initial_s: float = 0.1
    max_s: float = 10.0

    def __post_init__(self) -> None:
        if not 0 < self.initial_s <= self.max_s:
            raise ValueError(
                f"backoff needs 0 < initial_s <= max_s (got {self.initial_s}, {self.max_s})"
            )

    def wait(self) -> wait_random_exponential:
        """The tenacity wait strategy (``retry`` uses it; so may any other ``AsyncRetrying``)."""
        return wait_random_exponential(multiplier=self.initial_s, max=self.max_s)

    def delay(self, attempt: int) -> float:
        """A random wait before retrying after ``attempt + 1`` consecutive failures."""
        return float(self.wait()(_state(attempt)))

    def cap(self, attempt: int) -> float:
        """The largest wait ``delay(attempt)`` may return."""
        return float(wait_exponential(multiplier=self.initial_s, max=self.max_s)(_state(attempt)))


DEFAULT_BACKOFF = Backoff()


def _state(attempt: int) -> RetryCallState:
    if attempt < 0:
        raise ValueError(f"attempt counts from 0 (got {attempt})")
    state = RetryCallState(AsyncRetrying(), None, (), {})
    state.attempt_number = attempt + 1  # tenacity counts attempts from 1
    return state


async def retry(
    operation: Callable[[], Awaitable[T]],
    *,
    what: str,
    backoff: Backoff = DEFAULT_BACKOFF,
    stopping: asyncio.Event | None = None,
    retry_on: ErrorTypes = Exception,
    max_attempts: int | None = None,
    on_failure: Callable[[BaseException], Awaitable[None]] | None = None,
    log: logging.Logger = logger,
    log_extra: dict[str, Any] | None = None,
) -> T:
    """Run ``operation`` until it succeeds and return its result.

    Only errors of ``retry_on`` are retried; any other propagates at once. ``on_failure`` runs after
    every retried failure, before the wait (e.g. to drop a broken connection). Without
    ``max_attempts`` it never gives up; with it, the last error is raised after that many attempts.
    Raises ``RetryStopped`` when ``stopping`` is set: before an attempt (also the first), or after a
    failure, ending the wait at once; an attempt in progress is not interrupted.
    """
    if max_attempts is not None and max_attempts < 1:
        raise ValueError(f"max_attempts must be at least 1 (got {max_attempts})")
    extra = dict(log_extra or {})
    last_error: BaseException | None = None
    # tenacity's objects reference each other (a cycle, freed only by the cyclic collector):
    # what ``operation`` and ``on_failure`` hold (an insert's rows) is let go of at the end, so
    # it is freed at once and not kept, and traversed, until a collection.
    calls: dict[str, Any] = {"operation": operation, "on_failure": on_failure}

    def stopped() -> bool:
        return stopping is not None and stopping.is_set()

    def should_retry(error: BaseException) -> bool:
        return isinstance(error, retry_on) and not isinstance(error, RetryStopped)

    def should_stop(state: RetryCallState) -> bool:
        return stopped() or (max_attempts is not None and state.attempt_number >= max_attempts)

    async def after(state: RetryCallState) -> None:
        nonlocal last_error
        last_error = _error(state)
        if calls["on_failure"] is not None:
            await calls["on_failure"](last_error)

    def before_sleep(state: RetryCallState) -> None:
        log.warning(
            f"{what} failed; retrying",
            extra={
                **extra,
                "error": repr(_error(state)),
                "attempt": state.attempt_number,
                "retry_in_s": round(state.upcoming_sleep, 3),
            },
        )

    def give_up(state: RetryCallState) -> NoReturn:
        error = _error(state)
        outcome = "stopping" if stopped() else "giving up"
        log.warning(
            f"{what} failed; {outcome}",
            extra={**extra, "error": repr(error), "attempt": state.attempt_number},
        )
        if stopped():
            raise RetryStopped(what) from error
        raise error

    async def sleep(seconds: float) -> None:
        if stopping is None:
            await asyncio.sleep(seconds)
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stopping.wait(), seconds)

    async def attempt() -> T:
        if stopped():
            raise RetryStopped(what) from last_error
        return cast(T, await calls["operation"]())

    retrying = AsyncRetrying(
        sleep=sleep,
        stop=should_stop,
        wait=backoff.wait(),
        retry=retry_if_exception(should_retry),
        after=after,
        before_sleep=before_sleep,
        retry_error_callback=give_up,
    )
    try:
        return cast(T, await retrying(attempt))
    finally:
        calls.clear()


def _error(state: RetryCallState) -> BaseException:
    assert state.outcome is not None and state.outcome.failed  # tenacity calls us after a failure
    error = state.outcome.exception()
    assert error is not None
    return error
