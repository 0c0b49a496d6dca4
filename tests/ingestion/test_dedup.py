"""The resend window's bookkeeping (the consumer's use of it is tested in ``test_ingest``)."""

from __future__ import annotations

import pytest
from aiokafka import TopicPartition
from lookout_ingestion.dedup import RecentIds
from lookout_ingestion.settings import Settings
from pydantic import ValidationError

PARTITION = TopicPartition("dashboard.events", 0)


def test_open_reads_the_window_before_the_first_record() -> None:
    recent = RecentIds(span=100)
    assert recent.window(PARTITION) is None
    assert recent.open(PARTITION, 1_000) == 900
    assert recent.window(PARTITION) == ({}, 1_000)
    assert recent.open(TopicPartition("dashboard.events", 1), 30) == 0  # the log's start


def test_trim_keeps_every_id_a_later_record_can_match_and_bounds_memory() -> None:
    recent = RecentIds(span=100)
    recent.open(PARTITION, 0)
    for offset in range(1_000):
        window = recent.window(PARTITION)
        assert window is not None
        window[0][offset] = offset  # one id per offset
        recent.trim(PARTITION, offset)
        seen = recent.window(PARTITION)
        assert seen is not None
        assert len(seen[0]) <= 2 * 100 + 1
        # The next record (offset + 1) matches ids at offset + 1 - 100 and later: all kept.
        assert all(at in seen[0] for at in range(max(0, offset + 1 - 100), offset + 1))


def test_a_partition_back_where_this_consumer_left_it_keeps_its_window() -> None:
    recent = RecentIds(span=10)
    assert recent.open(PARTITION, 50) == 40
    window = recent.window(PARTITION)
    assert window is not None
    window[0][7] = 45
    recent.advanced(PARTITION, 60)  # warmed (40..49), then read up to 59
    recent.revoked([PARTITION])
    assert recent.window(PARTITION) is None
    recent.assigned([PARTITION])
    assert recent.open(PARTITION, 60) == 60  # nobody read it since: no warming
    assert recent.window(PARTITION) == ({7: 45}, 60)


def test_a_partition_read_by_others_meanwhile_is_read_again() -> None:
    recent = RecentIds(span=10)
    recent.open(PARTITION, 50)
    recent.advanced(PARTITION, 60)
    recent.revoked([PARTITION])
    assert recent.open(PARTITION, 75) == 65  # another replica committed up to 75
    assert recent.window(PARTITION) == ({}, 75)


def test_a_window_revoked_while_warming_is_not_kept() -> None:
    recent = RecentIds(span=10)
    assert recent.open(PARTITION, 50) == 40
    recent.advanced(PARTITION, 45)  # half warmed
    recent.revoked([PARTITION])
    assert recent.open(PARTITION, 50) == 40


def test_windows_of_partitions_that_went_elsewhere_are_dropped() -> None:
    recent = RecentIds(span=10)
    other = TopicPartition("dashboard.events", 1)
    for partition in (PARTITION, other):
        recent.open(partition, 0)
        recent.advanced(partition, 5)
    recent.revoked([PARTITION, other])
    recent.assigned([other])
    assert recent.open(PARTITION, 5) == 0  # dropped: read again
    assert recent.open(other, 5) == 5  # kept


def test_the_span_is_at_least_one() -> None:
    with pytest.raises(ValueError):
        RecentIds(span=0)
    with pytest.raises(ValidationError, match="dedup_window"):
        Settings(dedup_window=0)
    with pytest.raises(ValidationError, match="dedup_window"):
        Settings(dedup_window="many")  # type: ignore[arg-type]  # as from the environment
