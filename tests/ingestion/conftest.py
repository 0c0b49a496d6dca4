"""Harness of the ingestion tests: an isolated pipeline (own topics, group, DLQ and ClickHouse
database), consumers as subprocesses that can be killed, a producer, and a private ClickHouse."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import pytest
from aiokafka import AIOKafkaProducer
from lookout_ingestion.mapping import TABLES
from lookout_ingestion.migrate import apply_migrations
from lookout_kit.clickhouse import ClickHouse, ClickHouseError, client_session
from lookout_kit.kafka import ensure_topics
from lookout_testing.broker import PrivateBroker, free_port
from lookout_testing.clickhouse import temporary_clickhouse_database
from lookout_testing.servers import Servers, unavailable
from lookout_testing.waiting import wait_until
from prometheus_client.parser import text_string_to_metric_families

from tests.ingestion.factories import Expected

REPO = Path(__file__).resolve().parents[2]
SOURCES = ("dashboard", "datasource", "alert", "identity")
PARTITIONS = 3

ID_COLUMNS = {
    "dashboard_events": "event_id",
    "query_metrics": "query_id",
    "user_activity": "activity_id",
}


@dataclass
class Pipeline:
    """One test's own topics, consumer group, dead-letter topic and ClickHouse database."""

    kafka: str
    clickhouse_url: str
    database: str
    log_dir: Path
    prefix: str = field(default_factory=lambda: f"itest_{uuid.uuid4().hex[:10]}")
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)

    @property
    def pattern(self) -> str:
        return f"^{self.prefix}\\.[a-z]+\\.events$"

    @property
    def dlq_topic(self) -> str:
        return f"{self.prefix}.dlq"

    def topic(self, source: str) -> str:
        return f"{self.prefix}.{source}.events"

    def env(self, **overrides: str) -> dict[str, str]:
        env = {
            **os.environ,
            "LOOKOUT_INGESTION_KAFKA_BOOTSTRAP_SERVERS": self.kafka,
            "LOOKOUT_INGESTION_CLICKHOUSE_URL": self.clickhouse_url,
            "LOOKOUT_INGESTION_CLICKHOUSE_DATABASE": self.database,
            "LOOKOUT_INGESTION_CONSUMER_GROUP": self.prefix,
            "LOOKOUT_INGESTION_TOPIC_PATTERN": self.pattern,
            "LOOKOUT_INGESTION_DLQ_TOPIC": self.dlq_topic,
            "LOOKOUT_INGESTION_SESSION_TIMEOUT_MS": "6000",
            "LOOKOUT_INGESTION_RETRY_MAX_S": "1.0",
        }
        env.update(
            {f"LOOKOUT_INGESTION_{name.upper()}": value for name, value in overrides.items()}
        )
        return env

    def start_consumer(self, **overrides: str) -> subprocess.Popen[bytes]:
        """``python -m lookout_ingestion.consumer`` with this pipeline's settings."""
        return self._start("lookout_ingestion.consumer", self.env(**overrides))

    def start_metered_consumer(self, **overrides: str) -> Metered:
        """A consumer whose metrics the test can read (``tests.ingestion.metered_consumer``); its
        lag, per assigned partition, is measured every half second unless overridden."""
        port = free_port()
        env = self.env(**{"lag_interval_s": "0.5", **overrides})
        env["LOOKOUT_TEST_METRICS_PORT"] = str(port)
        process = self._start("tests.ingestion.metered_consumer", env)
        return Metered(process, f"http://127.0.0.1:{port}/metrics")

    def _start(self, module: str, env: dict[str, str]) -> subprocess.Popen[bytes]:
        log = (self.log_dir / f"consumer-{len(self.processes)}.log").open("wb")
        process = subprocess.Popen(
            [sys.executable, "-m", module],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=REPO,
        )
        self.processes.append(process)
        return process

    async def create_topics(self) -> None:
        await ensure_topics(
            self.kafka, [self.topic(source) for source in SOURCES], partitions=PARTITIONS
        )

    async def counts(self, clickhouse: ClickHouse) -> dict[str, tuple[int, int]]:
        """Per table: (rows, distinct ids)."""
        result = {}
        for table in TABLES:
            rows = await clickhouse.rows(
                f"SELECT count() AS n, uniqExact({ID_COLUMNS[table]}) AS ids FROM {table}"
            )
            result[table] = (int(rows[0]["n"]), int(rows[0]["ids"]))
        return result

    async def partition_spans(self, clickhouse: ClickHouse) -> str:
        """Per table and partition: rows and offset range (a gap shows as rows < span)."""
        spans = []
        try:
            for table in TABLES:
                rows = await clickhouse.rows(
                    f"SELECT _topic, _partition, count() AS n, min(_offset) AS low, "
                    f"max(_offset) AS high FROM {table} GROUP BY _topic, _partition "
                    f"ORDER BY _topic, _partition"
                )
                spans += [
                    f"{table}:{row['_topic'].rsplit('.', 2)[-2]}/{row['_partition']} "
                    f"{row['n']} in [{row['low']}, {row['high']}]"
                    for row in rows
                ]
        except (ClickHouseError, aiohttp.ClientError, OSError) as error:
            return repr(error)
        return "; ".join(spans)

    async def wait_for_rows(
        self, clickhouse: ClickHouse, expected: Expected, *, timeout: float = 60.0
    ) -> dict[str, tuple[int, int]]:
        """Wait until every table holds at least the expected rows; return the final counts."""

        last: dict[str, tuple[int, int]] | str = "no answer yet"

        async def arrived() -> dict[str, tuple[int, int]] | None:
            nonlocal last
            try:
                counts = await self.counts(clickhouse)
            except (ClickHouseError, aiohttp.ClientError, OSError) as error:
                last = repr(error)
                return None  # the consumer has not made its tables yet, or the server is down
            last = counts
            done = all(counts[table][0] >= expected.rows[table] for table in TABLES)
            return counts if done else None

        try:
            await wait_until(arrived, timeout=timeout, interval=0.25, message="rows in clickhouse")
        except AssertionError as error:
            # Say how far it got: missing rows and a stalled consumer look alike otherwise.
            raise AssertionError(
                f"{error}; expected {expected.rows}, last (rows, distinct ids): {last}; "
                f"per partition: {await self.partition_spans(clickhouse)}"
            ) from None
        await asyncio.sleep(1.5)  # a duplicate would come in a later flush: give it the chance
        return await self.counts(clickhouse)


@dataclass
class Metered:
    """A consumer process and where its Prometheus metrics are served."""

    process: subprocess.Popen[bytes]
    url: str

    async def metrics(self, session: aiohttp.ClientSession) -> dict[tuple[str, str], float]:
        """Each sample as (name, labels) → value; labels as ``k=v,...`` sorted. Empty while the
        process has not started serving them."""
        try:
            async with session.get(self.url, timeout=aiohttp.ClientTimeout(total=2)) as response:
                text = await response.text()
        except (aiohttp.ClientError, OSError, TimeoutError):
            return {}
        return {
            (sample.name, ",".join(f"{k}={v}" for k, v in sorted(sample.labels.items()))): (
                sample.value
            )
            for family in text_string_to_metric_families(text)
            for sample in family.samples
        }

    async def assigned(self, session: aiohttp.ClientSession) -> set[str]:
        """The partitions (``topic=...,partition=...``) whose lag it measures: its assignment."""
        metrics = await self.metrics(session)
        return {labels for name, labels in metrics if name == "lookout_ingestion_consumer_lag"}

    async def value(self, session: aiohttp.ClientSession, name: str) -> float:
        """The sum of a metric's samples (0 when absent)."""
        metrics = await self.metrics(session)
        return sum(value for (sample, _), value in metrics.items() if sample == name)


def stop_process(process: subprocess.Popen[bytes], sig: int = signal.SIGTERM) -> None:
    if process.poll() is None:
        process.send_signal(sig)
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture
async def pipeline(servers: Servers, tmp_path: Path) -> AsyncIterator[Pipeline]:
    async for built in _pipeline(servers.kafka, servers, tmp_path):
        yield built


@pytest.fixture
async def restartable_pipeline(
    private_broker: PrivateBroker, servers: Servers, tmp_path: Path
) -> AsyncIterator[Pipeline]:
    """A pipeline on a broker of the test's own, which it may restart (its topics then begin
    again at offset 0, with new topic ids)."""
    async for built in _pipeline(private_broker.bootstrap_servers, servers, tmp_path):
        yield built


async def _pipeline(kafka: str, servers: Servers, tmp_path: Path) -> AsyncIterator[Pipeline]:
    async with temporary_clickhouse_database(servers.clickhouse, prefix="itest") as client:
        built = Pipeline(
            kafka=kafka,
            clickhouse_url=servers.clickhouse,
            database=client.database,
            log_dir=tmp_path,
        )
        await built.create_topics()
        async with client_session() as session:
            # The consumer applies them too; done here so a test can count rows from the start.
            await apply_migrations(pipeline_clickhouse(built, session))
        try:
            yield built
        finally:
            for process in built.processes:
                stop_process(process, signal.SIGKILL)


@pytest.fixture
async def ch_session() -> AsyncIterator[aiohttp.ClientSession]:
    async with client_session() as session:
        yield session


def pipeline_clickhouse(pipeline: Pipeline, session: aiohttp.ClientSession) -> ClickHouse:
    return ClickHouse(session, url=pipeline.clickhouse_url, database=pipeline.database)


async def produce(
    kafka: str,
    pipeline: Pipeline,
    events: list[tuple[str, bytes, bytes]],
    *,
    rate: float | None = None,
) -> None:
    """Send (source, key, value) events to the pipeline's topics; ``rate``: events/s, else all."""
    producer = AIOKafkaProducer(
        bootstrap_servers=kafka, enable_idempotence=False, acks="all", linger_ms=10
    )
    await producer.start()
    try:
        chunk = 500 if rate is None else max(1, int(rate / 20))
        loop = asyncio.get_running_loop()
        started = loop.time()
        for first in range(0, len(events), chunk):
            futures = [
                await producer.send(pipeline.topic(source), value=value, key=key)
                for source, key, value in events[first : first + chunk]
            ]
            await asyncio.gather(*futures)
            if rate is not None:
                ahead = (first + chunk) / rate - (loop.time() - started)
                if ahead > 0:
                    await asyncio.sleep(ahead)
    finally:
        await producer.stop()


# A private ClickHouse server, for the outage test (the shared one must keep running).


@dataclass
class PrivateClickHouse:
    home: Path
    http_port: int = field(default_factory=free_port)
    tcp_port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    def write_config(self) -> Path:
        for part in ("data", "tmp", "user_files", "format_schemas", "logs"):
            (self.home / part).mkdir(parents=True, exist_ok=True)
        sys.path.insert(0, str(REPO / "deploy" / "local"))
        from stack_config import render_clickhouse_users

        (self.home / "users.xml").write_text(render_clickhouse_users())
        config = self.home / "config.xml"
        config.write_text(
            f"""<?xml version="1.0"?>
<yandex>
    <logger><level>warning</level><log>{self.home}/logs/server.log</log>
        <errorlog>{self.home}/logs/server.err.log</errorlog></logger>
    <listen_host>127.0.0.1</listen_host>
    <http_port>{self.http_port}</http_port>
    <tcp_port>{self.tcp_port}</tcp_port>
    <path>{self.home}/data/</path>
    <tmp_path>{self.home}/tmp/</tmp_path>
    <user_files_path>{self.home}/user_files/</user_files_path>
    <format_schema_path>{self.home}/format_schemas/</format_schema_path>
    <users_config>{self.home}/users.xml</users_config>
    <default_profile>default</default_profile>
    <default_database>default</default_database>
    <timezone>UTC</timezone>
    <mark_cache_size>134217728</mark_cache_size>
</yandex>
"""
        )
        return config

    async def start(self) -> None:
        config = self.write_config()
        self.process = subprocess.Popen(
            ["clickhouse-server", f"--config-file={config}"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            cwd=self.home,
        )

        async def answers() -> bool:
            try:
                async with aiohttp.ClientSession() as session:
                    async with session.get(
                        f"{self.url}/ping", timeout=aiohttp.ClientTimeout(total=1)
                    ) as response:
                        return response.status == 200
            except (aiohttp.ClientError, OSError, TimeoutError):
                return False

        await wait_until(answers, timeout=30, interval=0.2, message="private clickhouse")

    async def stop(self) -> None:
        process, self.process = self.process, None
        if process is not None:
            process.kill()  # the harshest outage: no goodbye to clients mid-insert
            await asyncio.to_thread(process.wait)


@pytest.fixture
async def private_clickhouse(tmp_path: Path) -> AsyncIterator[PrivateClickHouse]:
    if shutil.which("clickhouse-server") is None:
        unavailable("clickhouse-server is not installed")
    server = PrivateClickHouse(home=tmp_path / "clickhouse")
    await server.start()
    try:
        yield server
    finally:
        await server.stop()
