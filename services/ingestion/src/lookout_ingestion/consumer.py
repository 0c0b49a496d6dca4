"""The ingestion consumer: the pipeline's steps, written down as a chain, and its lifecycle.

Every ``*.events`` topic (a pattern: new topics join by themselves) is read by one consumer group.
A fetch becomes runs (one partition's records, ``rebalance.admit``), and each run goes down

    admit → decode → drop resends → map + encode → drop stored copies → dead letter → flush
    (→ insert → commit)

one step per module (``steps.py`` says what a step is). The head (``backpressure.Admit``) answers
``MessageRejected`` while the flush step has no room; ``backpressure.py`` then stops fetching
until the head takes the run.
``rebalance.py`` owns which partitions are this consumer's and which log they are in. The
effectively-once argument is in the service's README.

Run standalone with ``python -m lookout_ingestion.consumer`` (the crash tests do); the service
process runs it as a background task (``app.py``), both through ``runner.py``.
"""

from __future__ import annotations

import asyncio
import logging

import aiohttp
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.errors import KafkaError
from lookout_kit.clickhouse import ClickHouse, client_session
from lookout_kit.kafka import ensure_topics
from lookout_kit.retry import Backoff

from lookout_ingestion.backpressure import Admit, Backpressure
from lookout_ingestion.commit import Committer
from lookout_ingestion.dead_letter import DeadLetter, DeadLetters
from lookout_ingestion.decode import Decode
from lookout_ingestion.dedup import DropResends, RecentIds
from lookout_ingestion.flushing import Flush, Flusher
from lookout_ingestion.insert import INSERT_ERRORS
from lookout_ingestion.lag import report_lag
from lookout_ingestion.migrate import apply_migrations
from lookout_ingestion.rebalance import Listener, Partitions
from lookout_ingestion.repository.offsets import StoredOffsets
from lookout_ingestion.rows import MapEncode
from lookout_ingestion.service.logs import LogWatch
from lookout_ingestion.settings import Settings
from lookout_ingestion.steps import Step
from lookout_ingestion.stored_copies import DropStoredCopies, stored_copies_finder

logger = logging.getLogger("lookout.ingestion.consumer")


class IngestionConsumer:
    """One replica's consumer. ``start()``, then ``run()`` until ``stopping``, then ``close()``."""

    def __init__(self, settings: Settings, stopping: asyncio.Event) -> None:
        if not settings.clickhouse_url:
            raise ValueError("the ingestion consumer needs clickhouse_url")
        self._settings = settings
        self._stopping = stopping
        self._session: aiohttp.ClientSession | None = None
        self._consumer: AIOKafkaConsumer | None = None
        self._producer: AIOKafkaProducer | None = None
        self._logs = LogWatch(settings.kafka_bootstrap_servers)
        self._flusher: Flusher | None = None
        self._partitions: Partitions | None = None
        self._backpressure: Backpressure | None = None
        self._lag_task: asyncio.Task[None] | None = None
        self._chain: Step | None = None

    # Lifecycle ----------------------------------------------------------------------------------

    async def start(self) -> None:
        settings = self._settings
        self._session = client_session()
        clickhouse = ClickHouse.from_settings(
            self._session, settings, timeout_s=settings.insert_timeout_s
        )
        await apply_migrations(clickhouse)
        await ensure_topics(
            settings.kafka_bootstrap_servers,
            [settings.dlq_topic],
            partitions=settings.kafka_topic_partitions,
            replication_factor=settings.kafka_replication_factor,
        )
        self._producer = AIOKafkaProducer(
            bootstrap_servers=settings.kafka_bootstrap_servers,
            enable_idempotence=settings.kafka_idempotent_producer,
            acks="all",
            linger_ms=5,
        )
        await self._producer.start()
        await self._logs.start()
        # The client's default request timeout (40 s) stays: a JoinGroup legitimately waits for the
        # whole group's rebalance.
        self._consumer = consumer = AIOKafkaConsumer(
            bootstrap_servers=settings.kafka_bootstrap_servers,
            group_id=settings.consumer_group,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            metadata_max_age_ms=settings.metadata_max_age_ms,
            session_timeout_ms=settings.session_timeout_ms,
            heartbeat_interval_ms=max(100, settings.session_timeout_ms // 3),
            max_partition_fetch_bytes=settings.fetch_max_partition_bytes,
            fetch_max_bytes=settings.fetch_max_bytes,
        )
        backoff = Backoff(settings.retry_initial_s, settings.retry_max_s)
        query_id_prefix = (
            f"lookout-ingestion:{settings.consumer_group}:{settings.clickhouse_database}:"
        )
        stored, committer = StoredOffsets(), Committer(consumer)
        recent = RecentIds(settings.dedup_window)

        def owned(partition: TopicPartition, generation: int) -> bool:
            return partitions.is_owned(partition, generation)

        self._flusher = flusher = Flusher(
            settings,
            clickhouse=clickhouse,
            committer=committer,
            stored=stored,
            backoff=backoff,
            query_id_prefix=query_id_prefix,
            owned=owned,
        )
        self._partitions = partitions = Partitions(
            settings,
            consumer=consumer,
            clickhouse=clickhouse,
            flusher=flusher,
            committer=committer,
            stored=stored,
            recent=recent,
            logs=self._logs,
            backoff=backoff,
            query_id_prefix=query_id_prefix,
        )

        async def flushed(partition: TopicPartition) -> None:
            if flusher.holds(partition):
                await partitions.drain()

        # The pipeline, step after step.
        flush = Flush(
            flusher,
            self._logs,
            max_buffered_rows=settings.max_buffered_rows,
            generation=lambda: partitions.generation,
        )
        chain = Admit(
            partitions.current,
            flush.has_room,
            Decode(
                DropResends(
                    recent,
                    partitions.seek,
                    MapEncode(
                        self._logs,
                        stored,
                        DropStoredCopies(
                            stored_copies_finder(clickhouse, self._logs, backoff, flushed),
                            DeadLetter(DeadLetters(self._producer, settings.dlq_topic), flush),
                        ),
                    ),
                )
            ),
        )
        self._backpressure = partitions.backpressure = Backpressure(consumer, chain)
        self._chain = chain
        await consumer.start()
        consumer.subscribe(pattern=settings.topic_pattern, listener=Listener(partitions))
        self._lag_task = asyncio.create_task(
            report_lag(consumer, committer.committed, settings.lag_interval_s)
        )
        logger.info(
            "ingestion consumer started",
            extra={"group": settings.consumer_group, "pattern": settings.topic_pattern},
        )

    async def run(self) -> None:
        assert self._consumer is not None and self._partitions is not None
        assert self._backpressure is not None and self._chain is not None
        consumer, partitions, backpressure = self._consumer, self._partitions, self._backpressure
        chain = self._chain
        max_records = self._settings.fetch_max_records
        while not self._stopping.is_set():
            chain.poll()
            backpressure.retry()
            fetched = await consumer.getmany(
                timeout_ms=50 if backpressure.paused else 100, max_records=max_records
            )
            if fetched:
                for run in await partitions.admit(fetched):
                    backpressure.submit(run)

    async def close(self) -> None:
        """Flush and commit what is buffered (bounded in time), then leave the group."""
        if self._lag_task is not None:
            self._lag_task.cancel()
        flusher, partitions = self._flusher, self._partitions
        if flusher is not None and flusher.failed:
            logger.warning(
                "a flush failed: nothing more is committed; read again from the last commit"
            )
        elif self._chain is not None and partitions is not None:
            self._chain.close()  # no more runs: what it holds is stored and committed
            try:
                await self._chain.join(self._settings.revoke_flush_timeout_s)
            except TimeoutError:
                logger.warning("stopping with unflushed rows: they will be read again")
            except (*INSERT_ERRORS, KafkaError) as error:
                logger.warning("final flush failed", extra={"error": repr(error)})
            partitions.generation += 1
            await partitions.wait_for_own_inserts()
        if self._consumer is not None:
            await self._consumer.stop()
        if self._producer is not None:
            await self._producer.stop()
        await self._logs.close()
        if self._session is not None:
            await self._session.close()
        logger.info("ingestion consumer stopped")


if __name__ == "__main__":
    from lookout_ingestion.runner import main

    main()
