"""Resent events: an event whose id already came within the partition's last ``span`` offsets.

The outbox relay delivers at least once: when an acknowledgement is lost (the relay dies, or the ack
times out, after the broker stored the message) it sends the event again, with the same id and key,
so to the same partition at a later offset. Ingestion drops such a copy.

The rule depends on the partition's log alone, so every replica and every restart decides the same:
**a valid event is dropped when an event with the same id is at one of the ``span`` offsets before
it in the same partition.** (Copies further apart are stored again; so are copies in another
partition, which needs the topic's partition count to change in between.)

To apply it from any starting offset ``c`` the consumer needs the ids at ``[c - span, c)``: at the
first records of a partition after its assignment, ``open`` says where to read from, and the records
before ``c`` ("warming") only fill the window: no rows, no dead letters, no positions. A partition
that comes back after a rebalance exactly where this consumer left it keeps its window instead.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aiokafka import TopicPartition

from lookout_ingestion.decode import Rejected
from lookout_ingestion.steps import PassOn, Run, Step


class RecentIds:
    """Per owned partition: event id (``UUID.int``) → the last offset it was seen at."""

    def __init__(self, span: int) -> None:
        if span < 1:
            raise ValueError("span must be at least 1")
        self.span = span
        self._seen: dict[TopicPartition, dict[int, int]] = {}
        self._warm_until: dict[TopicPartition, int] = {}
        self._next: dict[TopicPartition, int] = {}
        """The offset after the records the window has taken in (see ``advanced``)."""
        self._parked: dict[TopicPartition, tuple[dict[int, int], int]] = {}
        """Revoked partitions' windows, until the next assignment says whether they come back."""

    def window(self, partition: TopicPartition) -> tuple[dict[int, int], int] | None:
        """The partition's ids and the offset its warming ends at; ``None``: not opened yet."""
        seen = self._seen.get(partition)
        if seen is None:
            return None
        return seen, self._warm_until[partition]

    def open(self, partition: TopicPartition, first_offset: int) -> int:
        """Start the partition's window at ``first_offset``, its first record since assignment.

        Returns the offset to read from: ``first_offset`` when this consumer's window of the
        partition ends exactly there (it was revoked and nobody read the partition since) or when
        nothing can come before it; otherwise ``span`` offsets earlier (those records only warm the
        window up)."""
        parked = self._parked.pop(partition, None)
        self._warm_until[partition] = first_offset
        if parked is not None and parked[1] == first_offset:
            self._seen[partition] = parked[0]
            self._next[partition] = first_offset
            return first_offset
        start = max(0, first_offset - self.span)
        self._seen[partition] = {}
        self._next[partition] = start
        return start

    def advanced(self, partition: TopicPartition, next_offset: int) -> None:
        """Every record before ``next_offset`` is in the window (call before an ``await``, so that a
        revocation meanwhile parks a window that says where it ends)."""
        self._next[partition] = next_offset

    def trim(self, partition: TopicPartition, offset: int) -> None:
        """Drop ids no later record can match (seen ``span`` or more offsets before ``offset``).

        Called after each fetched batch; it rebuilds only past twice ``span`` ids, so the cost per
        event stays constant and the memory below about ``2 * span`` ids per partition."""
        seen = self._seen.get(partition)
        if seen is not None and len(seen) > 2 * self.span:
            floor = offset - self.span
            self._seen[partition] = {key: at for key, at in seen.items() if at > floor}

    def revoked(self, partitions: list[TopicPartition]) -> None:
        """Park the windows: kept if the partition comes back where this consumer left it."""
        for partition in partitions:
            seen = self._seen.pop(partition, None)
            warm_until = self._warm_until.pop(partition, None)
            next_offset = self._next.pop(partition, None)
            if seen is None or warm_until is None or next_offset is None:
                continue
            if next_offset >= warm_until:  # still warming: the window is not whole yet
                self._parked[partition] = (seen, next_offset)

    def assigned(self, partitions: list[TopicPartition]) -> None:
        """Windows of partitions that went elsewhere are dropped (their memory with them)."""
        keep = set(partitions)
        for partition in [partition for partition in self._parked if partition not in keep]:
            del self._parked[partition]


class DropResends(PassOn):
    """The drop-resends step: keeps the run's valid events that are not resends, collects its
    invalid ones for the dead-letter topic, and says up to where the run is consumed.

    A partition's first run since its assignment opens its window: when the window needs the
    records before it, ``seek`` reads the partition again from there and the run is dropped (those
    records come back, warm the window, then this run's records come again)."""

    def __init__(
        self, recent: RecentIds, seek: Callable[[TopicPartition, int], None], next_step: Step
    ) -> None:
        super().__init__(next_step)
        self._recent = recent
        self._seek = seek

    def submit(self, run: Run) -> None:
        if run.kept is None:
            if not self._window_open(run):
                return
            self._drop_resends(run)
        self.next.submit(run)

    def _window_open(self, run: Run) -> bool:
        if self._recent.window(run.partition) is not None:
            return True
        start = self._recent.open(run.partition, run.first_offset)
        if start < run.first_offset:
            self._seek(run.partition, start)
            return False
        return True

    def _drop_resends(self, run: Run) -> None:
        assert run.events is not None
        partition = run.partition
        window = self._recent.window(partition)
        assert window is not None
        seen, warm_until = window
        span = self._recent.span
        kept: list[tuple[Any, Any]] = []
        rejected = run.rejected
        resent = 0
        for record, event in zip(run.records, run.events, strict=True):
            offset = record.offset
            if isinstance(event, Rejected):
                if offset >= warm_until:  # below: dead-lettered when it was read at its turn
                    rejected.append((record, event))
                continue
            key = event.id.int
            previous = seen.get(key)
            seen[key] = offset
            if offset < warm_until:
                continue  # before the committed position: it only fills the window
            if previous is not None and previous < offset and offset - previous <= span:
                resent += 1  # the relay's resend of an event stored (or dropped) before
                continue
            kept.append((record, event))
        run.kept = kept
        run.resent = resent
        last = run.last_offset
        if last >= warm_until:  # the warming records are a prefix of the run, if any
            run.position = last + 1
        self._recent.advanced(partition, last + 1)
        self._recent.trim(partition, last)
