"""Leases (lookout_kit.lease) against real PostgreSQL: concurrent claimers, expiry, completion, and
the outbox prune that takes its turn through one."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest
from lookout_kit.database import create_pool
from lookout_kit.lease import (
    claim_due,
    claim_turn,
    complete,
    finish_turn,
    new_owner,
    quote_identifier,
    release,
    release_turn,
    renew,
)
from lookout_kit.outbox import publish_many_in_tx
from lookout_testing.servers import Servers
from lookout_testing.waiting import wait_until

from .factories import make_relay, step_event

JOBS = """
CREATE TABLE jobs (
    id INT PRIMARY KEY,
    next_run_at TIMESTAMPTZ,
    leased_until TIMESTAMPTZ,
    leased_by TEXT,
    payload TEXT NOT NULL DEFAULT ''
)
"""


@pytest.fixture
async def pool(database: str) -> AsyncIterator[asyncpg.Pool]:
    pool = await create_pool(database, min_size=1, max_size=10)
    await pool.execute(JOBS)
    yield pool
    await pool.close()


async def add_jobs(
    pool: asyncpg.Pool, ids: range, *, due_in: timedelta | None = timedelta(seconds=-1)
) -> None:
    """Jobs ``ids``, due ``due_in`` from now (None: not scheduled)."""
    await pool.executemany(
        "INSERT INTO jobs (id, next_run_at) VALUES ($1, now() + $2)",
        [(i, due_in) for i in ids],
    )


async def claim_ids(pool: asyncpg.Pool, owner: str, *, limit: int = 10, lease_s: float = 60) -> set:
    rows = await claim_due(pool, "jobs", limit=limit, lease_s=lease_s, owner=owner)
    return {row["id"] for row in rows}


async def test_concurrent_claimers_get_each_due_item_exactly_once(pool: asyncpg.Pool) -> None:
    await add_jobs(pool, range(400))
    await add_jobs(pool, range(400, 450), due_in=timedelta(hours=1))
    await add_jobs(pool, range(450, 470), due_in=None)
    claimers = 8
    start = asyncio.Barrier(claimers)

    async def claimer(number: int) -> list[int]:
        owner = f"replica-{number}"
        got: list[int] = []
        async with pool.acquire() as conn:
            await start.wait()
            while len(got) <= 400:  # more than 400 would already be a failure
                rows = await claim_due(conn, "jobs", limit=7, lease_s=60, owner=owner)
                if not rows:
                    return got
                assert all(row["leased_by"] == owner for row in rows)
                got.extend(row["id"] for row in rows)
        return got

    claimed = await asyncio.gather(*(claimer(n) for n in range(claimers)))
    every = [job for jobs in claimed for job in jobs]
    duplicates = [job for job, times in Counter(every).items() if times > 1]
    assert duplicates == []
    assert sorted(every) == list(range(400))
    holders = await pool.fetch("SELECT id, leased_by FROM jobs WHERE leased_until > now()")
    assert {row["id"]: row["leased_by"] for row in holders} == {
        job: f"replica-{number}" for number, jobs in enumerate(claimed) for job in jobs
    }


async def test_a_claim_never_waits_for_rows_another_claim_holds_locked(
    pool: asyncpg.Pool,
) -> None:
    await add_jobs(pool, range(2))
    async with pool.acquire() as conn, conn.transaction():
        first = await claim_due(conn, "jobs", limit=1, lease_s=60, owner="slow")
        # Uncommitted: the row is locked, its lease not yet visible. Another claim skips it.
        other = await asyncio.wait_for(claim_ids(pool, "quick"), timeout=5)
        assert {row["id"] for row in first} | other == {0, 1}
        assert not {row["id"] for row in first} & other
    assert await claim_ids(pool, "late") == set()


async def test_the_oldest_due_items_are_claimed_first_up_to_the_limit(pool: asyncpg.Pool) -> None:
    for i in reversed(range(10)):  # stored newest first, so that only ORDER BY finds the oldest
        await add_jobs(pool, range(i, i + 1), due_in=timedelta(minutes=i - 10))
    assert await claim_ids(pool, "a", limit=3) == {0, 1, 2}
    assert await claim_ids(pool, "b", limit=3) == {3, 4, 5}


async def test_a_leased_item_is_not_claimed_again_until_its_lease_expires(
    pool: asyncpg.Pool,
) -> None:
    await add_jobs(pool, range(1))
    assert await claim_ids(pool, "first", lease_s=0.3) == {0}
    assert await claim_ids(pool, "second") == set()

    async def second_claims() -> set:
        return await claim_ids(pool, "second")

    assert await wait_until(second_claims, timeout=5, message="the lease to expire") == {0}
    # The first holder lost it: it may neither renew nor complete it any more.
    assert await renew(pool, "jobs", [0], owner="first", lease_s=60) == []
    assert await complete(pool, "jobs", [0], owner="first", next_run=timedelta(hours=1)) == 0
    assert await complete(pool, "jobs", [0], owner="second", next_run=timedelta(hours=1)) == 1


async def test_a_completed_item_is_not_due_until_its_next_run(pool: asyncpg.Pool) -> None:
    await add_jobs(pool, range(3))
    assert await claim_ids(pool, "worker") == {0, 1, 2}
    assert await complete(pool, "jobs", [0], owner="worker", next_run=timedelta(seconds=0.3)) == 1
    later = datetime.now(UTC) + timedelta(hours=1)
    assert await complete(pool, "jobs", [1], owner="worker", next_run=later) == 1
    assert await complete(pool, "jobs", [2], owner="worker", next_run=None) == 1
    row = await pool.fetchrow("SELECT * FROM jobs WHERE id = 1")
    assert row["leased_until"] is None and row["leased_by"] is None
    assert row["next_run_at"] == later
    assert await claim_ids(pool, "other") == set()

    async def first_due_again() -> set:
        return await claim_ids(pool, "other")

    assert await wait_until(first_due_again, timeout=5, message="job 0's next run") == {0}
    assert await pool.fetchval("SELECT next_run_at FROM jobs WHERE id = 2") is None


async def test_a_released_item_is_due_again_at_once_for_anyone(pool: asyncpg.Pool) -> None:
    await add_jobs(pool, range(2))
    assert await claim_ids(pool, "worker") == {0, 1}
    assert await release(pool, "jobs", [0, 1], owner="someone else") == 0
    assert await claim_ids(pool, "other") == set()
    assert await release(pool, "jobs", [0], owner="worker") == 1
    assert await claim_ids(pool, "other") == {0}


async def test_renewing_extends_only_the_holders_lease(pool: asyncpg.Pool) -> None:
    await add_jobs(pool, range(2))
    assert await claim_ids(pool, "worker", lease_s=5) == {0, 1}
    assert await renew(pool, "jobs", [0, 1], owner="intruder", lease_s=600) == []
    assert await renew(pool, "jobs", [0], owner="worker", lease_s=600) == [0]
    remaining = await pool.fetch("SELECT id, leased_until - now() AS left FROM jobs ORDER BY id")
    assert remaining[0]["left"] > timedelta(seconds=590)
    assert remaining[1]["left"] < timedelta(seconds=6)
    await pool.execute("UPDATE jobs SET leased_until = now() - interval '1 second' WHERE id = 1")
    assert await renew(pool, "jobs", [0, 1], owner="worker", lease_s=600) == [0]  # 1 expired


async def test_a_claim_may_be_limited_to_some_keys(pool: asyncpg.Pool) -> None:
    await add_jobs(pool, range(5))
    rows = await claim_due(pool, "jobs", limit=10, lease_s=60, owner="w", only=[1, 3, 9])
    assert {row["id"] for row in rows} == {1, 3}


BAD_NAMES = [
    ("jobs; DROP TABLE jobs", "id"),
    ('jobs"', "id"),
    ("jobs", "id = id OR true"),
    ("a.b.c", "id"),
    ("", "id"),
]


async def test_names_must_be_plain_identifiers(pool: asyncpg.Pool) -> None:
    await add_jobs(pool, range(1))
    for table, key in BAD_NAMES:
        with pytest.raises(ValueError, match="identifier"):
            await claim_due(pool, table, limit=1, lease_s=1, owner="w", key=key)
        with pytest.raises(ValueError, match="identifier"):
            await complete(pool, table, [0], owner="w", next_run=None, key=key)
    # Nothing ran: the table is still there and the job untouched.
    assert await pool.fetchval("SELECT leased_by FROM jobs WHERE id = 0") is None


def test_identifiers_are_quoted_as_written() -> None:
    assert quote_identifier("jobs") == '"jobs"'
    assert quote_identifier("public.jobs") == '"public"."jobs"'


async def test_a_claim_needs_a_limit_and_a_lease(pool: asyncpg.Pool) -> None:
    for limit, lease_s in [(0, 1.0), (1, 0.0), (1, -1.0)]:
        with pytest.raises(ValueError, match="limit"):
            await claim_due(pool, "jobs", limit=limit, lease_s=lease_s, owner="w")


async def test_one_replica_per_period_takes_a_periodic_tasks_turn(outbox_database: str) -> None:
    pool = await create_pool(outbox_database, min_size=1, max_size=6)
    try:
        owners = [new_owner("pruner") for _ in range(5)]
        assert len(set(owners)) == 5
        turns = await asyncio.gather(
            *(claim_turn(pool, "nightly", owner=owner, lease_s=60) for owner in owners)
        )
        assert sorted(turns) == [False, False, False, False, True]
        winner = owners[turns.index(True)]
        loser = owners[turns.index(False)]
        assert not await finish_turn(pool, "nightly", owner=loser, every=timedelta(hours=1))
        assert await release_turn(pool, "nightly", owner=winner)
        assert await claim_turn(pool, "nightly", owner=loser, lease_s=60)
        assert await finish_turn(pool, "nightly", owner=loser, every=timedelta(hours=1))
        assert not any(
            [await claim_turn(pool, "nightly", owner=owner, lease_s=60) for owner in owners]
        )
        # Another task has turns of its own.
        assert await claim_turn(pool, "weekly", owner=loser, lease_s=60)
    finally:
        await pool.close()


async def add_old_published_events(pool: asyncpg.Pool, topic: str, count: int) -> None:
    async with pool.acquire() as conn, conn.transaction():
        await publish_many_in_tx(conn, [step_event("old", i) for i in range(count)], topic=topic)
    await pool.execute(
        "UPDATE outbox SET published_at = now() - interval '2 hours' WHERE published_at IS NULL"
    )


async def outbox_rows(pool: asyncpg.Pool) -> int:
    return int(await pool.fetchval("SELECT count(*) FROM outbox"))


async def test_one_relay_of_several_prunes_the_outbox_per_interval(
    outbox_database: str, servers: Servers, topic: str
) -> None:
    pool = await create_pool(outbox_database, min_size=1, max_size=6)
    relays = [make_relay(outbox_database, pool, servers.kafka) for _ in range(3)]
    try:
        await add_old_published_events(pool, topic, 4)
        pruned = await asyncio.gather(*(relay.prune_due() for relay in relays))
        assert sorted(pruned, key=str) == [4, None, None]
        assert await outbox_rows(pool) == 0

        await add_old_published_events(pool, topic, 2)
        assert [await relay.prune_due() for relay in relays] == [None, None, None]
        assert await outbox_rows(pool) == 2  # this interval's prune is done

        await pool.execute(
            "UPDATE periodic_tasks SET next_run_at = now() WHERE name = 'outbox.prune'"
        )
        pruned = await asyncio.gather(*(relay.prune_due() for relay in relays))
        assert sorted(pruned, key=str) == [2, None, None]
        assert await outbox_rows(pool) == 0
    finally:
        for relay in relays:
            await relay.stop()
        await pool.close()


async def test_a_started_relay_prunes_when_the_turn_is_due(
    outbox_database: str, servers: Servers, topic: str
) -> None:
    pool = await create_pool(outbox_database, min_size=1, max_size=6)
    relay = make_relay(outbox_database, pool, servers.kafka)
    await add_old_published_events(pool, topic, 3)
    relay.start()
    try:

        async def pruned() -> bool:
            return await outbox_rows(pool) == 0

        await wait_until(pruned, message="the relay's first prune")

        async def turn_finished() -> timedelta | None:
            # The turn is finished (its next run set) just after the rows went.
            next_run: timedelta | None = await pool.fetchval(
                "SELECT next_run_at - now() FROM periodic_tasks WHERE name = 'outbox.prune'"
            )
            return next_run if next_run is not None and next_run > timedelta(0) else None

        next_run = await wait_until(turn_finished, message="the prune's turn to finish")
        assert next_run > timedelta(minutes=59)  # make_relay prunes hourly
    finally:
        await relay.stop()
        await pool.close()


async def test_a_failed_prune_hands_its_turn_back(
    outbox_database: str, servers: Servers, topic: str
) -> None:
    pool = await create_pool(outbox_database, min_size=1, max_size=4)
    failing, other = (make_relay(outbox_database, pool, servers.kafka) for _ in range(2))
    try:
        await add_old_published_events(pool, topic, 2)
        await pool.execute("ALTER TABLE outbox RENAME TO outbox_away")
        with pytest.raises(asyncpg.UndefinedTableError):
            await failing.prune_due()
        await pool.execute("ALTER TABLE outbox_away RENAME TO outbox")
        assert await other.prune_due() == 2  # due again at once, for any replica
    finally:
        await failing.stop()
        await other.stop()
        await pool.close()
