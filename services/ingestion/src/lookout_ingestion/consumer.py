"""The ingestion consumer: decode → validate → map → batch → insert → commit, composed here.

Every ``*.events`` topic (a pattern: new topics join by themselves) is read by one consumer group.
Each step lives in its own module; this one wires them, owns the rebalance protocol and the
backpressure, and is the only place that commits offsets. The effectively-once argument is in the
service's README.

Run standalone with ``python -m lookout_ingestion.consumer`` (the crash tests do); the service
process runs it as a background task (``app.py``).
"""

from __future__ import annotations

import asyncio
import gc
import logging
import signal
import uuid
from typing import Any

import aiohttp
from aiokafka import (
    AIOKafkaClient,
    AIOKafkaConsumer,
    AIOKafkaProducer,
    ConsumerRebalanceListener,
    ConsumerRecord,
    TopicPartition,
)
from aiokafka.errors import KafkaError
from aiokafka.structs import OffsetAndMetadata
from lookout_kit.kafka import ensure_topics
from lookout_kit.log import configure_logging
from lookout_kit.partition_logs import exact_log_ends, topic_ids

from lookout_ingestion.batching import Batch
from lookout_ingestion.clickhouse import ClickHouse, client_session
from lookout_ingestion.dead_letter import DeadLetters
from lookout_ingestion.decode import Rejected, decode
from lookout_ingestion.dedup import RecentIds
from lookout_ingestion.encoding import encode_origin, encode_row, encode_topic
from lookout_ingestion.insert import INSERT_ERRORS, Backoff, insert_table
from lookout_ingestion.logs import identify_logs
from lookout_ingestion.mapping import Unmappable, map_event
from lookout_ingestion.metrics import EVENTS, LAG, PAUSED
from lookout_ingestion.migrate import apply_migrations
from lookout_ingestion.offsets import StoredOffsets, wait_for_running_inserts
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
        self._metadata: AIOKafkaClient | None = None
        """Asks the broker for topic ids (aiokafka's consumer asks Metadata v5: none there)."""
        self._dead_letters: DeadLetters | None = None
        self._stored = StoredOffsets()
        self._recent = RecentIds(settings.dedup_window)
        self._owned: set[TopicPartition] = set()
        self._origins: dict[TopicPartition, bytes] = {}
        """Per owned partition: its rows' ``_topic, _log`` columns, encoded (``logs.py``)."""
        self._topic_ids: dict[TopicPartition, uuid.UUID] = {}
        """Per owned partition: the id its topic had when its log was identified."""
        self._next: dict[TopicPartition, int] = {}
        """Per owned partition: the offset after the last record fetched; a record fetched below
        it (not re-read on purpose) means the partition's log began again."""
        self._generation = 0
        """Bumped at every revocation: a flush of an older generation stores and commits nothing more."""
        self._batch = Batch()
        self._flushing: asyncio.Task[None] | None = None
        self._flushing_batch: Batch | None = None
        self._inflight_rows = 0
        self._paused = False
        self._committed: dict[TopicPartition, int] = {}
        self._lag_task: asyncio.Task[None] | None = None

    # Lifecycle ----------------------------------------------------------------------------------

    async def start(self) -> None:
        settings = self._settings
        assert settings.clickhouse_url is not None
        self._session = client_session()
        self._clickhouse = ClickHouse(
            self._session,
            url=settings.clickhouse_url,
            database=settings.clickhouse_database,
            user=settings.clickhouse_user,
            password=settings.clickhouse_password,
            timeout_s=settings.insert_timeout_s,
        )
        await apply_migrations(self._clickhouse)
        await ensure_topics(
            settings.kafka_bootstrap_servers,
            [settings.dlq_topic],
            partitions=settings.kafka_topic_partitions,
        )
        self._producer = AIOKafkaProducer(
            bootstrap_servers=settings.kafka_bootstrap_servers,
            enable_idempotence=False,  # the local broker (Tansu) has no idempotent producer
            acks="all",
            linger_ms=5,
        )
        await self._producer.start()
        self._metadata = AIOKafkaClient(bootstrap_servers=settings.kafka_bootstrap_servers)
        await self._metadata.bootstrap()
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
        await self._consumer.start()
        self._consumer.subscribe(pattern=settings.topic_pattern, listener=_Rebalance(self))
        self._lag_task = asyncio.create_task(self._report_lag())
        logger.info(
            "ingestion consumer started",
            extra={"group": settings.consumer_group, "pattern": settings.topic_pattern},
        )

    async def close(self) -> None:
        """Flush and commit what is buffered (bounded in time), then leave the group."""
        if self._lag_task is not None:
            self._lag_task.cancel()
        if self._consumer is not None and self._clickhouse is not None:
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
        if self._metadata is not None:
            await self._metadata.close()
        if self._session is not None:
            await self._session.close()
        logger.info("ingestion consumer stopped")

    # The pipeline -------------------------------------------------------------------------------

    async def run(self) -> None:
        assert self._consumer is not None
        settings = self._settings
        while not self._stopping.is_set():
            self._collect_flush()
            if self._flush_due():
                self._start_flush()
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
        batch, generation = self._batch, self._generation
        stored = self._stored
        threshold = stored.threshold(partition)
        tables = batch.tables
        topic = self._origins[partition]
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

    def _flush_due(self) -> bool:
        batch, settings = self._batch, self._settings
        return (
            self._flushing is None
            and not batch.is_empty()
            and (
                batch.largest_table() >= settings.batch_max_rows
                or batch.row_count >= settings.max_buffered_rows // 2
                or batch.age() >= settings.batch_max_age_s
            )
        )

    def _start_flush(self) -> None:
        assert self._flushing is None, "one flush at a time keeps each partition's rows in order"
        batch, self._batch = self._batch, Batch()
        self._inflight_rows = batch.row_count
        self._flushing_batch = batch
        self._flushing = asyncio.create_task(self._flush(batch, self._generation))

    def _collect_flush(self) -> None:
        task = self._flushing
        if task is not None and task.done():
            self._flushing = None
            self._flushing_batch = None
            self._inflight_rows = 0
            task.result()  # a flush that failed for good (a dead letter not sent) stops the consumer

    async def _flush(self, batch: Batch, generation: int) -> None:
        """insert every table's rows (together), await the dead letters, then commit."""
        assert self._clickhouse is not None and self._consumer is not None

        def owned(partition: TopicPartition) -> bool:
            return self._generation == generation and partition in self._owned

        clickhouse = self._clickhouse
        await asyncio.gather(
            *(
                insert_table(
                    clickhouse,
                    table,
                    rows,
                    stored=self._stored,
                    owned=owned,
                    backoff=self._backoff,
                    query_id_prefix=self._query_id_prefix,
                )
                for table, rows in batch.tables.items()
                if rows
            )
        )
        if batch.dead_letters:
            await asyncio.gather(*batch.dead_letters)
        offsets = {
            partition: OffsetAndMetadata(position, "")
            for partition, position in batch.positions.items()
            if owned(partition)
        }
        if not offsets:
            return
        try:
            await self._consumer.commit(offsets)
        except KafkaError as error:
            # The rows are stored: whoever reads these offsets again skips them.
            logger.warning("commit failed", extra={"error": repr(error)})
            return
        for partition, committed in offsets.items():
            self._committed[partition] = committed.offset

    async def _drain(self) -> None:
        """Flush until nothing is buffered: the open batch and any flush in flight."""
        while True:
            task = self._flushing
            if task is not None:
                await asyncio.shield(task)
                if self._flushing is task:
                    self._flushing = None
                    self._flushing_batch = None
                    self._inflight_rows = 0
                continue
            if self._batch.is_empty():
                return
            self._start_flush()

    def _apply_backpressure(self) -> None:
        """Pause fetching while the unflushed rows exceed the bound; resume below it."""
        assert self._consumer is not None
        full = self._batch.row_count + self._inflight_rows >= self._settings.max_buffered_rows
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
        try:
            await asyncio.wait_for(self._drain(), self._settings.revoke_flush_timeout_s)
        except TimeoutError:
            logger.warning("revocation before the last flush ended: its partitions re-read")
        # From here this process stores nothing more for the revoked partitions: older flushes
        # drop their rows at their next attempt, and the attempt on the wire ends first.
        self._generation += 1
        self._owned.difference_update(revoked)
        self._batch.drop(revoked)
        await self._wait_for_own_inserts()
        self._stored.forget(revoked, logs=True)
        self._recent.revoked(revoked)
        for partition in revoked:
            self._origins.pop(partition, None)
            self._topic_ids.pop(partition, None)
            self._next.pop(partition, None)
            self._committed.pop(partition, None)
            try:
                LAG.remove(partition.topic, str(partition.partition))
            except KeyError:
                pass  # never measured

    async def on_assigned(self, assigned: list[TopicPartition]) -> None:
        assert self._clickhouse is not None
        attempt = 0
        while True:
            try:
                await wait_for_running_inserts(self._clickhouse, self._query_id_prefix)
                await self._identify_logs(assigned)
                break
            except (*INSERT_ERRORS, KafkaError) as error:
                logger.warning("assignment not ready; retrying", extra={"error": repr(error)})
                await asyncio.sleep(self._backoff.delay(attempt))
                attempt += 1
        self._owned.update(assigned)
        self._recent.assigned(assigned)
        assert self._consumer is not None
        self._consumer.resume(*assigned)  # paused by _not_owned if fetched before this point
        self._paused = False
        PAUSED.set(0)
        logger.info("partitions assigned", extra={"partitions": len(assigned)})

    # Logs that begin again (``logs.py``) --------------------------------------------------------

    async def _identify_logs(
        self, partitions: list[TopicPartition], *, went_back: bool = False
    ) -> None:
        """Find each partition's current log (registering a new one where it began again) and
        read its stored watermarks: from here its rows carry that log's id."""
        assert self._clickhouse is not None and self._consumer is not None
        assert self._metadata is not None
        if not partitions:
            return
        ids = await topic_ids(self._metadata, sorted({partition.topic for partition in partitions}))
        ends = await self._consumer.end_offsets(partitions)
        logs = await identify_logs(
            self._clickhouse,
            self._stored,
            partitions,
            topic_ids=ids,
            log_ends=ends,
            went_back=partitions if went_back else (),
            exact_ends=self._exact_log_ends,
        )
        for partition, log in logs.items():
            self._origins[partition] = encode_topic(partition.topic, log.id)
            self._topic_ids[partition] = log.topic_id

    async def _exact_log_ends(self, partitions: list[TopicPartition]) -> dict[TopicPartition, int]:
        return await exact_log_ends(self._settings.kafka_bootstrap_servers, partitions)

    async def _drop_records_of_new_topics(
        self, fetched: dict[TopicPartition, list[ConsumerRecord[Any, Any]]]
    ) -> None:
        """Before records are ingested: was any of their topics created again since its log was
        identified? Then the records may come from the new log (fetched after that): they are
        dropped, and the partition is read again from the new log's start.

        Asked after the fetch, so an unchanged topic id proves the records are the known log's.
        A topic the broker no longer knows was deleted: its records were fetched before, from the
        known log. When the broker does not answer, every record is fetched again later."""
        assert self._metadata is not None and self._consumer is not None
        owned = [partition for partition in fetched if partition in self._owned]
        if not owned:
            return
        try:
            ids = await topic_ids(self._metadata, sorted({partition.topic for partition in owned}))
        except KafkaError as error:
            logger.info("topic ids not known: records fetched again", extra={"error": repr(error)})
            for partition in owned:
                self._consumer.seek(partition, fetched.pop(partition)[0].offset)
            return
        for partition in owned:
            now = ids.get(partition.topic)
            if now is not None and now != self._topic_ids.get(partition):
                del fetched[partition]
                await self._log_began_again(partition, None)

    async def _log_began_again(self, partition: TopicPartition, first_offset: int | None) -> None:
        """The partition's log began again while this consumer read it: store what was read of
        the old log (under its id, its positions never committed: they are not the new log's),
        then identify the new log and read it from ``first_offset`` (``None``: its start)."""
        assert self._consumer is not None
        if first_offset is None:
            await self._consumer.seek_to_beginning(partition)
        else:
            self._consumer.seek(partition, first_offset)
        self._consumer.pause(partition)
        for batch in (self._batch, self._flushing_batch):
            if batch is not None:
                batch.positions.pop(partition, None)
        await self._drain()
        self._recent.revoked([partition])
        self._next.pop(partition, None)
        attempt = 0
        while True:
            try:
                await self._identify_logs([partition], went_back=first_offset is not None)
                break
            except (*INSERT_ERRORS, KafkaError) as error:
                logger.warning("new log not identified; retrying", extra={"error": repr(error)})
                await asyncio.sleep(self._backoff.delay(attempt))
                attempt += 1
        if not self._paused and partition in self._owned:
            self._consumer.resume(partition)

    # Lag ----------------------------------------------------------------------------------------

    async def _report_lag(self) -> None:
        assert self._consumer is not None
        while True:
            await asyncio.sleep(self._settings.lag_interval_s)
            partitions = list(self._consumer.assignment())
            if not partitions:
                continue
            try:
                ends = await self._consumer.end_offsets(partitions)
                for partition in partitions:
                    if partition not in self._committed:
                        committed = await self._consumer.committed(partition)
                        self._committed[partition] = committed or 0
                    lag = max(0, ends[partition] - self._committed[partition])
                    LAG.labels(partition.topic, str(partition.partition)).set(lag)
            except KafkaError as error:
                logger.info("lag not measured", extra={"error": repr(error)})


class _Rebalance(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(self, owner: IngestionConsumer) -> None:
        self._owner = owner

    async def on_partitions_revoked(self, revoked: list[TopicPartition]) -> None:
        await self._owner.on_revoked(revoked)

    async def on_partitions_assigned(self, assigned: list[TopicPartition]) -> None:
        await self._owner.on_assigned(assigned)


async def run_consumer(settings: Settings, stopping: asyncio.Event) -> None:
    """Run a consumer until ``stopping``; after a failure (broker or ClickHouse unreachable at
    start, a dead letter that could not be sent), start a fresh one after a pause: nothing is
    committed past what is stored, so a restart from the committed offsets loses nothing.

    Tunes the process's garbage collector first (``tune_gc``): in the service, as deployed, and in
    the standalone consumer alike."""
    tune_gc()
    backoff = Backoff(settings.retry_initial_s, settings.retry_max_s)
    attempt = 0
    while not stopping.is_set():
        consumer = IngestionConsumer(settings, stopping)
        try:
            await consumer.start()
            attempt = 0
            await consumer.run()
        except asyncio.CancelledError:
            raise
        except Exception:
            logger.exception("ingestion consumer failed; restarting")
        finally:
            await consumer.close()
        if not stopping.is_set():
            try:
                await asyncio.wait_for(stopping.wait(), backoff.delay(attempt) + 0.5)
            except TimeoutError:
                pass
            attempt += 1


def tune_gc() -> None:
    """Keep the cyclic garbage collector off the hot path.

    Every event allocates a few short-lived container objects (its pydantic models, rows), so
    the default generation-0 threshold (700) starts a collection every few dozen events, and the
    older generations keep re-scanning the long-lived heap (modules, the contracts' validators).
    Freezing that heap and collecting less often removes most of that work; nothing here relies on
    cycles being freed promptly."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(10_000, 20, 100)


def main() -> None:
    """``python -m lookout_ingestion.consumer``: one consumer, no HTTP; SIGTERM flushes and stops."""
    settings = Settings()
    configure_logging(f"{settings.service_name}-consumer", settings.log_level)

    async def serve() -> None:
        stopping = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stopping.set)
        await run_consumer(settings, stopping)

    asyncio.run(serve())


if __name__ == "__main__":
    main()
