"""The drop-stored-copies step: a possible resend that the window let through is looked up in
ClickHouse, and its rows are dropped where a copy is stored already.

The outbox relay marks a record whose row a relay had claimed before (``POSSIBLE_RESEND_HEADER``:
that relay may have sent it, then died or lost the acknowledgement). The window
(``dedup.py``) drops a copy within ``dedup_window`` offsets of the original by itself; a marked
record it keeps (map + encode lists its rows as ``run.copies_to_check``) may be the copy of an
original anywhere further back in its partition. For those rows, and only those:

1. a row whose event came earlier in the run itself is dropped at once (its original's rows are
   in this run, not stored yet);
2. if this consumer buffers records of the partition, it flushes them (``Flusher.drain``), so an
   original it read itself is in ClickHouse (the partition's records before those were stored by
   whoever read them: a revocation flushes before it lets go, or the commit did not pass them and
   they are read again here);
3. each table is asked for those rows by their sort key, day and id (``KEYS``: a few granules),
   and a row found is dropped: from another origin (``_topic``, ``_log``, ``_partition``,
   ``_offset``) its event counts ``resent``; from this very record (stored before a restart, the
   watermark's view behind its table) it counts as a skipped row.

Meanwhile the step refuses the run (``MessageRejected``): fetching pauses, and the run comes again
after each poll until the answer is there. A ClickHouse that cannot be reached is retried with the
insert's backoff, as a flush is; a lookup the server refuses for good (over its time or row limit)
is logged and counted, and the rows are stored. A run forced through at a log restart
(``Backpressure.release``) gets step 1 only.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import uuid
from collections import defaultdict
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any, Final

from aiokafka import TopicPartition
from lookout_kit.clickhouse import ClickHouse, ClickHouseError, literal
from lookout_kit.retry import Backoff, retry

from lookout_ingestion.insert import INSERT_ERRORS
from lookout_ingestion.mapping import COLUMNS, Table
from lookout_ingestion.metrics import POSSIBLE_RESENDS
from lookout_ingestion.service.logs import LogWatch
from lookout_ingestion.steps import MessageRejected, PassOn, Run, Step

logger = logging.getLogger("lookout.ingestion.stored_copies")

Copy = tuple[Table, int]
"""A row of a run: its table and its record's offset."""

KEYS: Final[dict[Table, tuple[str, ...]]] = {
    "dashboard_events": ("tenant_id", "dashboard_id", "user_id", "timestamp", "event_id"),
    "query_metrics": ("tenant_id", "data_source_id", "user_id", "timestamp", "query_id"),
    "user_activity": ("tenant_id", "user_id", "session_id", "timestamp", "activity_id"),
}
"""Per table: its sort key (the migrations' ``ORDER BY``), then the row's id. A copy has the same
values in all of them (the same event mapped alike), so asking for all of them finds it in the
granules of that key, in the partition of that day."""

_TYPES: Final = {"session_id": "String", "timestamp": "DateTime"}
"""Types of ``KEYS``' columns other than ``UUID``."""

_KEY_AT: Final[dict[Table, tuple[tuple[str, int, str], ...]]] = {
    table: tuple((name, COLUMNS[table].index(name), _TYPES.get(name, "UUID")) for name in keys)
    for table, keys in KEYS.items()
}
"""Per table: each of ``KEYS`` with its place in a mapped row and its type."""

_PER_QUERY: Final = 200
"""Rows looked up per query (a query's text stays far below ``max_query_size``)."""

_UNANSWERABLE: Final = frozenset({159, 396})
"""ClickHouse error codes that a retry would meet again: over the time limit, too many rows."""


@dataclass(slots=True)
class Found:
    """Rows of a run stored already: from another origin (resends), from this very record."""

    elsewhere: set[Copy] = field(default_factory=set)
    here: set[Copy] = field(default_factory=set)


FindStored = Callable[[Run], Coroutine[Any, Any, Found]]


class DropStoredCopies(PassOn):
    def __init__(self, find_stored: FindStored, next_step: Step) -> None:
        super().__init__(next_step)
        self._find_stored = find_stored
        self._pending: tuple[Run, asyncio.Task[Found]] | None = None

    def submit(self, run: Run) -> None:
        if run.copies_to_check:
            self._drop_stored(run)
        self.next.submit(run)

    def _drop_stored(self, run: Run) -> None:
        pending = self._pending
        if pending is not None and pending[0] is run and not run.forced:
            task = pending[1]
            if not task.done():
                raise MessageRejected
            self._pending = None
            found = task.result()  # a failure stops the consumer, as a failed flush does
            _drop(run, found.elsewhere, resent=True)
            _drop(run, found.here, resent=False)
            run.copies_to_check = None
            return
        self._cancel()  # a run left waiting was dropped (revoked) or forced: no answer needed
        earlier = _copies_of_earlier_records(run)
        if earlier:
            POSSIBLE_RESENDS.labels("earlier_in_run").inc(len(earlier))
            _drop(run, earlier, resent=True)
        if run.copies_to_check and not run.forced:
            task = asyncio.create_task(self._find_stored(run))
            task.add_done_callback(_log_failure)
            self._pending = (run, task)
            raise MessageRejected
        run.copies_to_check = None

    def _cancel(self) -> None:
        if self._pending is not None:
            self._pending[1].cancel()
            self._pending = None

    def close(self) -> None:
        self._cancel()
        self.next.close()


def _log_failure(task: asyncio.Task[Found]) -> None:
    """Say why a lookup failed, also when its run is no longer waiting for it."""
    if not task.cancelled() and task.exception() is not None:
        logger.error("looking up possible resends failed", exc_info=task.exception())


def _copies_of_earlier_records(run: Run) -> set[Copy]:
    """Rows to check whose event came earlier in the run itself (not stored yet, but it will be)."""
    assert run.kept is not None and run.copies_to_check is not None
    first: dict[int, int] = {}
    event_at: dict[int, int] = {}
    for record, event in run.kept:
        key = event.id.int
        first.setdefault(key, record.offset)
        event_at[record.offset] = key
    return {
        (table, offset)
        for table, offset, _ in run.copies_to_check
        if first[event_at[offset]] < offset
    }


def _drop(run: Run, copies: set[Copy], *, resent: bool) -> None:
    """Drop ``copies`` (rows of the run) and stop checking them; their events count as resent
    (``resent``) or the rows as skipped (stored from this very record before)."""
    if not copies:
        return
    assert run.rows is not None and run.copies_to_check is not None
    run.rows = [row for row in run.rows if (row[0], row[1]) not in copies]
    run.copies_to_check = [
        check for check in run.copies_to_check if (check[0], check[1]) not in copies
    ]
    if resent:
        events = len({offset for _, offset in copies})
        run.resent += events
        run.mapped -= events
    else:
        run.skipped_rows += len(copies)


def stored_copies_finder(
    clickhouse: ClickHouse,
    logs: LogWatch,
    backoff: Backoff,
    flushed: Callable[[TopicPartition], Awaitable[None]],
) -> FindStored:
    """``find_stored(run)``: which of the run's rows to check are stored already (after
    ``flushed(partition)``: nothing this consumer read of the partition is still buffered)."""

    def find_stored(run: Run) -> Coroutine[Any, Any, Found]:
        assert run.copies_to_check is not None
        partition = run.partition
        # Now, not when the task first runs: the partition may be revoked (forgotten) by then.
        own = (partition.topic, logs.name(partition), partition.partition)
        return _find(list(run.copies_to_check), own, partition)

    async def _find(
        copies: list[tuple[Table, int, tuple[Any, ...]]],
        own: tuple[str, str, int],
        partition: TopicPartition,
    ) -> Found:
        await flushed(partition)
        by_table: dict[Table, list[tuple[int, tuple[Any, ...]]]] = defaultdict(list)
        for table, offset, row in copies:
            by_table[table].append((offset, row))
        found = Found()
        for table, rows in by_table.items():
            id_index = _KEY_AT[table][-1][1]
            for start in range(0, len(rows), _PER_QUERY):
                chunk = rows[start : start + _PER_QUERY]
                try:
                    origins = await retry(
                        functools.partial(_origins, clickhouse, table, [row for _, row in chunk]),
                        what=f"looking up possible resends in {table}",
                        backoff=backoff,
                        retry_on=INSERT_ERRORS,
                        log=logger,
                    )
                except _Unanswerable as error:
                    POSSIBLE_RESENDS.labels("unanswered").inc(len(chunk))
                    logger.warning(
                        "possible resends stored without a lookup: ClickHouse refused it",
                        extra={"table": table, "rows": len(chunk), "error": str(error.cause)},
                    )
                    continue
                for offset, row in chunk:
                    stored_at = origins.get(_uuid_text(row[id_index]), ())
                    if any(origin != (*own, offset) for origin in stored_at):
                        found.elsewhere.add((table, offset))
                        POSSIBLE_RESENDS.labels("stored_before").inc()
                    elif stored_at:
                        found.here.add((table, offset))
                        POSSIBLE_RESENDS.labels("stored_by_this_record").inc()
                    else:
                        POSSIBLE_RESENDS.labels("new").inc()
        return found

    return find_stored


class _Unanswerable(Exception):
    def __init__(self, cause: ClickHouseError) -> None:
        super().__init__(str(cause))
        self.cause = cause


def _uuid_text(value: Any) -> str:
    """A UUID as ClickHouse's ``toString`` writes it."""
    return str(value if isinstance(value, uuid.UUID) else uuid.UUID(str(value)))


def _condition(table: Table, row: tuple[Any, ...]) -> str:
    terms = []
    for name, index, type_name in _KEY_AT[table]:
        value = row[index]
        if type_name == "DateTime":
            terms.append(f"timestamp = toDateTime({int(value)})")
            terms.append(f"date = toDate(toDateTime({int(value)}))")  # the partition's day
        else:
            terms.append(f"{name} = {literal(value, type_name)}")
    return "(" + " AND ".join(terms) + ")"


async def _origins(
    clickhouse: ClickHouse, table: Table, rows: list[tuple[Any, ...]]
) -> dict[str, list[tuple[str, str, int, int]]]:
    """Where each of ``rows`` is stored in ``table``: id (text) → (topic, log, partition, offset)."""
    id_column = KEYS[table][-1]
    conditions = " OR ".join(sorted({_condition(table, row) for row in rows}))
    try:
        found = await clickhouse.read(
            f"SELECT toString({id_column}) AS id, _topic, toString(_log) AS log, _partition,"
            f" _offset FROM {table} WHERE {conditions}",
            max_result_rows=100_000,
        )
    except ClickHouseError as error:
        if error.code in _UNANSWERABLE:
            raise _Unanswerable(error) from None
        raise
    origins: dict[str, list[tuple[str, str, int, int]]] = defaultdict(list)
    for row in found:
        origins[row["id"]].append(
            (row["_topic"], row["log"], int(row["_partition"]), int(row["_offset"]))
        )
    return origins
