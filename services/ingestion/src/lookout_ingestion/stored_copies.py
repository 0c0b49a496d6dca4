"""The drop-stored-copies step: a possible resend that the window let through is looked up in
ClickHouse, and its rows are dropped where a copy is stored already.

The outbox relay marks a record whose row a relay had claimed before (``POSSIBLE_RESEND_HEADER``:
that relay may have sent it, then died or lost the acknowledgement). The window
(``dedup.py``) drops a copy within ``dedup_window`` offsets of the original by itself; a marked
record it keeps (map + encode lists its rows as ``run.copies_to_check``) may be the copy of an
original anywhere further back. For those rows, and only those:

1. a row whose event came earlier in the run itself is dropped at once (its original's rows are
   in this run, not stored yet);
2. everything this consumer buffered before the others is flushed (``Flusher.drain``), so an
   original it read itself is in ClickHouse;
3. each table is asked for the rows' ids (``tenant_id`` and the id column: a few granules), and a
   row whose id is stored at another origin (``_log``, ``_partition``, ``_offset``) is dropped: the
   event is counted ``resent``. A row stored from this very record (before a restart) does not
   count: the stored watermark skips it already.

Meanwhile the step refuses the run (``MessageRejected``): fetching pauses, and the run comes again
after each poll until the answer is there. Marked records are rare (a relay's failure), unmarked
ones pay one comparison in map + encode. A run forced through at a log restart
(``Backpressure.release``) is not looked up: its copies are stored, as any unmarked copy beyond
the window is.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections import defaultdict
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from lookout_kit.clickhouse import ClickHouse, literal
from lookout_kit.retry import Backoff, retry

from lookout_ingestion.insert import INSERT_ERRORS
from lookout_ingestion.mapping import COLUMNS, Table
from lookout_ingestion.service.logs import LogWatch
from lookout_ingestion.steps import MessageRejected, PassOn, Run, Step

logger = logging.getLogger("lookout.ingestion.stored_copies")

Copy = tuple[Table, int]
"""A row of a run: its table and its record's offset."""
FindStored = Callable[[Run], Coroutine[Any, Any, set[Copy]]]


class DropStoredCopies(PassOn):
    def __init__(self, find_stored: FindStored, next_step: Step) -> None:
        super().__init__(next_step)
        self._find_stored = find_stored
        self._pending: tuple[Run, asyncio.Task[set[Copy]]] | None = None

    def submit(self, run: Run) -> None:
        if run.copies_to_check and not run.forced:
            self._drop_stored(run)
        self.next.submit(run)

    def _drop_stored(self, run: Run) -> None:
        pending = self._pending
        if pending is None or pending[0] is not run:
            self._cancel()  # a run left waiting was dropped (revoked): its answer is not needed
            _drop(run, _copies_of_earlier_records(run))
            if not run.copies_to_check:
                return
            self._pending = (run, asyncio.create_task(self._find_stored(run)))
            raise MessageRejected
        task = pending[1]
        if not task.done():
            raise MessageRejected
        self._pending = None
        _drop(run, task.result())  # a failure stops the consumer, as a failed flush does
        run.copies_to_check = None

    def _cancel(self) -> None:
        if self._pending is not None:
            self._pending[1].cancel()
            self._pending = None

    def close(self) -> None:
        self._cancel()
        self.next.close()


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
        for table, offset, _, _ in run.copies_to_check
        if first[event_at[offset]] < offset
    }


def _drop(run: Run, copies: set[Copy]) -> None:
    """Drop ``copies`` (rows of the run) and stop checking them; their events count as resent."""
    if not copies:
        return
    assert run.rows is not None and run.copies_to_check is not None
    run.rows = [row for row in run.rows if (row[0], row[1]) not in copies]
    run.copies_to_check = [
        check for check in run.copies_to_check if (check[0], check[1]) not in copies
    ]
    events = len({offset for _, offset in copies})
    run.resent += events
    run.mapped -= events


def stored_copies_finder(
    clickhouse: ClickHouse,
    logs: LogWatch,
    backoff: Backoff,
    flushed: Callable[[], Awaitable[None]],
) -> FindStored:
    """``find_stored(run)``: which of the run's rows to check have a copy stored at another origin
    (after ``flushed()``: nothing this consumer read before them is still buffered)."""

    async def find_stored(run: Run) -> set[Copy]:
        assert run.copies_to_check is not None
        partition = run.partition
        log, number = logs.name(partition), partition.partition
        await flushed()
        by_table: dict[Table, list[tuple[int, Any, Any]]] = defaultdict(list)
        for table, offset, row_id, tenant_id in run.copies_to_check:
            by_table[table].append((offset, row_id, tenant_id))
        stored: set[Copy] = set()
        for table, rows in by_table.items():
            origins = await retry(
                functools.partial(_origins, clickhouse, table, rows),
                what=f"looking up possible resends in {table}",
                backoff=backoff,
                retry_on=INSERT_ERRORS,
                log=logger,
            )
            for offset, row_id, _ in rows:
                if any(origin != (log, number, offset) for origin in origins.get(str(row_id), ())):
                    stored.add((table, offset))
        return stored

    return find_stored


async def _origins(
    clickhouse: ClickHouse, table: Table, rows: list[tuple[int, Any, Any]]
) -> dict[str, list[tuple[str, int, int]]]:
    """Where each of ``rows``' ids is stored in ``table``: id (text) → (log, partition, offset)."""
    id_column = COLUMNS[table][0]
    ids = ", ".join(sorted({literal(row_id, "UUID") for _, row_id, _ in rows}))
    tenants = ", ".join(sorted({literal(tenant_id, "UUID") for _, _, tenant_id in rows}))
    found = await clickhouse.read(
        f"SELECT toString({id_column}) AS id, toString(_log) AS log, _partition, _offset"
        f" FROM {table} WHERE tenant_id IN ({tenants}) AND {id_column} IN ({ids})",
        max_result_rows=100_000,
    )
    origins: dict[str, list[tuple[str, int, int]]] = defaultdict(list)
    for row in found:
        origins[row["id"]].append((row["log"], int(row["_partition"]), int(row["_offset"])))
    return origins
