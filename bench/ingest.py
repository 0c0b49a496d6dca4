"""``make bench-ingest``: events/s from the broker into ClickHouse with full validation and mapping,
beside the same run's ClickHouse-side limit, and event-time→queryable latency at a steady rate.

- Throughput: ``--events`` mixed events are produced first, then ``--consumers`` ingestion
  consumer processes (the real ``python -m lookout_ingestion.consumer``, replicas of one group
  sharing the partitions; default 2, one per core of the reference machine) read them, set up
  for a backlog: ``--batch-rows`` rows per table and INSERT (default 50,000; the service's
  default is 10,000, for a steady flow) and six times that buffered at most. The rate is measured
  at full speed: the events whose rows became queryable between 10% and 90% of all rows, over
  that time (joining the group, the first fill and the last flush are not counted; the rows are
  counted from ``system.parts``, one cheap query every 50 ms). ``--consumers 1`` measures one
  replica.
- ClickHouse limit: the same events' rows, decoded, mapped and RowBinary-encoded beforehand, are
  inserted straight (batches of ``--batch-rows``, the three tables in parallel): the ratio says how
  much of what the server can take the consumer achieves.
- Where the CPU goes: over the same stretch (10% to 90% of the rows), per event, the CPU time
  (user + system) of the consumer processes, of ClickHouse and of the broker (processes by name),
  and the rest of every core's busy time (the kernel's work for them, anything else running; this
  process excluded), and the share of the cores busy; ClickHouse's per event in the straight
  inserts too. With the cores saturated the rate is their time over the parts' cost per event, so
  the bench prints what the consumers could spend per event at the target ratio (the other parts'
  cost unchanged) beside what they spend. Rows land a flush at a time, so both the rate and these
  figures need the default backlog: with 200,000 events the stretch is a few flushes long and
  gave 242,000 events/s at 4.4 µs, against 152,000 at 9.0 with 1,000,000.
- Clients: the same events read by the consumer client we use (aiokafka, ``getmany``) and by
  confluent-kafka (librdkafka, Arroyo's choice; batch ``consume``), each in a fresh group of one
  consumer over every partition, nothing done with a record but reading its offset and value:
  records/s and CPU µs per record (the process's user + system time, librdkafka's threads
  included), side by side in one run.
- Latency: ``dashboard.viewed`` events (one ``user_activity`` row each) at a steady ``--rate`` for
  ``--seconds``; the table's row count is polled every 20 ms and event k counts as queryable when
  the count reaches k (rows of one partition arrive in order; across partitions this is FIFO
  within one flush, which is what the figure is about).

Each measurement runs ``--repeats`` times; the median is reported. Everything runs in a ClickHouse
database and on topics of its own, removed afterwards.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import resource
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import aiohttp
import psutil
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from lookout_contracts import parse_event
from lookout_ingestion.encoding import encode_origin, encode_row
from lookout_ingestion.mapping import COLUMNS, TABLES, map_event
from lookout_ingestion.migrate import apply_migrations
from lookout_kit.clickhouse import ClickHouse, client_session
from lookout_kit.kafka import ensure_topics
from lookout_testing.servers import Servers

from bench.report import figure, median, percentile, write
from tests.ingestion.factories import KINDS, Expected, mixed_events, stamp

REPO = Path(__file__).resolve().parent.parent
PARTITIONS = 6
TARGET_RATIO = 0.25
"""Issue 19's goal: the consumers at a quarter of ClickHouse's own insert rate."""


class Run:
    """One measurement's own topics, consumer group and ClickHouse database."""

    def __init__(self, servers: Servers, session: aiohttp.ClientSession) -> None:
        self.servers = servers
        self.prefix = f"bench_{uuid.uuid4().hex[:10]}"
        self.database = self.prefix
        self.clickhouse = ClickHouse(session, url=servers.clickhouse, database=self.database)
        self.admin = ClickHouse(session, url=servers.clickhouse, database="default")
        self.processes: list[subprocess.Popen[bytes]] = []

    def topic(self, source: str) -> str:
        return f"{self.prefix}.{source}.events"

    async def __aenter__(self) -> Run:
        await self.admin.execute(f"CREATE DATABASE {self.database}")
        await apply_migrations(self.clickhouse)
        await ensure_topics(
            self.servers.kafka,
            [self.topic(kind.source) for kind in KINDS],
            partitions=PARTITIONS,
        )
        return self

    async def __aexit__(self, *_exc: object) -> None:
        for process in self.processes:
            process.terminate()
            process.wait(30)
        await self.admin.execute(f"DROP DATABASE IF EXISTS {self.database}")
        admin = AIOKafkaAdminClient(bootstrap_servers=self.servers.kafka)
        await admin.start()
        try:
            await admin.delete_topics([self.topic(kind.source) for kind in KINDS])
        except Exception as error:  # cleanup only: a broker that cannot delete keeps them
            print(f"(topics not deleted: {error!r})")
        finally:
            await admin.close()

    def start_consumers(self, count: int, batch_rows: int, buffered_rows: int) -> None:
        env = {
            **os.environ,
            "LOOKOUT_INGESTION_KAFKA_BOOTSTRAP_SERVERS": self.servers.kafka,
            "LOOKOUT_INGESTION_CLICKHOUSE_URL": self.servers.clickhouse,
            "LOOKOUT_INGESTION_CLICKHOUSE_DATABASE": self.database,
            "LOOKOUT_INGESTION_CONSUMER_GROUP": self.prefix,
            "LOOKOUT_INGESTION_TOPIC_PATTERN": f"^{self.prefix}\\.[a-z]+\\.events$",
            "LOOKOUT_INGESTION_DLQ_TOPIC": f"{self.prefix}.dlq",
            "LOOKOUT_INGESTION_BATCH_MAX_ROWS": str(batch_rows),
            "LOOKOUT_INGESTION_MAX_BUFFERED_ROWS": str(buffered_rows),
            "LOOKOUT_INGESTION_LOG_LEVEL": "WARNING",
        }
        for _ in range(count):
            self.processes.append(
                subprocess.Popen(
                    [sys.executable, "-m", "lookout_ingestion.consumer"], env=env, cwd=REPO
                )
            )

    async def stored_rows(self) -> int:
        """Rows in the three tables, from the parts' metadata (no table is read)."""
        tables = ", ".join(f"'{table}'" for table in TABLES)
        found = await self.admin.rows(
            f"SELECT sum(rows) AS n FROM system.parts WHERE active "
            f"AND database = '{self.database}' AND table IN ({tables})"
        )
        return int(found[0]["n"] or 0) if found else 0

    async def rows(self, table: str | None = None) -> int:
        tables = [table] if table else list(TABLES)
        total = 0
        for name in tables:
            found = await self.clickhouse.rows(f"SELECT count() AS n FROM {name}")
            total += int(found[0]["n"])
        return total


async def produce(
    kafka: str, run: Run, events: list[tuple[str, bytes, bytes]], rate: float | None = None
) -> list[float]:
    """Send the events; return each one's send time (wall clock, as the event's own time)."""
    producer = AIOKafkaProducer(
        bootstrap_servers=kafka,
        enable_idempotence=False,
        linger_ms=5,
        max_batch_size=256 * 1024,
    )
    await producer.start()
    sent: list[float] = []
    try:
        chunk = 2_000 if rate is None else max(1, int(rate / 100))
        started = time.monotonic()
        for first in range(0, len(events), chunk):
            futures = []
            for source, key, value in events[first : first + chunk]:
                sent.append(time.time())
                futures.append(await producer.send(run.topic(source), value=value, key=key))
            await asyncio.gather(*futures)
            if rate is not None:
                ahead = (first + chunk) / rate - (time.monotonic() - started)
                if ahead > 0:
                    await asyncio.sleep(ahead)
    finally:
        await producer.stop()
    return sent


def encoded_rows(events: list[tuple[str, bytes, bytes]]) -> dict[str, list[bytes]]:
    rows: dict[str, list[bytes]] = {table: [] for table in TABLES}
    for offset, (source, _, value) in enumerate(events):
        origin = encode_origin(f"limit.{source}.events", 0, offset)
        for table, row in map_event(parse_event(value)):
            rows[table].append(encode_row(table, row, origin))
    return rows


SERVERS: Final = {"clickhouse": "clickhouse", "broker": "tansu"}
"""Where the CPU goes besides the consumers: processes whose name starts with these."""


@dataclass(frozen=True)
class CpuShot:
    """CPU seconds (user + system) so far, by part, and every core's busy time."""

    parts: dict[str, float]
    machine: float
    at: float

    @classmethod
    def take(cls, consumers: list[subprocess.Popen[bytes]]) -> CpuShot:
        parts = {"consumers": sum(_cpu_of(psutil.Process(p.pid)) for p in consumers)}
        parts |= {part: 0.0 for part in SERVERS}
        parts["bench"] = _cpu_s()  # this process: its polling is not the servers' work
        for process in psutil.process_iter(["name"]):
            name = process.info["name"] or ""
            for part, prefix in SERVERS.items():
                if name.startswith(prefix):
                    with contextlib.suppress(psutil.Error):
                        parts[part] += _cpu_of(process)
        times = psutil.cpu_times()
        busy = sum(times) - times.idle - getattr(times, "iowait", 0.0)
        return cls(parts, busy, time.monotonic())

    def since(self, before: CpuShot, events: float) -> Spent:
        """CPU µs per event of each part between ``before`` and this shot, and how busy the cores
        were (``other``: every core's busy time the parts do not account for, this process's
        polling excluded)."""
        spent = {part: value - before.parts[part] for part, value in self.parts.items()}
        machine = self.machine - before.machine
        other = machine - sum(spent.values())
        us = {part: value / events * 1e6 for part, value in spent.items()}
        return Spent(
            consumers_us=us["consumers"],
            clickhouse_us=us["clickhouse"],
            broker_us=us["broker"],
            other_us=other / events * 1e6,
            busy=machine / ((self.at - before.at) * (psutil.cpu_count() or 1)),
        )


def _cpu_of(process: psutil.Process) -> float:
    times = process.cpu_times()
    return float(times.user + times.system)


@dataclass(frozen=True)
class Spent:
    consumers_us: float
    clickhouse_us: float
    broker_us: float
    other_us: float
    """the machine's busy time no measured process accounts for (the kernel's work for them)"""
    busy: float
    """share of all cores busy"""

    @property
    def besides_consumers_us(self) -> float:
        return self.clickhouse_us + self.broker_us + self.other_us


@dataclass(frozen=True)
class Throughput:
    rate: float
    """events/s through the consumers"""
    limit: float
    """events/s of straight pre-encoded inserts"""
    through_consumers: Spent
    straight: Spent

    @property
    def consumer_budget_us(self) -> float:
        """CPU µs per event the consumers could spend at ``TARGET_RATIO`` of the limit, with the
        other parts' cost per event and the cores' busy share unchanged."""
        cores = psutil.cpu_count() or 1
        per_event = cores * self.through_consumers.busy / (TARGET_RATIO * self.limit) * 1e6
        return per_event - self.through_consumers.besides_consumers_us


async def throughput(
    servers: Servers, session: aiohttp.ClientSession, count: int, consumers: int, batch_rows: int
) -> Throughput:
    """The consumers' rate and CPU beside the straight pre-encoded inserts'."""
    expected = Expected()
    events = mixed_events(count, expected)
    total_rows = sum(expected.rows.values())
    async with Run(servers, session) as run:
        await produce(servers.kafka, run, events)
        run.start_consumers(consumers, batch_rows, buffered_rows=6 * batch_rows)
        low = high = None
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline:
            rows = await run.stored_rows()
            now = time.monotonic()
            if low is None and rows >= 0.1 * total_rows:
                low, first = now, CpuShot.take(run.processes)
            if rows >= 0.9 * total_rows:
                high, last = now, CpuShot.take(run.processes)
                break
            await asyncio.sleep(0.05)
        assert low is not None and high is not None, "the consumers did not finish"
        ours = 0.8 * count / (high - low) if high > low else float("inf")
        through_consumers = last.since(first, 0.8 * count)
        while await run.rows() < total_rows and time.monotonic() < deadline:
            await asyncio.sleep(0.1)  # all of them, before the run's topics are removed
        assert await run.rows() == total_rows, "rows missing or doubled"

    prepared = encoded_rows(events)
    async with Run(servers, session) as run:
        started, before = time.monotonic(), CpuShot.take([])

        async def insert(table: str) -> None:
            rows = prepared[table]
            for begin in range(0, len(rows), batch_rows):
                await run.clickhouse.insert_rowbinary(
                    table,
                    COLUMNS[table],  # type: ignore[index]
                    b"".join(rows[begin : begin + batch_rows]),
                    query_id=f"bench-{uuid.uuid4().hex}",
                )

        await asyncio.gather(*(insert(table) for table in TABLES))
        limit = count / (time.monotonic() - started)
        straight = CpuShot.take([]).since(before, count)
    return Throughput(ours, limit, through_consumers, straight)


def _cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def read_with_aiokafka(kafka: str, topics: list[str], count: int) -> tuple[float, float]:
    consumer = AIOKafkaConsumer(
        *topics,
        bootstrap_servers=kafka,
        group_id=f"bench-clients-{uuid.uuid4().hex[:8]}",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        max_partition_fetch_bytes=8 << 20,
        fetch_max_bytes=50 << 20,
    )
    await consumer.start()
    try:
        read, started, cpu = 0, 0.0, 0.0
        while read < count:
            fetched = await consumer.getmany(timeout_ms=500, max_records=10_000)
            if fetched and not started:
                started, cpu = time.monotonic(), _cpu_s()
            for records in fetched.values():
                for record in records:
                    _ = record.offset, record.value
                read += sum(len(records) for records in fetched.values())
        return read / (time.monotonic() - started), (_cpu_s() - cpu) / read * 1e6
    finally:
        await consumer.stop()


def read_with_confluent(kafka: str, topics: list[str], count: int) -> tuple[float, float]:
    from confluent_kafka import Consumer

    consumer = Consumer(
        {
            "bootstrap.servers": kafka,
            "group.id": f"bench-clients-{uuid.uuid4().hex[:8]}",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
            "fetch.max.bytes": 50 << 20,
            "max.partition.fetch.bytes": 8 << 20,
        }
    )
    consumer.subscribe(topics)
    try:
        read, started, cpu = 0, 0.0, 0.0
        while read < count:
            messages = consumer.consume(num_messages=10_000, timeout=0.5)
            if messages and not started:
                started, cpu = time.monotonic(), _cpu_s()
            for message in messages:
                if message.error() is None:
                    _ = message.offset(), message.value()
                    read += 1
        return read / (time.monotonic() - started), (_cpu_s() - cpu) / read * 1e6
    finally:
        consumer.close()


async def clients(
    servers: Servers, session: aiohttp.ClientSession, count: int
) -> tuple[tuple[float, float], tuple[float, float]]:
    """((records/s, CPU µs/record) of aiokafka, the same of confluent-kafka), one set of events."""
    events = mixed_events(count, Expected())
    async with Run(servers, session) as run:
        await produce(servers.kafka, run, events)
        topics = sorted({run.topic(source) for source, _, _ in events})
        ours = await read_with_aiokafka(servers.kafka, topics, count)
        theirs = await asyncio.to_thread(read_with_confluent, servers.kafka, topics, count)
    return ours, theirs


async def latency(
    servers: Servers, session: aiohttp.ClientSession, rate: float, seconds: float
) -> tuple[float, float]:
    viewed = next(kind for kind in KINDS if kind.source == "dashboard")
    count = int(rate * seconds)
    async with Run(servers, session) as run:
        run.start_consumers(1, 10_000, 100_000)  # the service's defaults
        # Wait until the consumer is in the group and flushing: one warm-up event.
        key, value = stamp(viewed)
        await produce(servers.kafka, run, [("dashboard", key, value)])
        while await run.rows("user_activity") < 1:
            await asyncio.sleep(0.05)
        events = []
        for _ in range(count):
            key, value = stamp(viewed)
            events.append(("dashboard", key, value))
        seen: list[tuple[float, int]] = []

        async def watch() -> None:
            while True:
                rows = await run.rows("user_activity") - 1
                seen.append((time.time(), rows))
                if rows >= count:
                    return
                await asyncio.sleep(0.02)

        watcher = asyncio.create_task(watch())
        sent = await produce(servers.kafka, run, events, rate=rate)
        await asyncio.wait_for(watcher, 120)
    latencies = []
    position = 0
    for index, sent_at in enumerate(sent):
        while seen[position][1] < index + 1:
            position += 1
        latencies.append(seen[position][0] - sent_at)
    return percentile(latencies, 50) * 1000, percentile(latencies, 99) * 1000


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--consumers", type=int, default=2)
    parser.add_argument("--batch-rows", type=int, default=50_000)
    parser.add_argument("--rate", type=float, default=10_000)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--client-events", type=int, default=300_000)
    args = parser.parse_args()
    servers = Servers.from_environment()
    runs: list[Throughput] = []
    p50s: list[float] = []
    p99s: list[float] = []
    aiokafka_rates, aiokafka_cpu, confluent_rates, confluent_cpu = [], [], [], []
    async with client_session() as session:
        for repeat in range(args.repeats):
            measured = await throughput(
                servers, session, args.events, args.consumers, args.batch_rows
            )
            runs.append(measured)
            p50, p99 = await latency(servers, session, args.rate, args.seconds)
            p50s.append(p50)
            p99s.append(p99)
            (a_rate, a_cpu), (c_rate, c_cpu) = await clients(servers, session, args.client_events)
            aiokafka_rates.append(a_rate)
            aiokafka_cpu.append(a_cpu)
            confluent_rates.append(c_rate)
            confluent_cpu.append(c_cpu)
            during = measured.through_consumers
            print(
                f"run {repeat + 1}: {measured.rate:,.0f} events/s (clickhouse limit "
                f"{measured.limit:,.0f}); CPU µs/event: consumers {during.consumers_us:.2f}, "
                f"clickhouse {during.clickhouse_us:.2f}, broker {during.broker_us:.2f}, "
                f"other {during.other_us:.2f}, cores busy {during.busy:.0%} (straight inserts: "
                f"clickhouse {measured.straight.clickhouse_us:.2f}, cores busy "
                f"{measured.straight.busy:.0%}); latency p50 {p50:.0f} ms p99 {p99:.0f} ms; "
                f"clients: aiokafka {a_rate:,.0f} records/s ({a_cpu:.2f} µs CPU each), "
                f"confluent-kafka {c_rate:,.0f} ({c_cpu:.2f})"
            )
    ratios = [measured.rate / measured.limit for measured in runs]
    spent = [measured.through_consumers for measured in runs]
    consumer_us = median([m.consumers_us for m in spent])
    budget_us = median([measured.consumer_budget_us for measured in runs])
    print(
        f"consumers' CPU per event {consumer_us:.2f} µs; at a ratio of {TARGET_RATIO}, with the "
        f"rest's cost unchanged, they could spend {budget_us:.2f} µs"
    )
    write(
        "ingest",
        {
            "events": args.events,
            "consumers": args.consumers,
            "batch_rows": args.batch_rows,
            "latency_rate": args.rate,
            "latency_seconds": args.seconds,
            "repeats": args.repeats,
            "client_events": args.client_events,
            "partitions": PARTITIONS,
        },
        {
            "events_per_s": figure(
                median([m.rate for m in runs]), "events/s", "higher", target=150_000
            ),
            "clickhouse_limit_events_per_s": figure(
                median([m.limit for m in runs]), "events/s", "higher"
            ),
            "clickhouse_limit_ratio": figure(
                median(ratios), "ratio", "higher", target=TARGET_RATIO
            ),
            "consumer_cpu_us_per_event": figure(consumer_us, "us", "lower"),
            "consumer_cpu_budget_us_per_event_at_target_ratio": figure(budget_us, "us", "higher"),
            "clickhouse_cpu_us_per_event": figure(
                median([m.clickhouse_us for m in spent]), "us", "lower"
            ),
            "broker_cpu_us_per_event": figure(median([m.broker_us for m in spent]), "us", "lower"),
            "other_cpu_us_per_event": figure(median([m.other_us for m in spent]), "us", "lower"),
            "cores_busy_share": figure(median([m.busy for m in spent]), "ratio", "higher"),
            "clickhouse_limit_cpu_us_per_event": figure(
                median([measured.straight.clickhouse_us for measured in runs]), "us", "lower"
            ),
            "clickhouse_limit_cores_busy_share": figure(
                median([measured.straight.busy for measured in runs]), "ratio", "higher"
            ),
            "latency_p50_ms": figure(median(p50s), "ms", "lower"),
            "latency_p99_ms": figure(median(p99s), "ms", "lower", target=1_000),
            "client_aiokafka_records_per_s": figure(median(aiokafka_rates), "records/s", "higher"),
            "client_aiokafka_cpu_us_per_record": figure(median(aiokafka_cpu), "us", "lower"),
            "client_confluent_kafka_records_per_s": figure(
                median(confluent_rates), "records/s", "higher"
            ),
            "client_confluent_kafka_cpu_us_per_record": figure(
                median(confluent_cpu), "us", "lower"
            ),
        },
    )


if __name__ == "__main__":
    asyncio.run(main())
