"""Leases over a PostgreSQL table, so that replicas share background work and each due item runs once.

The column contract: a table used with these functions has
  - a unique key column (``key``, ``id`` unless told otherwise; any type asyncpg can bind),
  - ``next_run_at TIMESTAMPTZ``: when the item is next due (NULL: not scheduled, never claimed),
  - ``leased_until TIMESTAMPTZ``: while in the future, one replica holds the item (NULL: nobody),
  - ``leased_by TEXT``: who holds (or last held) the lease,
plus an index on ``next_run_at`` once the table grows. Any other columns are the caller's.

``claim_due`` locks due, unleased rows with ``FOR UPDATE SKIP LOCKED`` and sets their lease in the same
statement, so concurrent claimers (replicas) never get the same item: a claimer that meets a row
another has just leased re-checks it and skips it. The holder then ``complete``s the item (its next
run, lease cleared) or ``release``s it (due again at once); ``renew`` extends a long job's lease. Each
of them acts only on rows the ``owner`` still holds, and says how many that was: a lease that expired
and went to another replica is not the old holder's to complete. An item whose holder died becomes
claimable when its lease expires, so ``lease_s`` must outlast the work. Times come from the database's
clock (``statement_timestamp()``), the one all replicas share.

Table and column names are checked identifiers, quoted in the SQL; every value is a bound parameter.
``claim_turn`` / ``finish_turn`` / ``release_turn`` apply the same to the kit's ``periodic_tasks``
table (migration ``kit_0003``): one row per named periodic duty, so that one replica per period does it;
``take_turn`` runs a duty through all three.
"""

from __future__ import annotations

import logging
import os
import re
import socket
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any, TypeAlias, TypeVar

import asyncpg

# asyncpg's pool and connection both run statements; a connection may be inside a transaction.
Database: TypeAlias = "asyncpg.Pool | asyncpg.Connection"
NextRun: TypeAlias = datetime | timedelta | None

PERIODIC_TASKS = "periodic_tasks"
T = TypeVar("T")
logger = logging.getLogger("lookout.lease")

_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")


def quote_identifier(name: str) -> str:
    """``name`` (optionally ``schema.name``) quoted for SQL; anything but plain identifiers is refused."""
    parts = name.split(".")
    if len(parts) > 2 or not all(_IDENTIFIER.match(part) for part in parts):
        raise ValueError(f"not a plain SQL identifier: {name!r}")
    return ".".join(f'"{part}"' for part in parts)


def new_owner(worker: str) -> str:
    """A lease owner name unique to this process and call: ``worker@host:pid:random``."""
    return f"{worker}@{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


@dataclass(frozen=True)
class _Statements:
    claim: str
    claim_keys: str
    complete_at: str
    complete_after: str
    release: str
    renew: str
    ensure: str


@lru_cache(maxsize=64)
def _statements(table: str, key: str) -> _Statements:
    t, k = quote_identifier(table), quote_identifier(key)
    now = "statement_timestamp()"
    due = f"""
        SELECT {k} FROM {t}
        WHERE next_run_at <= {now} AND (leased_until IS NULL OR leased_until <= {now}) {{only}}
        ORDER BY next_run_at
        LIMIT $1
        FOR UPDATE SKIP LOCKED
    """
    claim = f"""
        WITH due AS ({due})
        UPDATE {t} AS item
        SET leased_until = {now} + make_interval(secs => $2), leased_by = $3
        FROM due WHERE item.{k} = due.{k}
        RETURNING item.*
    """
    held = f"{k} = ANY($1) AND leased_by = $2"
    return _Statements(
        claim=claim.replace("{only}", ""),
        claim_keys=claim.replace("{only}", f"AND {k} = ANY($4)"),
        complete_at=f"UPDATE {t} SET next_run_at = $3, leased_until = NULL, leased_by = NULL "
        f"WHERE {held}",
        complete_after=f"UPDATE {t} SET next_run_at = {now} + $3::interval, "
        f"leased_until = NULL, leased_by = NULL WHERE {held}",
        release=f"UPDATE {t} SET leased_until = NULL, leased_by = NULL WHERE {held}",
        renew=f"UPDATE {t} SET leased_until = {now} + make_interval(secs => $3) "
        f"WHERE {held} AND leased_until > {now} RETURNING {k}",
        ensure=f"INSERT INTO {t} ({k}, next_run_at) VALUES ($1, {now}) ON CONFLICT ({k}) DO NOTHING",
    )


def _count(status: str) -> int:
    return int(status.split()[-1])


async def claim_due(
    db: Database,
    table: str,
    *,
    limit: int,
    lease_s: float,
    owner: str,
    key: str = "id",
    only: Sequence[Any] | None = None,
) -> list[asyncpg.Record]:
    """Lease up to ``limit`` due items (oldest ``next_run_at`` first) to ``owner`` for ``lease_s``
    seconds and return their rows, in no particular order. ``only`` limits the claim to those keys."""
    if limit < 1 or lease_s <= 0:
        raise ValueError(f"claim_due needs limit >= 1 and lease_s > 0 (got {limit}, {lease_s})")
    statements = _statements(table, key)
    if only is None:
        rows: list[asyncpg.Record] = await db.fetch(statements.claim, limit, lease_s, owner)
    else:
        rows = await db.fetch(statements.claim_keys, limit, lease_s, owner, list(only))
    return rows


async def complete(
    db: Database,
    table: str,
    keys: Sequence[Any],
    *,
    owner: str,
    next_run: NextRun,
    key: str = "id",
) -> int:
    """Clear ``owner``'s leases of ``keys`` and set their next run: a ``datetime``, a ``timedelta``
    from now, or ``None`` (not scheduled). Returns how many items ``owner`` still held."""
    statements = _statements(table, key)
    if isinstance(next_run, timedelta):
        status = await db.execute(statements.complete_after, list(keys), owner, next_run)
    else:
        status = await db.execute(statements.complete_at, list(keys), owner, next_run)
    return _count(status)


async def release(
    db: Database, table: str, keys: Sequence[Any], *, owner: str, key: str = "id"
) -> int:
    """Give up ``owner``'s leases of ``keys`` without running them: they are due again at once
    (as ``next_run_at`` says). Returns how many items ``owner`` still held."""
    return _count(await db.execute(_statements(table, key).release, list(keys), owner))


async def renew(
    db: Database,
    table: str,
    keys: Sequence[Any],
    *,
    owner: str,
    lease_s: float,
    key: str = "id",
) -> list[Any]:
    """Extend ``owner``'s unexpired leases of ``keys`` to ``lease_s`` from now; return the keys still
    held (a missing key's lease expired: another replica may be running it)."""
    if lease_s <= 0:
        raise ValueError(f"renew needs lease_s > 0 (got {lease_s})")
    rows = await db.fetch(_statements(table, key).renew, list(keys), owner, lease_s)
    return [row[0] for row in rows]


async def ensure_scheduled(db: Database, table: str, item: Any, *, key: str = "id") -> bool:
    """Add ``item`` due now unless the table has it (for tables of key and schedule alone, such as
    ``periodic_tasks``). Returns whether it was added."""
    return _count(await db.execute(_statements(table, key).ensure, item)) == 1


async def claim_turn(db: Database, task: str, *, owner: str, lease_s: float) -> bool:
    """Whether ``owner`` takes the periodic ``task``'s turn now (at most one replica holds it; a
    task seen for the first time is due at once)."""
    await ensure_scheduled(db, PERIODIC_TASKS, task, key="name")
    claimed = await claim_due(
        db, PERIODIC_TASKS, limit=1, lease_s=lease_s, owner=owner, key="name", only=[task]
    )
    return bool(claimed)


async def finish_turn(db: Database, task: str, *, owner: str, every: timedelta) -> bool:
    """End ``owner``'s turn of ``task``: the next turn is due ``every`` from now."""
    return await complete(db, PERIODIC_TASKS, [task], owner=owner, next_run=every, key="name") == 1


async def release_turn(db: Database, task: str, *, owner: str) -> bool:
    """Give the turn up unfinished (the task failed): any replica may take it again at once."""
    return await release(db, PERIODIC_TASKS, [task], owner=owner, key="name") == 1


async def take_turn(
    db: Database,
    task: str,
    work: Callable[[], Awaitable[T]],
    *,
    owner: str,
    every: timedelta,
    lease_s: float,
) -> T | None:
    """Run ``work`` if ``owner`` takes ``task``'s turn now, then schedule the next turn ``every``
    from now; ``None`` when the turn is not due or another replica holds it. ``work`` that raises
    hands the turn back (any replica may take it again at once) and the error goes on. ``lease_s``
    must outlast the work: a replica that dies mid-turn holds it that long."""
    if not await claim_turn(db, task, owner=owner, lease_s=lease_s):
        return None
    try:
        result = await work()
    except Exception:
        try:
            await release_turn(db, task, owner=owner)
        except Exception as error:
            logger.warning("releasing a turn failed", extra={"task": task, "error": repr(error)})
        raise
    await finish_turn(db, task, owner=owner, every=every)
    return result
