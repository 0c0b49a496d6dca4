"""A result's rows as JSON (``connectors/results.py``): each kind of value a driver returns is
written as the results' contract says, in one encoding, whatever the rows' container."""

from __future__ import annotations

import json
import math
import time
import uuid
from datetime import UTC, date, datetime, timedelta, timezone
from datetime import time as time_of_day
from decimal import Decimal
from typing import Any

import pytest
from lookout_datasource.service.connectors.base import Column
from lookout_datasource.service.connectors.results import encode_rows, result

ID = uuid.UUID("12345678-1234-5678-1234-567812345678")

VALUES = [
    pytest.param("text \u00e9\u2028\"\\\x00", "text \u00e9\u2028\"\\\x00", id="text"),
    pytest.param(42, 42, id="int"),
    pytest.param(2**70, 2**70, id="big-int"),
    pytest.param(1.25, 1.25, id="float"),
    pytest.param(True, True, id="bool"),
    pytest.param(Decimal("3.00"), 3, id="decimal-whole"),
    pytest.param(Decimal("1.50"), 1.5, id="decimal-fraction"),
    pytest.param(date(2024, 2, 29), "2024-02-29", id="date"),
    pytest.param(datetime(2024, 2, 29, 13, 14, 15), "2024-02-29T13:14:15", id="datetime"),
    pytest.param(
        datetime(2024, 2, 29, 13, 14, 15, 123000, tzinfo=UTC),
        "2024-02-29T13:14:15.123000Z",
        id="datetime-utc",
    ),
    pytest.param(
        datetime(2024, 2, 29, 13, 14, 15, tzinfo=timezone(timedelta(hours=2))),
        "2024-02-29T13:14:15+02:00",
        id="datetime-offset",
    ),
    pytest.param(time_of_day(1, 2, 3), "01:02:03", id="time"),
    pytest.param(timedelta(days=1, seconds=1.5), 86401.5, id="interval"),
    pytest.param(ID, str(ID), id="uuid"),
    pytest.param(b"\x01\xff", "01ff", id="bytes"),
    pytest.param(memoryview(b"\x02"), "02", id="memoryview"),
    pytest.param([1, Decimal("2.5"), None], [1, 2.5, None], id="array"),
    pytest.param({"a": [date(2024, 1, 2)]}, {"a": ["2024-01-02"]}, id="mapping"),
    pytest.param(float("nan"), None, id="nan"),
    pytest.param(float("inf"), None, id="infinity"),
]


class Record:
    """A row that is neither a list nor a tuple (as asyncpg's records)."""

    def __init__(self, *values: Any) -> None:
        self._values = values

    def __iter__(self) -> Any:
        return iter(self._values)

    def __getitem__(self, index: int) -> Any:
        return self._values[index]

    def __len__(self) -> int:
        return len(self._values)


def as_list(*values: Any) -> list[Any]:
    return list(values)


def as_tuple(*values: Any) -> tuple[Any, ...]:
    return values


@pytest.mark.parametrize("container", [as_list, as_tuple, Record], ids=["list", "tuple", "record"])
@pytest.mark.parametrize(("value", "expected"), VALUES)
def test_each_kind_of_value_is_written_as_the_contract_says(
    container: Any, value: Any, expected: Any
) -> None:
    rows = [container(None, 1), container(value, 2)]  # a null first: the type is the next value's
    encoded = encode_rows(rows)
    assert json.loads(encoded) == [[None, 1], [expected, 2]]


def test_a_column_of_mixed_types_writes_each_value_its_own_way() -> None:
    rows = [(Decimal("1.5"),), (2,), (b"\x01",), (None,)]
    assert json.loads(encode_rows(rows)) == [[1.5], [2], ["01"], [None]]


def test_non_finite_floats_are_valid_json() -> None:
    encoded = encode_rows([(float("nan"), float("-inf"), 1.0)])
    assert encoded == b"[[null,null,1.0]]"
    assert not any(math.isnan(v) for v in json.loads(encoded)[0] if v is not None)


def test_a_result_applies_the_row_limit_and_counts_the_bytes_it_sends() -> None:
    fetched = [(1, "ann"), (2, "bob"), (3, "cy")]
    limited = result([Column("id", "int4")], fetched, row_limit=2, started=time.monotonic())
    assert limited.rows_json == b'[[1,"ann"],[2,"bob"]]'
    assert (limited.row_count, limited.truncated, limited.bytes) == (2, True, 21)
    assert limited.rows == [[1, "ann"], [2, "bob"]]
    whole = result([], fetched, row_limit=3, started=time.monotonic())
    assert (whole.row_count, whole.truncated) == (3, False)
    empty = result([], [], row_limit=3, started=time.monotonic())
    assert (empty.rows_json, empty.row_count, empty.bytes) == (b"[]", 0, 2)
