"""Backpressure: the chain's head (``Admit``) refuses a run (``MessageRejected``) while the flush
step has no room, before any step does any of its work; the run waits here, fetching pauses, and
the run is submitted again after each poll until the head takes it; then fetching resumes.

Runs of one partition keep their order: while any run waits, later runs wait behind it."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable

from aiokafka import AIOKafkaConsumer, TopicPartition

from lookout_ingestion.metrics import PAUSED
from lookout_ingestion.steps import MessageRejected, PassOn, Run, Step


class Admit(PassOn):
    """The chain's head: a run goes down only while its partition is still this consumer's (one
    fetched before a revocation is dropped: its next owner reads it from the commit) and while
    the flush step has room (``MessageRejected`` otherwise: refused before decoding, windowing or
    dead-lettering anything of it, so nothing is done for a run that is not taken)."""

    def __init__(
        self, current: Callable[[Run], bool], has_room: Callable[[], bool], next_step: Step
    ) -> None:
        super().__init__(next_step)
        self._current = current
        self._has_room = has_room

    def submit(self, run: Run) -> None:
        if not self._current(run):
            return
        if not run.forced and not self._has_room():
            raise MessageRejected
        self.next.submit(run)


class Backpressure:
    def __init__(self, consumer: AIOKafkaConsumer, chain: Step) -> None:
        self._consumer = consumer
        self._chain = chain
        self._waiting: deque[Run] = deque()
        self.paused = False

    def submit(self, run: Run) -> None:
        if self._waiting:
            self._waiting.append(run)
            return
        try:
            self._chain.submit(run)
        except MessageRejected:
            self._waiting.append(run)
            self._pause()

    def retry(self) -> None:
        """Submit the waiting runs again, in order; resume fetching once all are taken."""
        while self._waiting:
            try:
                self._chain.submit(self._waiting[0])
            except MessageRejected:
                return
            self._waiting.popleft()
        if self.paused:
            self._consumer.resume(*self._consumer.assignment())
            self.paused = False
            PAUSED.set(0)

    def release(self, partition: TopicPartition) -> None:
        """Submit the partition's waiting runs now, whatever the buffer holds (its log began
        again: what was read of the old log is stored under the old log's id, before the new
        one is identified)."""
        for run in [run for run in self._waiting if run.partition == partition]:
            run.forced = True
            self._chain.submit(run)
        self._waiting = deque(run for run in self._waiting if run.partition != partition)

    def forget(self, partitions: Iterable[TopicPartition]) -> None:
        """Revoked: their waiting runs are their next owner's to read."""
        gone = set(partitions)
        self._waiting = deque(run for run in self._waiting if run.partition not in gone)

    def assigned(self) -> None:
        """A new assignment is read from its committed offsets: nothing of it waits here."""
        if not self._waiting:
            self.paused = False
            PAUSED.set(0)

    def _pause(self) -> None:
        if not self.paused:
            self._consumer.pause(*self._consumer.assignment())
            self.paused = True
            PAUSED.set(1)
