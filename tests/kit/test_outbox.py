"""The transactional outbox and its relay, against real PostgreSQL and a real Kafka-protocol broker."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections import defaultdict
from collections.abc import AsyncIterator
from datetime import timedelta
from types import SimpleNamespace
from typing import Any

import asyncpg
import pytest
from lookout_contracts import make_event
from lookout_contracts.envelope import Envelope
from lookout_contracts.events.identity import RoleDeletedV1
from lookout_kit.app import Runtime
from lookout_kit.database import create_pool
from lookout_kit.kafka import create_broker
from lookout_kit.outbox import (
    OutboxOutsideTransaction,
    execute_with_event,
    publish_in_tx,
    publish_many_in_tx,
)
from lookout_kit.reactions import ReactionPolicy, handle
from lookout_kit.relay import FAILED
from lookout_kit.settings import ServiceSettings
from lookout_kit.telemetry import configure_tracing
from lookout_testing.broker import PrivateBroker
from lookout_testing.servers import Servers
from lookout_testing.topics import TopicCapture
from lookout_testing.waiting import wait_until
from opentelemetry import trace

from .factories import make_relay, step_event
from .lossy_link import LossyLink

TENANT = uuid.uuid4()


@pytest.fixture
async def pool(outbox_database: str) -> AsyncIterator[asyncpg.Pool]:
    pool = await create_pool(outbox_database, min_size=1, max_size=8)
    async with pool.acquire() as conn:
        await conn.execute("CREATE TABLE widgets (id TEXT PRIMARY KEY, steps INT NOT NULL)")
    yield pool
    await pool.close()


async def unpublished(pool: asyncpg.Pool) -> int:
    return int(await pool.fetchval("SELECT count(*) FROM outbox WHERE published_at IS NULL"))


async def test_state_change_and_event_commit_together(
    pool: asyncpg.Pool, outbox_database: str, servers: Servers, topic: str
) -> None:
    relay = make_relay(outbox_database, pool, servers.kafka)
    relay.start()
    try:
        async with TopicCapture(servers.kafka, topic) as capture:
            async with pool.acquire() as conn, conn.transaction():
                await conn.execute("INSERT INTO widgets VALUES ('w1', 1)")
                event = step_event("w1", 1)
                await publish_in_tx(conn, event, topic=topic)
            records = await capture.wait_for(1)
            assert [json.loads(r.value)["id"] for r in records] == [str(event.id)]
            assert await pool.fetchval("SELECT steps FROM widgets WHERE id = 'w1'") == 1
    finally:
        await relay.stop()


async def test_failed_transaction_leaves_neither_state_nor_event(
    pool: asyncpg.Pool, outbox_database: str, servers: Servers, topic: str
) -> None:
    relay = make_relay(outbox_database, pool, servers.kafka)
    relay.start()
    try:
        async with TopicCapture(servers.kafka, topic) as capture:
            with pytest.raises(asyncpg.UniqueViolationError):
                async with pool.acquire() as conn, conn.transaction():
                    await publish_in_tx(conn, step_event("w2", 1), topic=topic)
                    await conn.execute("INSERT INTO widgets VALUES ('w2', 1)")
                    await conn.execute("INSERT INTO widgets VALUES ('w2', 2)")  # fails
            # A committed marker event proves the relay ran after the failed transaction.
            marker = step_event("marker", 1)
            async with pool.acquire() as conn, conn.transaction():
                await publish_in_tx(conn, marker, topic=topic)
            records = await capture.wait_for(1)
            await capture.settle(0.3)
            assert [json.loads(r.value)["id"] for r in records] == [str(marker.id)]
        assert await pool.fetchval("SELECT count(*) FROM widgets") == 0
        assert await pool.fetchval("SELECT count(*) FROM outbox") == 1
    finally:
        await relay.stop()


async def test_a_change_and_its_event_in_one_statement_go_together_or_not_at_all(
    pool: asyncpg.Pool, outbox_database: str, servers: Servers, topic: str
) -> None:
    relay = make_relay(outbox_database, pool, servers.kafka)
    relay.start()
    try:
        async with TopicCapture(servers.kafka, topic) as capture:
            event = step_event("w4", 1)
            async with pool.acquire() as conn:
                await execute_with_event(
                    conn, "INSERT INTO widgets VALUES ($1, $2)", ("w4", 1), event, topic=topic
                )
                assert not conn.is_in_transaction()
                # The change fails: no event.
                with pytest.raises(asyncpg.UniqueViolationError):
                    await execute_with_event(
                        conn, "INSERT INTO widgets VALUES ($1, $2)", ("w4", 2), step_event("w4", 2)
                    )
                # The event fails (an event id already in the outbox): no change.
                with pytest.raises(asyncpg.UniqueViolationError):
                    await execute_with_event(
                        conn, "UPDATE widgets SET steps = $2 WHERE id = $1", ("w4", 3), event
                    )
            records = await capture.wait_for(1)
            await capture.settle(0.3)
            assert [json.loads(r.value)["id"] for r in records] == [str(event.id)]
        assert await pool.fetchval("SELECT steps FROM widgets WHERE id = 'w4'") == 1
        assert await pool.fetchval("SELECT count(*) FROM outbox") == 1
    finally:
        await relay.stop()


async def test_publish_outside_a_transaction_is_refused(pool: asyncpg.Pool, topic: str) -> None:
    async with pool.acquire() as conn:
        with pytest.raises(OutboxOutsideTransaction):
            await publish_in_tx(conn, step_event("w3", 1), topic=topic)
    assert await pool.fetchval("SELECT count(*) FROM outbox") == 0


async def test_events_wait_while_broker_is_down_and_go_exactly_once_after(
    pool: asyncpg.Pool, outbox_database: str, private_broker: PrivateBroker, topic: str
) -> None:
    relay = make_relay(outbox_database, pool, private_broker.bootstrap_servers, batch_size=100)
    relay.start()
    try:
        first = step_event("before", 1)
        async with pool.acquire() as conn, conn.transaction():
            await publish_in_tx(conn, first, topic=topic)

        async def first_published() -> bool:
            return await unpublished(pool) == 0

        await wait_until(first_published, message="the first event to be published")
        await private_broker.stop()

        events = [step_event(f"agg-{i % 7}", i) for i in range(300)]
        for chunk in range(0, 300, 50):
            async with pool.acquire() as conn, conn.transaction():
                await publish_many_in_tx(conn, events[chunk : chunk + 50], topic=topic)
        await asyncio.sleep(3)  # the relay keeps failing meanwhile; nothing may be marked published
        assert await unpublished(pool) == 300

        await private_broker.start()  # memory storage: the topic starts empty again

        async def all_published() -> bool:
            return await unpublished(pool) == 0

        await wait_until(all_published, timeout=60, message="the outbox to drain")
        async with TopicCapture(private_broker.bootstrap_servers, topic) as capture:
            await capture.wait_for(300)
            records = await capture.settle(1.0)
        ids = [json.loads(r.value)["id"] for r in records]
        assert len(ids) == 300
        assert sorted(ids) == sorted(str(e.id) for e in events)
    finally:
        await relay.stop()


async def test_a_lost_acknowledgement_is_resent_and_applied_once_by_a_consumer(
    pool: asyncpg.Pool, outbox_database: str, topic: str
) -> None:
    """The broker stores the relay's records but the acknowledgements are lost (the link drops
    while the relay is sending): the rows stay unpublished, the relay sends them again, the topic
    holds duplicates (same event id, later offsets), and a consumer applying them through the kit's
    inbox applies each event once, as the docs say consumers must."""
    link = LossyLink(broker_port=0)
    broker = PrivateBroker(advertised_port=link.port)
    link.broker_port = broker.port
    await broker.start()
    await link.start()
    keys = [uuid.uuid4() for _ in range(5)]
    events = [
        make_event("role.deleted", tenant_id=TENANT, subject_id=keys[n % 5], data=RoleDeletedV1())
        for n in range(50)
    ]
    relay = make_relay(outbox_database, pool, broker.bootstrap_servers, batch_size=20)
    try:
        async with pool.acquire() as conn, conn.transaction():
            await publish_many_in_tx(conn, events, topic=topic)
        async with TopicCapture(broker.bootstrap_servers, topic) as capture:
            failed_before = FAILED._value.get()
            link.losing_acks = True
            relay.start()
            await capture.wait_for(50, timeout=30)  # stored by the broker ...

            async def a_round_failed() -> bool:
                return FAILED._value.get() >= failed_before + 20  # a whole batch unacknowledged

            await wait_until(a_round_failed, timeout=30, message="a round without acks to fail")
            assert link.acks_lost > 0
            assert await unpublished(pool) == 50  # ... but not acknowledged: nothing marked
            link.losing_acks = False

            async def all_published() -> bool:
                return await unpublished(pool) == 0

            await wait_until(all_published, timeout=60, message="the resends to be acknowledged")
            records = await capture.settle(1.0)
        ids = [uuid.UUID(json.loads(record.value)["id"]) for record in records]
        assert set(ids) == {event.id for event in events}
        assert len(ids) > 50, "the resend put copies of the events on the topic"
        in_order: dict[bytes, list[uuid.UUID]] = defaultdict(list)
        for record, event_id in zip(records, ids, strict=True):
            if event_id not in in_order[record.key]:
                in_order[record.key].append(event_id)
        for key in keys:  # the first copies keep each aggregate's order
            assert in_order[str(key).encode()] == [e.id for e in events if e.subject.id == str(key)]

        await pool.execute("CREATE TABLE applied (seq BIGSERIAL PRIMARY KEY, event_id UUID)")

        async def apply(conn: asyncpg.Connection, event: Envelope[Any]) -> None:
            await conn.execute("INSERT INTO applied (event_id) VALUES ($1)", event.id)

        settings = ServiceSettings(service_name="outboxtest", kafka_bootstrap_servers="unused:1")
        runtime = Runtime(settings=settings, broker=create_broker("unused:1"), pool=pool)
        for record in records:  # the topic's records, duplicates included, in the consumer's order
            await handle(
                runtime,
                SimpleNamespace(body=record.value),  # type: ignore[arg-type]
                group_id="outboxtest",
                reactions={"role.deleted": apply},
                policy=ReactionPolicy(),
            )
        applied = [row["event_id"] for row in await pool.fetch("SELECT event_id FROM applied")]
        assert sorted(applied) == sorted(event.id for event in events)
    finally:
        await relay.stop()
        await link.stop()
        await broker.stop()


async def test_two_relays_publish_each_event_once_in_aggregate_order(
    pool: asyncpg.Pool, outbox_database: str, servers: Servers, topic: str
) -> None:
    total, aggregates = 10_000, 50
    sequence: dict[str, int] = defaultdict(int)

    def next_events(count: int) -> list:
        batch = []
        for i in range(count):
            aggregate = f"agg-{(len(sequence) + i * 7919) % aggregates}"
            sequence[aggregate] += 1
            batch.append(step_event(aggregate, sequence[aggregate]))
        return batch

    async def write(count: int, per_tx: int) -> None:
        for _ in range(count // per_tx):
            async with pool.acquire() as conn, conn.transaction():
                await publish_many_in_tx(conn, next_events(per_tx), topic=topic)

    await write(total // 2, 500)  # a backlog both relays start on at once
    relays = [make_relay(outbox_database, pool, servers.kafka, batch_size=200) for _ in range(2)]
    for relay in relays:
        relay.start()
    try:
        await write(total // 2, 10)  # and a stream written while they run

        async def drained() -> bool:
            return await unpublished(pool) == 0

        await wait_until(drained, timeout=120, message="both relays to drain the outbox")
        async with TopicCapture(servers.kafka, topic) as capture:
            await capture.wait_for(total, timeout=60)
            records = await capture.settle(1.0)
    finally:
        for relay in relays:
            await relay.stop()

    envelopes = [json.loads(r.value) for r in records]
    assert len(envelopes) == total
    assert len({e["id"] for e in envelopes}) == total
    seen: dict[str, list[int]] = defaultdict(list)
    for record, envelope in sorted(
        zip(records, envelopes, strict=True), key=lambda p: (p[0].partition, p[0].offset)
    ):
        assert record.key == envelope["subject"]["id"].encode()
        seen[envelope["subject"]["id"]].append(envelope["data"]["sequence"])
    for aggregate, sequences in seen.items():
        assert sequences == list(range(1, sequence[aggregate] + 1)), aggregate


async def test_published_rows_are_pruned_after_retention(
    pool: asyncpg.Pool, outbox_database: str, servers: Servers, topic: str
) -> None:
    relay = make_relay(outbox_database, pool, servers.kafka, retention=timedelta(hours=1))
    async with pool.acquire() as conn, conn.transaction():
        await publish_many_in_tx(conn, [step_event("p", i) for i in range(3)], topic=topic)
    assert (await relay.publish_batch()).published == 3
    async with pool.acquire() as conn, conn.transaction():
        await publish_in_tx(conn, step_event("p", 4), topic=topic)  # stays unpublished
    await pool.execute(
        "UPDATE outbox SET published_at = published_at - interval '2 hours' WHERE id IN "
        "(SELECT id FROM outbox WHERE published_at IS NOT NULL ORDER BY id LIMIT 2)"
    )
    try:
        assert await relay.prune() == 2
    finally:
        await relay.stop()
    assert await pool.fetchval("SELECT count(*) FROM outbox WHERE published_at IS NOT NULL") == 1
    assert await unpublished(pool) == 1


async def test_trace_context_travels_from_transaction_to_kafka_headers(
    pool: asyncpg.Pool, outbox_database: str, servers: Servers, topic: str
) -> None:
    configure_tracing("kittest", None)  # what every service's app does at start
    relay = make_relay(outbox_database, pool, servers.kafka)
    tracer = trace.get_tracer("test")
    with tracer.start_as_current_span("a request") as span:
        trace_id = format(span.get_span_context().trace_id, "032x")
        async with pool.acquire() as conn, conn.transaction():
            await publish_in_tx(conn, step_event("t", 1), topic=topic)
    try:
        assert (await relay.publish_batch()).published == 1
    finally:
        await relay.stop()
    async with TopicCapture(servers.kafka, topic) as capture:
        (record,) = await capture.wait_for(1)
    headers = dict(record.headers)
    assert headers["content-type"] == b"application/json"
    assert headers["traceparent"].decode().split("-")[1] == trace_id
