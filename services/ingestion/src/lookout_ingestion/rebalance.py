"""Which partitions this consumer owns, and what happens when that changes: rebalances, and logs
that begin again under a running consumer (``service/logs.py`` says which log a partition is in).

- ``admit`` turns a fetch into runs of partitions this consumer owns, in the log it identified:
  records of a partition not (yet) its own are not ingested (the partition is rewound to them and
  paused until its assignment is done); records of a topic created again, or fetched below the
  position already fetched, mean the partition's log began again.
- A revocation flushes and commits (bounded in time), then bumps the generation: nothing fetched
  before it, and no older flush, stores or commits anything more for the revoked partitions.
- An assignment waits until no INSERT of a previous owner runs, identifies the partitions' logs
  and reads their stored watermarks before any of their records is ingested.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, ConsumerRecord, TopicPartition
from aiokafka.errors import KafkaError
from lookout_kit.clickhouse import ClickHouse
from lookout_kit.retry import Backoff, retry

from lookout_ingestion.backpressure import Backpressure
from lookout_ingestion.commit import Committer
from lookout_ingestion.dedup import RecentIds
from lookout_ingestion.flushing import Flusher
from lookout_ingestion.insert import INSERT_ERRORS
from lookout_ingestion.lag import forget_lag
from lookout_ingestion.metrics import PAUSED
from lookout_ingestion.repository.offsets import StoredOffsets, wait_for_running_inserts
from lookout_ingestion.service.logs import LogWatch
from lookout_ingestion.settings import Settings
from lookout_ingestion.steps import Run

logger = logging.getLogger("lookout.ingestion.rebalance")

Fetched = dict[TopicPartition, list[ConsumerRecord[Any, Any]]]


class Partitions:
    def __init__(
        self,
        settings: Settings,
        *,
        consumer: AIOKafkaConsumer,
        clickhouse: ClickHouse,
        flusher: Flusher,
        committer: Committer,
        stored: StoredOffsets,
        recent: RecentIds,
        logs: LogWatch,
        backoff: Backoff,
        query_id_prefix: str,
    ) -> None:
        self._settings = settings
        self._consumer = consumer
        self._clickhouse = clickhouse
        self._flusher = flusher
        self._committer = committer
        self._stored = stored
        self._recent = recent
        self._logs = logs
        self._backoff = backoff
        self._query_id_prefix = query_id_prefix
        self.backpressure: Backpressure | None = None
        self.owned: set[TopicPartition] = set()
        self._next: dict[TopicPartition, int] = {}
        """Per owned partition: the offset after the last record fetched; a record fetched below
        it (not re-read on purpose) means the partition's log began again."""
        self.generation = 0
        """Bumped at every revocation: a flush of an older generation stores and commits nothing more."""

    # The fetch ----------------------------------------------------------------------------------

    def is_owned(self, partition: TopicPartition, generation: int) -> bool:
        return self.generation == generation and partition in self.owned

    def current(self, run: Run) -> bool:
        return self.is_owned(run.partition, run.generation)

    async def admit(self, fetched: Fetched) -> list[Run]:
        """The fetch's runs to ingest: records of partitions this consumer owns, in known logs."""
        generation = self.generation  # as fetched: a revocation during the await below stales them
        await self._drop_records_of_new_topics(fetched)
        runs = []
        for partition, records in fetched.items():
            if partition not in self.owned:
                self._not_owned(partition, records[0].offset)
                continue
            expected = self._next.get(partition)
            if expected is not None and records[0].offset < expected:
                # Only a log that began again gives offsets below those already fetched (the
                # client reset a position beyond its end to its start).
                await self._log_began_again(partition, records[0].offset)
                continue
            self._next[partition] = records[-1].offset + 1
            runs.append(Run(partition, records, generation))
        return runs

    def seek(self, partition: TopicPartition, offset: int) -> None:
        """Read ``partition`` again from ``offset`` (on purpose: not a log that began again)."""
        self._consumer.seek(partition, offset)
        self._next[partition] = offset

    def _not_owned(self, partition: TopicPartition, first_offset: int) -> None:
        """Records of a partition this consumer does not own (yet, or any more) were fetched.

        aiokafka hands out a new assignment's records while ``on_assigned`` still reads what
        ClickHouse holds; dropping them would leave the position past them and a later commit
        would skip them for good. A partition still assigned is rewound to the first of them
        (getmany returns records from the current position only, so that is where it was) and
        paused, not to fetch them again and again meanwhile; ``on_assigned`` resumes it once it is
        ours. A revoked partition's records are its new owner's, who reads them from the
        committed offset."""
        if partition in self._consumer.assignment():
            self._consumer.seek(partition, first_offset)
            self._consumer.pause(partition)

    # Rebalances ---------------------------------------------------------------------------------

    async def drain(self) -> None:
        await self._flusher.drain(lambda: self.generation)

    async def wait_for_own_inserts(self) -> None:
        """Wait until no INSERT of this process is on the wire (each is bounded by its timeout)."""
        while self._clickhouse.inserts_in_flight:
            await asyncio.sleep(0.05)

    async def on_revoked(self, revoked: list[TopicPartition]) -> None:
        try:
            await asyncio.wait_for(self.drain(), self._settings.revoke_flush_timeout_s)
        except TimeoutError:
            logger.warning("revocation before the last flush ended: its partitions re-read")
        # From here this process stores nothing more for the revoked partitions: older flushes
        # drop their rows at their next attempt, and the attempt on the wire ends first.
        self.generation += 1
        self.owned.difference_update(revoked)
        self._flusher.batch.drop(revoked)
        if self.backpressure is not None:
            self.backpressure.forget(revoked)
        await self.wait_for_own_inserts()
        self._stored.forget(revoked, logs=True)
        self._logs.forget(revoked)
        self._recent.revoked(revoked)
        for partition in revoked:
            self._next.pop(partition, None)
        self._committer.forget(revoked)
        forget_lag(revoked)

    async def on_assigned(self, assigned: list[TopicPartition]) -> None:
        await self._until_done(
            "identifying the assigned partitions' logs",
            lambda: self._identify(assigned, after_inserts=True),
        )
        self.owned.update(assigned)
        self._recent.assigned(assigned)
        self._consumer.resume(*assigned)  # paused by _not_owned if fetched before this point
        if self.backpressure is not None:
            self.backpressure.assigned()
        else:
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

    # Logs that begin again (``service/logs.py``) ------------------------------------------------

    async def _drop_records_of_new_topics(self, fetched: Fetched) -> None:
        """Before records are ingested: was any of their topics created again since its log was
        identified? Then the records may come from the new log (fetched after that): they are
        dropped, and the partition is read again from the new log's start.

        Asked after the fetch, so an unchanged topic id proves the records are the known log's.
        A topic the broker no longer knows was deleted: its records were fetched before, from the
        known log. When the broker does not answer, every record is fetched again later."""
        owned = [partition for partition in fetched if partition in self.owned]
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
        if first_offset is None:
            await self._consumer.seek_to_beginning(partition)
        else:
            self._consumer.seek(partition, first_offset)
        self._consumer.pause(partition)
        if self.backpressure is not None:
            self.backpressure.release(partition)
        self._flusher.never_commit(partition)
        generation = self.generation
        try:  # bounded: the consumer must go on polling, or it leaves its group
            await asyncio.wait_for(self.drain(), self._settings.revoke_flush_timeout_s)
        except TimeoutError:
            logger.warning("the old log's rows are still being stored; going on")
        if generation != self.generation or partition not in self.owned:
            return  # revoked meanwhile: its next owner identifies its log
        self._recent.revoked([partition])
        self._next.pop(partition, None)
        went_back = first_offset is not None
        await self._until_done(
            "identifying the new log", lambda: self._identify([partition], went_back=went_back)
        )
        paused = self.backpressure is not None and self.backpressure.paused
        if not paused and partition in self.owned:
            self._consumer.resume(partition)


class Listener(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(self, partitions: Partitions) -> None:
        self._partitions = partitions

    async def on_partitions_revoked(self, revoked: list[TopicPartition]) -> None:
        await self._partitions.on_revoked(revoked)

    async def on_partitions_assigned(self, assigned: list[TopicPartition]) -> None:
        await self._partitions.on_assigned(assigned)
