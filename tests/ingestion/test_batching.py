"""The batch's fast filter keeps exactly what the per-row filter keeps."""

from __future__ import annotations

from aiokafka import TopicPartition
from hypothesis import given, settings
from hypothesis import strategies as st
from lookout_ingestion.batching import TableRows

PARTITIONS = [TopicPartition("t.events", number) for number in range(3)]


@given(
    starts=st.lists(st.integers(0, 50), min_size=3, max_size=3),
    lengths=st.lists(st.integers(0, 20), min_size=3, max_size=3),
    owned=st.sets(st.sampled_from(PARTITIONS)),
    stored=st.lists(st.integers(-1, 80), min_size=3, max_size=3),
)
@settings(max_examples=300, deadline=None)
def test_keep_unstored_matches_the_row_by_row_filter(
    starts: list[int], lengths: list[int], owned: set[TopicPartition], stored: list[int]
) -> None:
    fast, slow = TableRows(), TableRows()
    for index in range(max(lengths, default=0)):  # partitions interleaved, each in offset order
        for partition, start, length in zip(PARTITIONS, starts, lengths, strict=True):
            if index < length:
                for rows in (fast, slow):
                    rows.add(partition, start + index, f"{partition}:{start + index}".encode())
    cutoff = dict(zip(PARTITIONS, stored, strict=True))
    fast.keep_unstored(lambda partition: partition in owned, cutoff.__getitem__)
    slow.keep(lambda partition, offset: partition in owned and offset > cutoff[partition])
    assert (fast.rows, fast.origins) == (slow.rows, slow.origins)
    assert fast.first == {
        partition: min(offset for p, offset in fast.origins if p == partition)
        for partition, _ in fast.origins
    }
