"""The consumer inside the service, started as the stack starts it (``lookout-serve ingestion``):
SIGTERM goes through uvicorn's shutdown to the app's ``on_shutdown``, which flushes what is
buffered and commits it — every event stored once, and a restart reads nothing again."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
from pathlib import Path

import aiohttp
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from lookout_ingestion.mapping import TABLES
from lookout_testing.broker import free_port
from lookout_testing.waiting import wait_until

from tests.ingestion.conftest import (
    PARTITIONS,
    REPO,
    SOURCES,
    Metered,
    Pipeline,
    pipeline_clickhouse,
    stop_process,
)
from tests.ingestion.factories import Expected, mixed_events

EVENTS = 400
MORE = 8


def start_service(pipeline: Pipeline, log: Path) -> Metered:
    """``lookout-serve ingestion`` with the pipeline's settings; no flush is due by age or size
    while the test runs (a minute, 100,000 rows): only the shutdown can store the events."""
    port = free_port()
    env = pipeline.env(
        port=str(port),
        host="127.0.0.1",
        root_path="/api/ingestion",
        batch_max_age_s="60",
        batch_max_rows="100000",
        lag_interval_s="0.5",
    )
    env["PYTHONUNBUFFERED"] = "1"
    process = subprocess.Popen(
        [str(Path(sys.executable).parent / "lookout-serve"), "ingestion"],
        env=env,
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
        cwd=REPO,
    )
    pipeline.processes.append(process)  # killed by the fixture if the test fails midway
    return Metered(process, f"http://127.0.0.1:{port}/metrics")


async def produce_all(pipeline: Pipeline, events: list[tuple[str, bytes, bytes]]) -> dict[str, int]:
    """Send the events; per partition written, the offset after its last one (where the log ends:
    asked from the broker instead, Tansu answers with less)."""
    producer = AIOKafkaProducer(
        bootstrap_servers=pipeline.kafka, enable_idempotence=False, acks="all", linger_ms=10
    )
    await producer.start()
    try:
        futures = [
            await producer.send(pipeline.topic(source), value=value, key=key)
            for source, key, value in events
        ]
        written = await asyncio.gather(*futures)
    finally:
        await producer.stop()
    ends: dict[str, int] = {}
    for record in written:
        name = f"{record.topic}/{record.partition}"
        ends[name] = max(ends.get(name, 0), record.offset + 1)
    return ends


async def committed(pipeline: Pipeline) -> dict[str, int]:
    """Per partition of the pipeline's topics that has a commit: the group's committed offset."""
    partitions = [
        TopicPartition(pipeline.topic(source), n) for source in SOURCES for n in range(PARTITIONS)
    ]
    reader = AIOKafkaConsumer(
        bootstrap_servers=pipeline.kafka, group_id=pipeline.prefix, enable_auto_commit=False
    )
    await reader.start()
    try:
        found = {f"{p.topic}/{p.partition}": await reader.committed(p) for p in partitions}
    finally:
        await reader.stop()
    return {name: offset for name, offset in found.items() if offset is not None}


async def test_sigterm_flushes_and_commits_through_the_services_shutdown(
    pipeline: Pipeline, ch_session: aiohttp.ClientSession, tmp_path: Path
) -> None:
    expected = Expected()
    events = mixed_events(EVENTS, expected)
    service = start_service(pipeline, tmp_path / "service.log")
    ends = await produce_all(pipeline, events)
    clickhouse = pipeline_clickhouse(pipeline, ch_session)

    async with aiohttp.ClientSession() as session:

        async def all_read() -> bool:
            return await service.value(session, "lookout_ingestion_events_total") == EVENTS

        await wait_until(all_read, timeout=60, interval=0.25, message="the service to read all")

        # Nothing is committed yet: the lag is every event written (the log's real end, which
        # Tansu's ListOffsets answers lower than it is).
        async def lag_is_everything() -> bool:
            return await service.value(session, "lookout_ingestion_consumer_lag") == EVENTS

        await wait_until(
            lag_is_everything, timeout=10, interval=0.25, message="the lag to count all"
        )
    # Read and buffered, not stored: no flush was due.
    assert {table: rows for table, (rows, _) in (await pipeline.counts(clickhouse)).items()} == {
        table: 0 for table in TABLES
    }

    stop_process(service.process, signal.SIGTERM)
    log = (tmp_path / "service.log").read_text()
    # uvicorn re-raises the signal once its shutdown is complete: ended by it, not killed.
    assert service.process.returncode in (0, -signal.SIGTERM), log[-2000:]
    assert "Application shutdown complete." in log, log[-2000:]
    assert await pipeline.counts(clickhouse) == {
        table: (expected.rows[table], expected.rows[table]) for table in TABLES
    }
    assert sum(ends.values()) == EVENTS
    # Every partition committed up to its end: a restart begins after the last event.
    assert await committed(pipeline) == ends

    # A restart: once it holds the partitions, new events come after the committed ones; when it
    # has read the new ones, reading any old one again would have been counted before them.
    again = start_service(pipeline, tmp_path / "restarted.log")
    async with aiohttp.ClientSession() as session:

        async def holds_all() -> bool:
            return len(await again.assigned(session)) == len(ends)

        await wait_until(holds_all, timeout=30, interval=0.25, message="the restart to join")
        more = Expected()
        await produce_all(pipeline, mixed_events(MORE, more))

        async def read_new() -> bool:
            return await again.value(session, "lookout_ingestion_events_total") >= MORE

        await wait_until(read_new, timeout=30, interval=0.25, message="the new events read")
        read = await again.value(session, "lookout_ingestion_events_total")
    stop_process(again.process, signal.SIGTERM)
    assert read == MORE  # the new events only: nothing before them read again
    expected.rows.update(more.rows)
    assert await pipeline.counts(clickhouse) == {
        table: (expected.rows[table], expected.rows[table]) for table in TABLES
    }
