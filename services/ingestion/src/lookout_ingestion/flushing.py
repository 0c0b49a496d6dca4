"""The flush step, the pipeline's last: runs join the open batch; one flush at a time stores a
batch (every table's INSERT together, then the batch's dead letters acknowledged) and hands it to
the commit step (``commit.py``). While the unflushed rows reach ``max_buffered_rows`` it has no
room: the chain's head refuses runs (``backpressure.Admit``) and the consumer stops fetching until
a flush ends. Each flush round
runs in its batch's span, linked to its events' trace contexts (``tracing.py``)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from aiokafka import TopicPartition
from lookout_kit.clickhouse import ClickHouse
from lookout_kit.retry import Backoff

from lookout_ingestion.batching import Batch
from lookout_ingestion.commit import Committer
from lookout_ingestion.insert import insert_table
from lookout_ingestion.metrics import EVENTS
from lookout_ingestion.repository.offsets import StoredOffsets
from lookout_ingestion.service.logs import LogWatch
from lookout_ingestion.settings import Settings
from lookout_ingestion.steps import Run
from lookout_ingestion.tracing import flush_in_span, remember

logger = logging.getLogger("lookout.ingestion.flushing")

Owned = Callable[[TopicPartition, int], bool]
"""Whether a partition is still this consumer's in the given generation (rebalances bump it)."""


class Flusher:
    """One flush at a time, so each partition's rows reach a table in offset order."""

    def __init__(
        self,
        settings: Settings,
        *,
        clickhouse: ClickHouse,
        committer: Committer,
        stored: StoredOffsets,
        backoff: Backoff,
        query_id_prefix: str,
        owned: Owned,
    ) -> None:
        self._settings = settings
        self._clickhouse = clickhouse
        self._committer = committer
        self._stored = stored
        self._backoff = backoff
        self._query_id_prefix = query_id_prefix
        self._owned = owned
        self.batch = Batch()
        """The open batch: what the consumer reads goes here."""
        self._task: asyncio.Task[None] | None = None
        self._in_flight: Batch | None = None
        self.failed = False
        """A flush failed for good: nothing after it may be committed (its positions would pass
        events that are neither stored nor dead-lettered)."""

    @property
    def unflushed_rows(self) -> int:
        in_flight = 0 if self._in_flight is None else self._in_flight.row_count
        return self.batch.row_count + in_flight

    def holds(self, partition: TopicPartition) -> bool:
        """Whether records of ``partition`` consumed so far are buffered or being flushed."""
        in_flight = self._in_flight
        return partition in self.batch.positions or (
            in_flight is not None and partition in in_flight.positions
        )

    def due(self) -> bool:
        batch, settings = self.batch, self._settings
        return (
            self._task is None
            and not batch.is_empty()
            and (
                batch.largest_table() >= settings.batch_max_rows
                or batch.row_count >= settings.max_buffered_rows // 2
                or batch.age() >= settings.batch_max_age_s
            )
        )

    def start(self, generation: int) -> None:
        assert self._task is None, "one flush at a time keeps each partition's rows in order"
        batch, self.batch = self.batch, Batch()
        self._in_flight = batch
        self._task = asyncio.create_task(flush_in_span(batch, self._flush(batch, generation)))

    def collect(self) -> None:
        """Forget a finished flush; a flush that failed for good (a dead letter not sent) raises
        here and stops the consumer."""
        task = self._task
        if task is not None and task.done():
            self._task = None
            self._in_flight = None
            if task.cancelled() or task.exception() is not None:
                self.failed = True
            task.result()

    async def drain(self, generation: Callable[[], int]) -> None:
        """Flush until nothing is buffered: the open batch and any flush in flight."""
        while True:
            task = self._task
            if task is not None:
                try:
                    await asyncio.shield(task)
                except Exception:
                    self.failed = True
                    raise
                if self._task is task:
                    self._task = None
                    self._in_flight = None
                continue
            if self.batch.is_empty():
                return
            self.start(generation())

    def never_commit(self, partition: TopicPartition) -> None:
        """Positions of ``partition`` read so far are not committed (its log began again: they
        would be taken for offsets of the new one). Their rows are still stored."""
        for batch in (self.batch, self._in_flight):
            if batch is not None:
                batch.positions.pop(partition, None)
                batch.logs.pop(partition, None)

    async def _flush(self, batch: Batch, generation: int) -> None:
        """insert every table's rows (together), await the dead letters, then commit."""

        def owned(partition: TopicPartition) -> bool:
            return self._owned(partition, generation)

        await asyncio.gather(
            *(
                insert_table(
                    self._clickhouse,
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
        await self._committer.commit(batch, owned)


class Flush:
    """The last step: a run's rows, dead letters and position join the open batch."""

    def __init__(
        self,
        flusher: Flusher,
        logs: LogWatch,
        *,
        max_buffered_rows: int,
        generation: Callable[[], int],
    ) -> None:
        self._flusher = flusher
        self._logs = logs
        self._max_buffered_rows = max_buffered_rows
        self._generation = generation

    def has_room(self) -> bool:
        """Whether a run may join now (``backpressure.Admit`` asks before the chain's work)."""
        return self._flusher.unflushed_rows < self._max_buffered_rows

    def submit(self, run: Run) -> None:
        flusher = self._flusher
        assert run.rows is not None and run.dead_letters is not None
        batch, partition = flusher.batch, run.partition
        batch.logs[partition] = self._logs.name(partition)
        remember(batch, run.records)  # the batch span's links (bounded: ``tracing.py``)
        tables = batch.tables
        for table, offset, row in run.rows:
            tables[table].add(partition, offset, row)
        if run.dead_letters:
            batch.dead_letters.extend(run.dead_letters)
        if run.position is not None:
            batch.consumed(partition, run.position)
        EVENTS.labels("ingested").inc(run.mapped)
        if run.rejected:
            EVENTS.labels("dead_lettered").inc(len(run.rejected))
        if run.skipped_rows:
            EVENTS.labels("skipped_rows").inc(run.skipped_rows)
        if run.resent:
            EVENTS.labels("resent").inc(run.resent)

    def poll(self) -> None:
        self._flusher.collect()
        if self._flusher.due():
            self._flusher.start(self._generation())

    async def join(self, timeout: float | None = None) -> None:
        await asyncio.wait_for(self._flusher.drain(self._generation), timeout)

    def close(self) -> None:
        pass
