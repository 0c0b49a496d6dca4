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
from lookout_datasource.service.connectors.clickhouse import pass_through
from lookout_datasource.service.connectors.results import encode_rows, result

ID = uuid.UUID("12345678-1234-5678-1234-567812345678")

VALUES = [
    pytest.param('text \u00e9\u2028"\\\x00', 'text \u00e9\u2028"\\\x00', id="text"),
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


# ClickHouse 18.16's JSONCompact answer, as the server writes it (a string with an escaped quote,
# slash, newline and tab, a non-ASCII letter, a Decimal, a NaN, an array, a UInt64 past int64).
CLICKHOUSE_ANSWER = (
    '{\n\t"meta":\n\t[\n\t\t{\n\t\t\t"name": "id",\n\t\t\t"type": "UInt64"\n\t\t},\n'
    '\t\t{\n\t\t\t"name": "data",\n\t\t\t"type": "String"\n\t\t},\n'
    '\t\t{\n\t\t\t"name": "dec",\n\t\t\t"type": "Decimal(9, 2)"\n\t\t},\n'
    '\t\t{\n\t\t\t"name": "n",\n\t\t\t"type": "Float64"\n\t\t},\n'
    '\t\t{\n\t\t\t"name": "arr",\n\t\t\t"type": "Array(UInt8)"\n\t\t},\n'
    '\t\t{\n\t\t\t"name": "big",\n\t\t\t"type": "UInt64"\n\t\t}\n\t],\n\n'
    '\t"data":\n\t[\n'
    '\t\t[0, "c\\"\\/\\n\\t\u00e90", 1.50, null, [1,2], 18446744073709551615],\n'
    '\t\t[1, "\\"rows\\": 9,", 2, null, [], 1]\n'
    '\t],\n\n\t"rows": 2,\n\n\t"rows_before_limit_at_least": 2,\n\n'
    '\t"statistics":\n\t{\n\t\t"elapsed": 0.000072005,\n\t\t"rows_read": 2,\n\t\t"bytes_read": 16\n\t}\n}\n'
).encode()


def test_clickhouse_rows_are_passed_on_as_the_server_wrote_them() -> None:
    passed = pass_through(CLICKHOUSE_ANSWER, row_limit=2)
    assert passed is not None
    columns, rows_json, row_count = passed
    assert [(c.name, c.type) for c in columns] == [
        ("id", "UInt64"),
        ("data", "String"),
        ("dec", "Decimal(9, 2)"),
        ("n", "Float64"),
        ("arr", "Array(UInt8)"),
        ("big", "UInt64"),
    ]
    assert row_count == 2
    assert b"\n" not in rows_json and b"\t" not in rows_json
    assert json.loads(rows_json) == json.loads(CLICKHOUSE_ANSWER)["data"]
    assert json.loads(rows_json)[0][1] == 'c"/\n\t\u00e90'


def test_clickhouse_rows_are_read_again_when_they_cannot_be_passed_on() -> None:
    assert pass_through(CLICKHOUSE_ANSWER, row_limit=1) is None  # more than the limit
    not_utf8 = CLICKHOUSE_ANSWER.replace("\u00e9".encode(), b"\xe9")
    assert pass_through(not_utf8, row_limit=2) is None
    assert pass_through(CLICKHOUSE_ANSWER.replace(b"\t", b"  "), row_limit=2) is None
    empty = CLICKHOUSE_ANSWER.split(b'\t"data":')[0] + b'\t"data":\n\t[\n\n\t],\n\n\t"rows": 0,\n}'
    passed = pass_through(empty, row_limit=2)
    assert passed is not None and passed[1:] == (b"[]", 0)
