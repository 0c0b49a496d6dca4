"""The pipeline's step protocol (Arroyo's shape, per batch): what flows, and how a step says "not now".

What flows is a ``Run``: the records of one partition from one fetch, in offset order. Each step
is a small object with ``submit(run)`` (do its part of the run, in one loop over the run's
records, then hand the run to the next step), ``poll()`` (housekeeping that must not wait: start
or collect background work), ``join(timeout)`` (wait until what it holds is done) and ``close()``.
A step that cannot take a run now raises ``MessageRejected``: the consumer keeps the run, stops
fetching (pauses its partitions), polls, and submits the same run again later.

Resubmission is safe because every step records its result on the run (``events``, ``kept``,
``rows``, ...) and does its part only once: a run rejected by the last step passes the earlier
ones again without decoding twice, adding its ids to the resend window twice, or sending its
dead letters twice.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from aiokafka import TopicPartition


class MessageRejected(Exception):
    """Backpressure: the step cannot take this run now; submit it again after ``poll()``."""


@dataclass(slots=True)
class Run:
    """One partition's records from one fetch, and what each step made of them."""

    partition: TopicPartition
    records: list[Any]
    """The client's records (``.offset``, ``.value``, ``.key``, ``.headers``), offset order."""
    generation: int
    """The consumer's rebalance generation when fetched: a revocation since makes it stale."""
    events: list[Any] | None = None
    """decode: per record, the event or ``Rejected``."""
    kept: list[tuple[Any, Any]] | None = None
    """drop resends: (record, event) of the valid events to store."""
    rejected: list[tuple[Any, Any]] = field(default_factory=list)
    """(record, ``Rejected``) to dead-letter: invalid, or valid but unmappable."""
    position: int | None = None
    """The next offset to read once the run is stored (``None``: nothing of it is consumed yet;
    records before the committed position only warmed the resend window)."""
    rows: list[tuple[Any, int, bytes]] | None = None
    """map + encode: (table, offset, RowBinary row with its origin) in offset order."""
    copies_to_check: list[tuple[Any, int, tuple[Any, ...]]] | None = None
    """map + encode: (table, offset, row without its origin) of the rows of records the relay
    marked as possible resends (``None`` or empty: none); drop stored copies looks them up."""
    dead_letters: list[Any] | None = None
    """dead letter: the sends' futures, awaited before the batch's commit."""
    forced: bool = False
    """Taken even when the buffers are full (``Backpressure.release``)."""
    mapped: int = 0
    """events that gave rows (or would have, had they not been stored before)"""
    resent: int = 0
    skipped_rows: int = 0

    @property
    def first_offset(self) -> int:
        return int(self.records[0].offset)

    @property
    def last_offset(self) -> int:
        return int(self.records[-1].offset)


class Step(Protocol):
    def submit(self, run: Run) -> None:
        """Do this step's part of ``run`` and pass it on; raise ``MessageRejected`` if not now."""

    def poll(self) -> None:
        """Non-blocking work: start what is due, collect what finished (raise what failed)."""

    async def join(self, timeout: float | None = None) -> None:
        """Wait until everything submitted is done (within ``timeout`` seconds)."""

    def close(self) -> None:
        """No more submissions."""


class PassOn:
    """The part every transforming step shares: forward ``poll``/``join``/``close`` down the chain."""

    def __init__(self, next_step: Step) -> None:
        self.next = next_step

    def poll(self) -> None:
        self.next.poll()

    async def join(self, timeout: float | None = None) -> None:
        await self.next.join(timeout)

    def close(self) -> None:
        self.next.close()
