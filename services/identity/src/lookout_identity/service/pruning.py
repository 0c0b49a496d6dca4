"""What identity keeps no longer than it needs: one replica per ``prune_interval_s`` (the kit's
``periodic_tasks`` turn ``identity.prune``) deletes, in chunks, sessions ended longer ago than
``ended_session_retention_s`` (their refresh tokens with them), refresh tokens expired as long,
and login-throttle rows whose window and lock are over. A kit component: its worker runs while
the service does."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta

import asyncpg
from lookout_kit.app import Runtime
from lookout_kit.lease import new_owner, take_turn
from lookout_kit.worker import IDLE, NextRound, Worker

from lookout_identity.repository import login_throttle, sessions
from lookout_identity.settings import Settings

logger = logging.getLogger("lookout.identity.pruning")

PRUNE_TASK = "identity.prune"
CHUNK = 5_000
CHECKS_PER_INTERVAL = 4
"""How often per interval a replica looks whether the turn is due (one of them takes it)."""


@dataclass(frozen=True)
class Pruned:
    sessions: int
    refresh_tokens: int
    throttle_rows: int


async def _in_chunks(
    pool: asyncpg.Pool,
    delete: Callable[[asyncpg.Connection, float, int], Awaitable[int]],
    age_s: float,
) -> int:
    total = 0
    while True:
        async with pool.acquire() as conn:
            deleted = await delete(conn, age_s, CHUNK)
        total += deleted
        if deleted < CHUNK:
            return total


async def prune(pool: asyncpg.Pool, settings: Settings) -> Pruned:
    retention = settings.ended_session_retention_s
    return Pruned(
        sessions=await _in_chunks(pool, sessions.delete_ended_sessions, retention),
        refresh_tokens=await _in_chunks(pool, sessions.delete_expired_refresh_tokens, retention),
        throttle_rows=await _in_chunks(
            pool, login_throttle.delete_stale, settings.throttle_window_s
        ),
    )


async def prune_turn(pool: asyncpg.Pool, settings: Settings, owner: str) -> Pruned | None:
    """Prune if this replica takes the interval's turn; what went (None: not this one's turn)."""
    pruned = await take_turn(
        pool,
        PRUNE_TASK,
        lambda: prune(pool, settings),
        owner=owner,
        every=timedelta(seconds=settings.prune_interval_s),
        lease_s=max(settings.prune_interval_s, 60.0),
    )
    if pruned is not None and (pruned.sessions or pruned.refresh_tokens or pruned.throttle_rows):
        logger.info("pruned", extra=vars(pruned))
    return pruned


class Pruning:
    """The pruning worker, as a kit component."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.owner = new_owner("identity-prune")
        self.worker: Worker | None = None

    async def start(self, runtime: Runtime) -> None:
        pool = runtime.require_pool()

        async def round_() -> NextRound:
            await prune_turn(pool, self.settings, self.owner)
            return IDLE

        self.worker = Worker(
            "identity-prune",
            round_,
            interval_s=self.settings.prune_interval_s / CHECKS_PER_INTERVAL,
            jitter=0.2,
        )
        self.worker.start()

    async def stop(self) -> None:
        if self.worker is not None:
            await self.worker.stop()
