"""The kit's reaction policy against the real broker and PostgreSQL: applied once (inbox), retried
with backoff through an outage, and a poison event dead-lettered while the next ones apply."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import timedelta
from types import SimpleNamespace
from typing import Any

import asyncpg
import pytest
from aiokafka import AIOKafkaProducer
from lookout_contracts import make_event
from lookout_contracts.envelope import Envelope
from lookout_contracts.events.identity import RoleDeletedV1, TenantDeletedV1
from lookout_contracts.headers import DLQ_CODE_HEADER, DLQ_ORIGINAL_TOPIC_HEADER, DLQ_REASON_HEADER
from lookout_kit.app import RUNTIME_CONTEXT_KEY, Runtime
from lookout_kit.kafka import create_broker, ensure_topics
from lookout_kit.migrate import apply_migrations
from lookout_kit.reactions import (
    DLQ_CONSUMER_GROUP_HEADER,
    RETRIES,
    ReactionPolicy,
    handle,
    reactions_router,
)
from lookout_kit.relay import OutboxRelay
from lookout_kit.retry import RetryStopped
from lookout_kit.settings import ServiceSettings
from lookout_testing.postgres import PrivatePostgres
from lookout_testing.servers import Servers
from lookout_testing.topics import TopicCapture
from lookout_testing.waiting import wait_until

FAST = ReactionPolicy(attempts=3, initial_s=0.05, max_s=0.5)


@dataclass
class Reacting:
    """A subscriber running the policy over ``topic``, recording what it applied in ``applied``."""

    topic: str
    group: str
    dlq_topic: str
    pool: asyncpg.Pool
    send: Callable[[bytes, bytes], Any]

    async def applied(self) -> list[uuid.UUID]:
        rows = await self.pool.fetch("SELECT event_id FROM applied ORDER BY seq")
        return [row["event_id"] for row in rows]


def role_deleted(role_id: uuid.UUID | None = None) -> Envelope[Any]:
    return make_event(
        "role.deleted",
        tenant_id=uuid.uuid4(),
        subject_id=role_id or uuid.uuid4(),
        data=RoleDeletedV1(),
    )


async def reacting(
    dsn: str, servers: Servers, topic: str, poison: set[str]
) -> AsyncIterator[Reacting]:
    await apply_migrations(dsn, None)
    pool = await asyncpg.create_pool(dsn, min_size=1, max_size=2)
    await pool.execute(
        "CREATE TABLE IF NOT EXISTS applied (seq BIGSERIAL PRIMARY KEY, event_id UUID NOT NULL)"
    )

    async def on_role_deleted(conn: asyncpg.Connection, event: Envelope[Any]) -> None:
        if event.subject.id == SLOW:
            raise TimeoutError  # a query that always times out: an error, not an outage
        if event.subject.id in poison:
            raise ValueError("a reaction that can never succeed")
        await conn.execute("INSERT INTO applied (event_id) VALUES ($1)", event.id)

    service = f"rt{uuid.uuid4().hex[:8]}"
    group = f"{service}-group"
    settings = ServiceSettings(service_name=service, kafka_bootstrap_servers=servers.kafka)
    broker = create_broker(servers.kafka)
    broker.include_router(
        reactions_router(
            topic, group_id=group, reactions={"role.deleted": on_role_deleted}, policy=FAST
        )
    )
    runtime = Runtime(settings=settings, broker=broker, pool=pool)
    broker.context.set_global(RUNTIME_CONTEXT_KEY, runtime)
    await ensure_topics(servers.kafka, [topic], partitions=1)
    await broker.start()
    producer = AIOKafkaProducer(bootstrap_servers=servers.kafka, enable_idempotence=False)
    await producer.start()

    async def send(key: bytes, value: bytes) -> None:
        await producer.send_and_wait(topic, value, key=key)

    try:
        yield Reacting(topic, group, f"{service}.dlq", pool, send)
    finally:
        runtime.stopping.set()
        await producer.stop()
        await broker.stop()
        await pool.close()


POISON = str(uuid.uuid4())
SLOW = str(uuid.uuid4())


@pytest.fixture
async def on_shared_postgres(
    database: str, servers: Servers, topic: str
) -> AsyncIterator[Reacting]:
    async for built in reacting(database, servers, topic, {POISON}):
        yield built


async def test_a_poison_event_is_dead_lettered_and_the_next_ones_apply_once(
    on_shared_postgres: Reacting, servers: Servers
) -> None:
    subject = on_shared_postgres
    first, poison, last = role_deleted(), role_deleted(uuid.UUID(POISON)), role_deleted()
    slow = role_deleted(uuid.UUID(SLOW))
    ignored = make_event(
        "tenant.deleted", tenant_id=uuid.uuid4(), subject_id=uuid.uuid4(), data=TenantDeletedV1()
    )
    for value in (
        first.to_json(),
        poison.to_json(),
        slow.to_json(),
        b"{not json",
        ignored.to_json(),  # no reaction for its type: acknowledged untouched
        last.to_json(),
        first.to_json(),  # delivered again: the inbox has it
    ):
        await subject.send(b"one-partition", value)

    async def both_applied() -> list[uuid.UUID] | None:
        applied = await subject.applied()
        return applied if len(applied) >= 2 else None

    await wait_until(both_applied, timeout=30, message="the good events applied")
    async with TopicCapture(servers.kafka, subject.dlq_topic) as capture:
        records = await capture.wait_for(3, timeout=30)
        records = await capture.settle()
    assert await subject.applied() == [first.id, last.id]
    assert [record.value for record in records] == [poison.to_json(), slow.to_json(), b"{not json"]
    codes = []
    for record in records:
        headers = {name: value.decode() for name, value in record.headers}
        assert headers[DLQ_ORIGINAL_TOPIC_HEADER] == subject.topic
        assert headers[DLQ_CONSUMER_GROUP_HEADER] == subject.group
        assert headers[DLQ_REASON_HEADER]
        assert "a reaction that can never succeed" not in headers[DLQ_REASON_HEADER]
        codes.append(headers[DLQ_CODE_HEADER])
    assert codes == ["reaction_failed", "reaction_failed", "invalid_json"]
    inbox = await subject.pool.fetchval(
        "SELECT count(*) FROM inbox WHERE consumer_group = $1", subject.group
    )
    assert inbox == 2


@pytest.fixture
async def on_private_postgres(
    private_postgres: PrivatePostgres, servers: Servers, topic: str
) -> AsyncIterator[Reacting]:
    async for built in reacting(f"{private_postgres.dsn}/postgres", servers, topic, set()):
        yield built


async def test_postgres_stopped_during_a_reaction_is_waited_out_with_backoff(
    on_private_postgres: Reacting, private_postgres: PrivatePostgres
) -> None:
    subject = on_private_postgres
    before = role_deleted()
    await subject.send(b"k", before.to_json())
    await wait_until(subject.applied, timeout=30, message="the first event applied")

    await private_postgres.stop()
    outages = RETRIES.labels(subject.group, "outage")
    counted = outages._value.get()
    during = role_deleted()
    await subject.send(b"k", during.to_json())

    async def retrying() -> bool:
        return bool(outages._value.get() - counted >= 2)

    await wait_until(retrying, timeout=20, message="retries during the outage")
    await asyncio.sleep(3)
    # Backoff, not a spin: capped at 0.5 s between attempts, so a few dozen at most in ~3 s.
    assert outages._value.get() - counted < 40
    await private_postgres.start()

    async def both() -> list[uuid.UUID] | None:
        applied = await subject.applied()
        return applied if len(applied) >= 2 else None

    await wait_until(both, timeout=30, message="the event applied once the server is back")
    await asyncio.sleep(1)
    assert await subject.applied() == [before.id, during.id]


async def test_inbox_ids_older_than_their_retention_are_pruned_with_the_outbox(
    outbox_database: str, servers: Servers
) -> None:
    pool = await asyncpg.create_pool(outbox_database, min_size=1, max_size=2)
    relay = OutboxRelay(
        dsn=outbox_database,
        pool=pool,
        bootstrap_servers=servers.kafka,
        inbox_retention=timedelta(hours=1),
    )
    try:
        old, recent = uuid.uuid4(), uuid.uuid4()
        await pool.executemany(
            "INSERT INTO inbox (consumer_group, event_id, event_type, applied_at) "
            "VALUES ('g', $1, 'role.deleted', now() - $2::interval)",
            [(old, timedelta(hours=2)), (recent, timedelta(minutes=5))],
        )
        await relay.prune()
        left = await pool.fetch("SELECT event_id FROM inbox")
        assert [row["event_id"] for row in left] == [recent]
    finally:
        await relay.stop()
        await pool.close()


async def test_stopping_during_an_outage_leaves_the_event_unacknowledged(
    outbox_database: str, servers: Servers
) -> None:
    """SIGTERM while a reaction waits out an outage: the handler raises (the subscriber NACKs,
    the event is delivered again after the restart); nothing is dead-lettered or applied."""
    pool = await asyncpg.create_pool(outbox_database, min_size=1, max_size=1)
    attempts = 0

    async def unreachable(conn: asyncpg.Connection, event: Envelope[Any]) -> None:
        nonlocal attempts
        attempts += 1
        raise ConnectionRefusedError  # what a pool gives while PostgreSQL is down

    settings = ServiceSettings(service_name="rtstop", kafka_bootstrap_servers=servers.kafka)
    runtime = Runtime(settings=settings, broker=create_broker(servers.kafka), pool=pool)
    message = SimpleNamespace(body=role_deleted().to_json())
    try:
        handling = asyncio.create_task(
            handle(
                runtime,
                message,  # type: ignore[arg-type]
                group_id="rtstop",
                reactions={"role.deleted": unreachable},
                policy=FAST,
            )
        )

        async def retrying() -> bool:
            return attempts >= 3  # beyond FAST.attempts: an outage is not counted

        await wait_until(retrying, timeout=10, message="retries through the outage")
        runtime.stopping.set()
        with pytest.raises(RetryStopped):
            await asyncio.wait_for(handling, 5)
        assert await pool.fetchval("SELECT count(*) FROM inbox") == 0
    finally:
        await pool.close()
