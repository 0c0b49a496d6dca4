"""Batch step: encoded rows per table, with where each came from, plus what the batch's commit
covers (the next offset of every partition it consumed), its pending dead letters and the trace
contexts its span links to (``tracing.py``)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from aiokafka import TopicPartition
from opentelemetry.trace import SpanContext

from lookout_ingestion.mapping import TABLES, Table


@dataclass(slots=True)
class TableRows:
    """One table's encoded rows in consumption order, each with its partition and offset."""

    rows: list[bytes] = field(default_factory=list)
    origins: list[tuple[TopicPartition, int]] = field(default_factory=list)
    first: dict[TopicPartition, int] = field(default_factory=dict)
    """The lowest offset held per partition (rows of a partition are added in offset order)."""

    def add(self, partition: TopicPartition, offset: int, encoded: bytes) -> None:
        self.rows.append(encoded)
        self.origins.append((partition, offset))
        if partition not in self.first:
            self.first[partition] = offset

    def keep_unstored(
        self, owned: Callable[[TopicPartition], bool], stored: Callable[[TopicPartition], int]
    ) -> None:
        """Keep only the rows of partitions still ``owned`` whose offset is above ``stored``
        (per partition): the same as ``keep``, without a call per row when every row stays (the
        usual case: checked per partition against its lowest offset)."""
        cutoffs: dict[TopicPartition, int | None] = {}
        for partition, first in self.first.items():
            if not owned(partition):
                cutoffs[partition] = None
            else:
                cutoff = stored(partition)
                if cutoff >= first:
                    cutoffs[partition] = cutoff
        if not cutoffs:
            return
        self.keep(
            lambda partition, offset: (
                (cutoff := cutoffs.get(partition, -1)) is not None and offset > cutoff
            )
        )

    def keep(self, wanted: Any) -> None:
        """Keep only the rows for which ``wanted(partition, offset)`` holds (order unchanged)."""
        kept = [
            (row, origin)
            for row, origin in zip(self.rows, self.origins, strict=True)
            if wanted(*origin)
        ]
        self.rows = [row for row, _ in kept]
        self.origins = [origin for _, origin in kept]
        self.first = {}
        for partition, offset in self.origins:
            if partition not in self.first:
                self.first[partition] = offset

    def __len__(self) -> int:
        return len(self.rows)


@dataclass(slots=True)
class Batch:
    tables: dict[Table, TableRows] = field(
        default_factory=lambda: {table: TableRows() for table in TABLES}
    )
    positions: dict[TopicPartition, int] = field(default_factory=dict)
    """Next offset to consume per partition: what committing this batch commits."""
    logs: dict[TopicPartition, str] = field(default_factory=dict)
    """The log each partition's positions belong to: committed with them (the offset's metadata),
    so that a committed offset is never taken for one of another log."""
    dead_letters: list[asyncio.Future[Any]] = field(default_factory=list)
    started: float | None = None
    """Monotonic time of the first record consumed into it (rows or not)."""
    trace_contexts: dict[bytes, SpanContext] = field(default_factory=dict)
    """Sampled trace contexts of its events by ``traceparent`` (``tracing.remember``, bounded):
    what the batch's span links to. A new batch starts empty; a revocation (``drop``) keeps them,
    a link to an event whose rows went with its partition is harmless."""
    trace_scanned: int = 0
    """Records whose headers ``tracing.remember`` looked at (it stops at a bound)."""

    def consumed(self, partition: TopicPartition, next_offset: int) -> None:
        if self.started is None:
            self.started = time.monotonic()
        self.positions[partition] = next_offset

    @property
    def row_count(self) -> int:
        return sum(len(rows) for rows in self.tables.values())

    def largest_table(self) -> int:
        return max(len(rows) for rows in self.tables.values())

    def age(self) -> float:
        return 0.0 if self.started is None else time.monotonic() - self.started

    def is_empty(self) -> bool:
        return self.started is None

    def drop(self, partitions: Iterable[TopicPartition]) -> None:
        """Forget what came from ``partitions`` (revoked: their new owner re-reads them)."""
        gone = set(partitions)
        for rows in self.tables.values():
            rows.keep(lambda partition, _offset: partition not in gone)
        for partition in gone:
            self.positions.pop(partition, None)
            self.logs.pop(partition, None)
