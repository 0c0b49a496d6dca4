"""``make bench-outbox``: the outbox relay's commit→broker latency at a steady rate, and its maximum rate.

The relay runs in a process of its own (as in a service), against a database of its own on the local
PostgreSQL and the local broker. Latency is from the committing transaction's return to the event's
arrival at a consumer (an upper bound on commit→broker). Each measurement runs several times; the
median is reported.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import sys
import time
import uuid
from datetime import timedelta
from pathlib import Path

import asyncpg
from aiokafka import AIOKafkaConsumer, TopicPartition

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from lookout_contracts.envelope import Envelope, Subject
from lookout_kit.database import create_pool
from lookout_kit.migrate import apply_migrations
from lookout_kit.outbox import publish_in_tx
from lookout_kit.relay import OutboxRelay
from lookout_kit.settings import ServiceSettings
from lookout_testing.databases import temporary_database
from lookout_testing.servers import Servers
from pydantic import BaseModel

from bench.report import figure, median, percentile, write


class Tick(BaseModel):
    n: int


def tick(n: int, tenant: uuid.UUID) -> Envelope[Tick]:
    return Envelope[Tick](
        type="bench.ticked",
        source="bench",
        tenant_id=tenant,
        subject=Subject(type="bench", id=f"aggregate-{n % 64}"),
        data=Tick(n=n),
    )


def _relay_process(
    dsn: str,
    kafka: str,
    ready: multiprocessing.synchronize.Event,
    stop: multiprocessing.synchronize.Event,
) -> None:  # type: ignore[name-defined]
    async def main() -> None:
        pool = await create_pool(dsn, min_size=1, max_size=4)
        relay = OutboxRelay(
            dsn=dsn,
            pool=pool,
            bootstrap_servers=kafka,
            batch_size=2_000,
            retention=timedelta(hours=1),
            prune_interval_s=3600,
            linger_s=ServiceSettings().outbox_linger_s,  # as the services run it
        )
        relay.start()
        ready.set()
        while not stop.is_set():
            await asyncio.sleep(0.05)
        await relay.stop()
        await pool.close()

    asyncio.run(main())


class RelayProcess:
    def __init__(self, dsn: str, kafka: str) -> None:
        context = multiprocessing.get_context("spawn")
        self._ready = context.Event()
        self._stop = context.Event()
        self._process = context.Process(
            target=_relay_process, args=(dsn, kafka, self._ready, self._stop)
        )

    def __enter__(self) -> RelayProcess:
        self._process.start()
        if not self._ready.wait(60):
            raise RuntimeError("the relay process did not start")
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._process.join(30)
        if self._process.is_alive():
            self._process.kill()
            self._process.join()


async def _consumer(kafka: str, topic: str) -> AIOKafkaConsumer:
    consumer = AIOKafkaConsumer(
        bootstrap_servers=kafka,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        fetch_max_wait_ms=5,
        max_partition_fetch_bytes=8 * 1024 * 1024,
    )
    await consumer.start()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        metadata = await consumer._client.fetch_all_metadata()
        partitions = metadata.partitions_for_topic(topic)
        if partitions:
            consumer.assign([TopicPartition(topic, p) for p in partitions])
            await consumer.seek_to_beginning()
            return consumer
        await asyncio.sleep(0.05)
    raise RuntimeError(f"topic {topic} never appeared")


async def _prepare(dsn: str) -> None:
    await apply_migrations(dsn, None)


async def measure_latency(dsn: str, kafka: str, rate: int, seconds: float) -> list[float]:
    """Write ``rate`` events/s, one transaction each; return commit→consumer latencies in ms."""
    pool = await create_pool(dsn, min_size=2, max_size=4)
    tenant = uuid.uuid4()
    topic = f"bench.{uuid.uuid4().hex[:8]}.events"
    committed: dict[str, float] = {}
    latencies: list[float] = []
    total = int(rate * seconds)
    # Warm the topic so the consumer can assign before the timed run.
    async with pool.acquire() as conn, conn.transaction():
        await publish_in_tx(conn, tick(-1, tenant), topic=topic)
    consumer = await _consumer(kafka, topic)
    received = 0

    async def consume() -> None:
        nonlocal received
        while received < total + 1:
            batches = await consumer.getmany(timeout_ms=50)
            now = time.perf_counter()
            for records in batches.values():
                for record in records:
                    received += 1
                    event_id = record.value[7:43].decode()  # '{"id":"<uuid>",...'
                    if event_id in committed:
                        latencies.append((now - committed[event_id]) * 1000)

    consumer_task = asyncio.create_task(consume())
    started = time.perf_counter()
    for n in range(total):
        due = started + n / rate
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        event = tick(n, tenant)
        async with pool.acquire() as conn, conn.transaction():
            await publish_in_tx(conn, event, topic=topic)
        committed[str(event.id)] = time.perf_counter()
    await asyncio.wait_for(consumer_task, 60)
    await consumer.stop()
    await pool.close()
    return latencies


async def fill(dsn: str, count: int, topic: str) -> None:
    pool = await create_pool(dsn, min_size=1, max_size=2)
    tenant = uuid.uuid4()
    rows = []
    for n in range(count):
        event = tick(n, tenant)
        rows.append((event.id, topic, event.key, event.type, event.to_json(), None))
    async with pool.acquire() as conn:
        await conn.copy_records_to_table(
            "outbox",
            records=rows,
            columns=["event_id", "topic", "message_key", "event_type", "payload", "traceparent"],
        )
    await pool.close()


async def unpublished(dsn: str) -> int:
    conn = await asyncpg.connect(dsn)
    try:
        return int(await conn.fetchval("SELECT count(*) FROM outbox WHERE published_at IS NULL"))
    finally:
        await conn.close()


async def measure_throughput(dsn: str, kafka: str, count: int) -> float:
    """Fill the outbox with ``count`` events, then time one relay draining it; events/s."""
    topic = f"bench.{uuid.uuid4().hex[:8]}.events"
    await fill(dsn, count, topic)
    started = time.perf_counter()
    with RelayProcess(dsn, kafka):
        started = time.perf_counter()
        while await unpublished(dsn) > 0:
            await asyncio.sleep(0.02)
        elapsed = time.perf_counter() - started
    return count / elapsed


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rate", type=int, default=500)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--drain-events", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    servers = Servers.from_environment()

    p50s, p99s, rates = [], [], []
    for run in range(args.runs):
        async with temporary_database(servers.postgres, prefix="bench_outbox") as dsn:
            await _prepare(dsn)
            with RelayProcess(dsn, servers.kafka):
                latencies = await measure_latency(dsn, servers.kafka, args.rate, args.seconds)
            p50s.append(percentile(latencies, 50))
            p99s.append(percentile(latencies, 99))
        async with temporary_database(servers.postgres, prefix="bench_outbox") as dsn:
            await _prepare(dsn)
            rates.append(await measure_throughput(dsn, servers.kafka, args.drain_events))
        print(
            f"run {run + 1}: p50 {p50s[-1]:.1f} ms, p99 {p99s[-1]:.1f} ms, max {rates[-1]:,.0f} events/s"
        )

    write(
        "outbox",
        {
            "rate_events_per_s": args.rate,
            "seconds": args.seconds,
            "drain_events": args.drain_events,
            "runs": args.runs,
            "relay_batch_size": 2_000,
            "relays": 1,
            "relay_linger_s": ServiceSettings().outbox_linger_s,
        },
        {
            "commit_to_broker_p50_ms": figure(median(p50s), "ms", "lower"),
            "commit_to_broker_p99_ms": figure(median(p99s), "ms", "lower", target=50),
            "relay_max_events_per_s": figure(median(rates), "events/s", "higher", target=20_000),
        },
    )


if __name__ == "__main__":
    asyncio.run(main())
