"""The ingestion consumer: decode → validate → map → batch → insert → commit, composed here.

Every ``*.events`` topic (a pattern: new topics join by themselves) is read by one consumer group.
Each step lives in its own module (the flush and commit in ``flushing.py``, which log a partition
is in ``logs.py``); this one wires them, owns the rebalance protocol and the backpressure. The
effectively-once argument is in the service's README.

Run standalone with ``python -m lookout_ingestion.consumer`` (the crash tests do); the service
process runs it as a background task (``app.py``), both through ``runner.py``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
from aiokafka import (
    AIOKafkaConsumer,
    AIOKafkaProducer,
    ConsumerRebalanceListener,
    ConsumerRecord,
    TopicPartition,
)
from aiokafka.errors import KafkaError
from lookout_kit.clickhouse import ClickHouse, client_session
from lookout_kit.kafka import ensure_topics
from lookout_kit.retry import Backoff, retry

from lookout_ingestion.dead_letter import DeadLetters
from lookout_ingestion.decode import Rejected, decode
from lookout_ingestion.dedup import RecentIds
from lookout_ingestion.encoding import encode_origin, encode_row
from lookout_ingestion.flushing import Flusher
from lookout_ingestion.insert import INSERT_ERRORS
from lookout_ingestion.lag import forget_lag, report_lag
from lookout_ingestion.mapping import Unmappable, map_event
from lookout_ingestion.metrics import EVENTS, PAUSED
from lookout_ingestion.migrate import apply_migrations
from lookout_ingestion.repository.offsets import StoredOffsets, wait_for_running_inserts
from lookout_ingestion.service.logs import LogWatch
from lookout_ingestion.settings import Settings

logger = logging.getLogger("lookout.ingestion.consumer")


class IngestionConsumer:
    """One replica's consumer. ``start()``, then ``run()`` until ``stopping``, then ``close()``."""

    def __init__(self, settings: Settings, stopping: asyncio.Event) -> None:
        if not settings.clickhouse_url:
            raise ValueError("the ingestion consumer needs clickhouse_url")
        self._settings = settings
        self._stopping = stopping
        self._backoff = Backoff(settings.retry_initial_s, settings.retry_max_s)
        self._query_id_prefix = (
            f"lookout-ingestion:{settings.consumer_group}:{settings.clickhouse_database}:"
        )
        self._session: aiohttp.ClientSession | None = None
        self._clickhouse: ClickHouse | None = None
        self._consumer: AIOKafkaConsumer | None = None
        self._producer: AIOKafkaProducer | None = None
        self._dead_letters: DeadLetters | None = None
        self._flusher: Flusher | None = None
        self._logs = LogWatch(settings.kafka_bootstrap_servers)
        self._stored = StoredOffsets()
        self._recent = RecentIds(settings.dedup_window)
        self._owned: set[TopicPartition] = set()
        self._next: dict[TopicPartition, int] = {}
        """Per owned partition: the offset after the last record fetched; a record fetched below
        it (not re-read on purpose) means the partition's log began again."""
        self._generation = 0
        """Bumped at every revocation: a flush of an older generation stores and commits nothing more."""
        self._paused = False
        self._lag_task: asyncio.Task[None] | None = None

    # Lifecycle ----------------------------------------------------------------------------------

    async def start(self) -> None:
        settings = self._settings
        self._session = client_session()
        self._clickhouse = ClickHouse.from_settings(
            self._session, settings, timeout_s=settings.insert_timeout_s
        )
        await apply_migrations(self._clickhouse)
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
        self._dead_letters = DeadLetters(self._producer, settings.dlq_topic)
        # The client's default request timeout (40 s) stays: a JoinGroup legitimately waits for the
        # whole group's rebalance.
        self._consumer = AIOKafkaConsumer(
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
        self._flusher = Flusher(
            settings,
            clickhouse=self._clickhouse,
            consumer=self._consumer,
            stored=self._stored,
            backoff=self._backoff,
            query_id_prefix=self._query_id_prefix,
            owned=lambda partition, generation: (
                self._generation == generation and partition in self._owned
            ),
        )
        await self._consumer.start()
        self._consumer.subscribe(pattern=settings.topic_pattern, listener=_Rebalance(self))
        self._lag_task = asyncio.create_task(
            report_lag(self._consumer, self._flusher.committed, settings.lag_interval_s)
        )
        logger.info(
            "ingestion consumer started",
            extra={"group": settings.consumer_group, "pattern": settings.topic_pattern},
        )

    async def close(self) -> None:
        """Flush and commit what is buffered (bounded in time), then leave the group."""
        if self._lag_task is not None:
            self._lag_task.cancel()
        if self._flusher is not None and self._flusher.failed:
            logger.warning(
                "a flush failed: nothing more is committed; read again from the last commit"
            )
        elif self._flusher is not None and self._clickhouse is not None:
            try:
                await asyncio.wait_for(self._drain(), self._settings.revoke_flush_timeout_s)
            except TimeoutError:
                logger.warning("stopping with unflushed rows: they will be read again")
            except (*INSERT_ERRORS, KafkaError) as error:
                logger.warning("final flush failed", extra={"error": repr(error)})
            self._generation += 1
            await self._wait_for_own_inserts()
        if self._consumer is not None:
            await self._consumer.stop()
        if self._producer is not None:
            await self._producer.stop()
        await self._logs.close()
        if self._session is not None:
            await self._session.close()
        logger.info("ingestion consumer stopped")

    # The pipeline -------------------------------------------------------------------------------

    async def run(self) -> None:
        assert self._consumer is not None and self._flusher is not None
        settings, flusher = self._settings, self._flusher
        while not self._stopping.is_set():
            flusher.collect()
            if flusher.due():
                flusher.start(self._generation)
            self._apply_backpressure()
            wait_ms = 50 if self._paused else 100
            fetched = await self._consumer.getmany(
                timeout_ms=wait_ms, max_records=settings.fetch_max_records
            )
            if fetched:
                await self._drop_records_of_new_topics(fetched)
            for partition, records in fetched.items():
                await self._ingest(partition, records)

    async def _ingest(
        self, partition: TopicPartition, records: list[ConsumerRecord[Any, Any]]
    ) -> None:
        """decode → validate → drop resent → map → encode each record into the open batch."""
        if partition not in self._owned:
            self._not_owned(partition, records[0].offset)
            return
        assert self._dead_letters is not None and self._consumer is not None
        expected = self._next.get(partition)
        if expected is not None and records[0].offset < expected:
            # Only a log that began again gives offsets below those already fetched (the client
            # reset a position beyond its end to its start).
            await self._log_began_again(partition, records[0].offset)
            return
        self._next[partition] = records[-1].offset + 1
        window = self._recent.window(partition)
        if window is None:  # its first records since the assignment: read the window first
            start = self._recent.open(partition, records[0].offset)
            if start < records[0].offset:
                self._consumer.seek(partition, start)  # drops these; read again after the window
                self._next[partition] = start
                return
            window = self._recent.window(partition)
            assert window is not None
        seen, warm_until = window
        span = self._recent.span
        batch, generation = self._flusher.batch, self._generation
        stored = self._stored
        threshold = stored.threshold(partition)
        tables = batch.tables
        topic = self._logs.origin(partition)
        batch.logs[partition] = self._logs.name(partition)
        number = partition.partition
        ingested = skipped = resent = 0
        consumed = -1  # the last offset not yet recorded as consumed in the batch
        for record in records:
            offset = record.offset
            event = decode(record.value)
            if not isinstance(event, Rejected):
                key = event.id.int
                previous = seen.get(key)
                seen[key] = offset
                if offset < warm_until:
                    continue  # before the committed position: it only fills the window
                if previous is not None and previous < offset and offset - previous <= span:
                    resent += 1  # the relay's resend of an event stored (or dropped) before
                    consumed = offset
                    continue
                try:
                    rows = map_event(event)
                except Unmappable as error:
                    event = Rejected(str(error), Unmappable.code)
            elif offset < warm_until:
                continue  # dead-lettered when it was read at its turn
            if isinstance(event, Rejected):
                if consumed >= 0:  # positions stay exact across the await below
                    batch.consumed(partition, consumed + 1)
                    consumed = -1
                self._recent.advanced(partition, offset)
                batch.dead_letters.append(await self._dead_letters.send(record, event))
                if generation != self._generation:
                    return  # revoked meanwhile: this batch is gone; re-read after assignment
                EVENTS.labels("dead_lettered").inc()
                batch.consumed(partition, offset + 1)
                continue
            origin = encode_origin(topic, number, offset)
            for table, row in rows:
                if offset <= threshold and offset <= stored.stored(table, partition):
                    skipped += 1  # stored before a restart or rebalance
                    continue
                tables[table].add(partition, offset, encode_row(table, row, origin))
            ingested += 1
            consumed = offset
        if consumed >= 0:
            batch.consumed(partition, consumed + 1)
        self._recent.advanced(partition, records[-1].offset + 1)
        self._recent.trim(partition, records[-1].offset)
        EVENTS.labels("ingested").inc(ingested)
        if skipped:
            EVENTS.labels("skipped_rows").inc(skipped)
        if resent:
            EVENTS.labels("resent").inc(resent)

    def _not_owned(self, partition: TopicPartition, first_offset: int) -> None:
        """Records of a partition this consumer does not own (yet, or any more) were fetched.

        aiokafka hands out a new assignment's records while ``on_assigned`` still reads what
        ClickHouse holds; dropping them would leave the position past them and a later commit
        would skip them for good. A partition still assigned is rewound to the first of them
        (getmany returns records from the current position only, so that is where it was) and
        paused, not to fetch them again and again meanwhile; ``on_assigned`` resumes it once it is
        ours. A revoked partition's records are its new owner's, who reads them from the
        committed offset."""
        assert self._consumer is not None
        if partition in self._consumer.assignment():
            self._consumer.seek(partition, first_offset)
            self._consumer.pause(partition)

    async def _drain(self) -> None:
        assert self._flusher is not None
        await self._flusher.drain(lambda: self._generation)

    def _apply_backpressure(self) -> None:
        """Pause fetching while the unflushed rows exceed the bound; resume below it."""
        assert self._consumer is not None and self._flusher is not None
        full = self._flusher.unflushed_rows >= self._settings.max_buffered_rows
        if full and not self._paused:
            self._consumer.pause(*self._consumer.assignment())
            self._paused = True
            PAUSED.set(1)
        elif not full and self._paused:
            self._consumer.resume(*self._consumer.assignment())
            self._paused = False
            PAUSED.set(0)

    # Rebalances ---------------------------------------------------------------------------------

    async def _wait_for_own_inserts(self) -> None:
        """Wait until no INSERT of this process is on the wire (each is bounded by its timeout)."""
        assert self._clickhouse is not None
        while self._clickhouse.inserts_in_flight:
            await asyncio.sleep(0.05)

    async def on_revoked(self, revoked: list[TopicPartition]) -> None:
        assert self._flusher is not None
        try:
            await asyncio.wait_for(self._drain(), self._settings.revoke_flush_timeout_s)
        except TimeoutError:
            logger.warning("revocation before the last flush ended: its partitions re-read")
        # From here this process stores nothing more for the revoked partitions: older flushes
        # drop their rows at their next attempt, and the attempt on the wire ends first.
        self._generation += 1
        self._owned.difference_update(revoked)
        self._flusher.batch.drop(revoked)
        await self._wait_for_own_inserts()
        self._stored.forget(revoked, logs=True)
        self._logs.forget(revoked)
        self._recent.revoked(revoked)
        for partition in revoked:
            self._next.pop(partition, None)
            self._flusher.committed.pop(partition, None)
        forget_lag(revoked)

    async def on_assigned(self, assigned: list[TopicPartition]) -> None:
        await self._until_done(
            "identifying the assigned partitions' logs",
            lambda: self._identify(assigned, after_inserts=True),
        )
        self._owned.update(assigned)
        self._recent.assigned(assigned)
        assert self._consumer is not None
        self._consumer.resume(*assigned)  # paused by _not_owned if fetched before this point
        self._paused = False
        PAUSED.set(0)
        logger.info("partitions assigned", extra={"partitions": len(assigned)})

    async def _identify(
        self,
        partitions: list[TopicPartition],
        *,
        after_inserts: bool = False,
        went_back: bool = False,
    ) -> None:
        """Identify the partitions' current logs and read their stored watermarks, once no
        INSERT of a previous owner runs any more (``after_inserts``)."""
        assert self._clickhouse is not None and self._consumer is not None
        if after_inserts:
            await wait_for_running_inserts(self._clickhouse, self._query_id_prefix)
        await self._logs.identify(
            self._clickhouse, self._stored, self._consumer, partitions, went_back=went_back
        )
        if after_inserts:
            await self._logs.read_other_logs_from_their_start(self._consumer, partitions)

    async def _until_done(self, what: str, attempt_once: Callable[[], Awaitable[None]]) -> None:
        """Retry ``attempt_once`` with backoff while ClickHouse or the broker does not answer."""
        await retry(
            attempt_once,
            what=what,
            backoff=self._backoff,
            retry_on=(*INSERT_ERRORS, KafkaError),
            log=logger,
        )

    # Logs that begin again (``logs.py``) --------------------------------------------------------

    async def _drop_records_of_new_topics(
        self, fetched: dict[TopicPartition, list[ConsumerRecord[Any, Any]]]
    ) -> None:
        """Before records are ingested: was any of their topics created again since its log was
        identified? Then the records may come from the new log (fetched after that): they are
        dropped, and the partition is read again from the new log's start.

        Asked after the fetch, so an unchanged topic id proves the records are the known log's.
        A topic the broker no longer knows was deleted: its records were fetched before, from the
        known log. When the broker does not answer, every record is fetched again later."""
        assert self._consumer is not None
        owned = [partition for partition in fetched if partition in self._owned]
        try:
            created_again = await self._logs.created_again(owned)
        except KafkaError as error:
            logger.info("topic ids not known: records fetched again", extra={"error": repr(error)})
            for partition in owned:
                self._consumer.seek(partition, fetched.pop(partition)[0].offset)
            return
        for partition in created_again:
            del fetched[partition]
            await self._log_began_again(partition, None)

    async def _log_began_again(self, partition: TopicPartition, first_offset: int | None) -> None:
        """The partition's log began again while this consumer read it: store what was read of
        the old log (under its id, its positions never committed: they are not the new log's),
        then identify the new log and read it from ``first_offset`` (``None``: its start)."""
        assert self._consumer is not None and self._flusher is not None
        if first_offset is None:
            await self._consumer.seek_to_beginning(partition)
        else:
            self._consumer.seek(partition, first_offset)
        self._consumer.pause(partition)
        self._flusher.never_commit(partition)
        generation = self._generation
        try:  # bounded: the consumer must go on polling, or it leaves its group
            await asyncio.wait_for(self._drain(), self._settings.revoke_flush_timeout_s)
        except TimeoutError:
            logger.warning("the old log's rows are still being stored; going on")
        if generation != self._generation or partition not in self._owned:
            return  # revoked meanwhile: its next owner identifies its log
        self._recent.revoked([partition])
        self._next.pop(partition, None)
        went_back = first_offset is not None
        await self._until_done(
            "identifying the new log", lambda: self._identify([partition], went_back=went_back)
        )
        if not self._paused and partition in self._owned:
            self._consumer.resume(partition)


class _Rebalance(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(self, owner: IngestionConsumer) -> None:
        self._owner = owner

    async def on_partitions_revoked(self, revoked: list[TopicPartition]) -> None:
        await self._owner.on_revoked(revoked)

    async def on_partitions_assigned(self, assigned: list[TopicPartition]) -> None:
        await self._owner.on_assigned(assigned)


if __name__ == "__main__":
    from lookout_ingestion.runner import main

    main()
