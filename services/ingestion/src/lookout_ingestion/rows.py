"""The map + encode step: each kept event → its rows (``mapping.py``) → RowBinary with the row's
Kafka origin appended (``encoding.py``). Rows stored before a restart or rebalance (at or below
the partition's stored watermark for their table) are skipped; an event no table can hold goes
to the dead letters. The rows of a record the relay marked as a possible resend are listed in
``run.copies_to_check`` for the next step (``stored_copies.py``)."""

from __future__ import annotations

from typing import Any

from lookout_contracts.headers import POSSIBLE_RESEND_HEADER

from lookout_ingestion.decode import Rejected
from lookout_ingestion.encoding import encode_origin, encode_row
from lookout_ingestion.mapping import Unmappable, map_event
from lookout_ingestion.repository.offsets import StoredOffsets
from lookout_ingestion.service.logs import LogWatch
from lookout_ingestion.steps import PassOn, Run, Step


class MapEncode(PassOn):
    def __init__(self, logs: LogWatch, stored: StoredOffsets, next_step: Step) -> None:
        super().__init__(next_step)
        self._logs = logs
        self._stored = stored

    def submit(self, run: Run) -> None:
        if run.rows is None:
            self._encode(run)
        self.next.submit(run)

    def _encode(self, run: Run) -> None:
        assert run.kept is not None
        partition = run.partition
        topic, number = self._logs.origin(partition), partition.partition
        stored = self._stored
        threshold = stored.threshold(partition)
        rows: list[tuple[str, int, bytes]] = []
        to_check: list[tuple[Any, int, tuple[Any, ...]]] = []
        possible_resend = POSSIBLE_RESEND_HEADER
        skipped = mapped = 0
        for record, event in run.kept:
            try:
                event_rows = map_event(event)
            except Unmappable as error:
                run.rejected.append((record, Rejected(str(error), Unmappable.code)))
                continue
            mapped += 1
            offset = record.offset
            origin = encode_origin(topic, number, offset)
            headers = record.headers
            marked = bool(headers) and headers[0][0] == possible_resend
            for table, row in event_rows:
                if offset <= threshold and offset <= stored.stored(table, partition):
                    skipped += 1  # stored before a restart or rebalance
                    continue
                rows.append((table, offset, encode_row(table, row, origin)))
                if marked:
                    to_check.append((table, offset, row))
        run.rows = rows
        run.copies_to_check = to_check
        run.mapped = mapped
        run.skipped_rows = skipped
