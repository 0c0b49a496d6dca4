"""Building a ``QueryResult``: the rows encoded as JSON once, the row limit applied, size and time
taken.

The rows are encoded by msgspec straight from what the driver returned (asyncpg's records made
tuples, asyncmy's tuples, ClickHouse's lists): strings, numbers, booleans, nulls, dates, times,
datetimes and UUIDs are written as they are (ISO 8601 for the times, as pydantic wrote them). A
column whose values are of another type (``Decimal``, ``timedelta``, bytes, arrays, …, told by
its first value that is not null) is converted first, value by value (``json_value``); only then
are the rows copied. A float that is not finite is written as null (JSON has no NaN)."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Sequence
from datetime import date, datetime, timedelta
from datetime import time as time_of_day
from decimal import Decimal
from typing import Any

import msgspec

from lookout_datasource.service.connectors.base import Column, QueryResult


def json_value(value: Any) -> Any:
    """``value`` as JSON has it (see ``base``: Decimal → int or float, dates → ISO 8601, …)."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, Decimal):
        if value.is_finite() and value == value.to_integral_value():
            return int(value)
        return float(value)
    if isinstance(value, datetime | date | time_of_day):
        return value.isoformat()
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value).hex()
    if isinstance(value, list | tuple):
        return [json_value(item) for item in value]
    if isinstance(value, dict):
        return {str(key): json_value(item) for key, item in value.items()}
    return str(value)


_ENCODER = msgspec.json.Encoder(enc_hook=lambda value: json_value(value))
_NATIVE = frozenset((str, int, float, bool, date, datetime, time_of_day, uuid.UUID))
"""Types msgspec writes as the results have them (see the module's doc)."""


def _decimal(value: Decimal) -> int | float:
    if value.is_finite() and value == value.to_integral_value():
        return int(value)
    return float(value)


def _converter(value: Any) -> Callable[[Any], Any] | None:
    """How a column whose values are of ``value``'s type becomes JSON's (None: it is already)."""
    kind = type(value)
    if kind in _NATIVE:
        return None
    if kind is Decimal:
        return _decimal
    return json_value


def _converters(rows: Sequence[Sequence[Any]]) -> dict[int, tuple[type, Callable[[Any], Any]]]:
    """Each column's type and converter, told by its first value that is not null (a column of
    nulls, or of JSON's own types, needs none)."""
    if not rows:
        return {}
    pending = set(range(len(rows[0])))
    converters: dict[int, tuple[type, Callable[[Any], Any]]] = {}
    for row in rows:
        for index in list(pending):
            value = row[index]
            if value is not None:
                pending.discard(index)
                converter = _converter(value)
                if converter is not None:
                    converters[index] = (type(value), converter)
        if not pending:
            break
    return converters


def encode_rows(rows: Sequence[Sequence[Any]]) -> bytes:
    """``rows`` (the driver's) as the JSON array of arrays a result holds."""
    converters = _converters(rows)
    if converters:
        converted = [list(row) for row in rows]
        for index, (kind, converter) in converters.items():
            for row in converted:
                value = row[index]
                if value is not None:
                    # A value of another type than the column's first (a JSON column): the general way.
                    row[index] = converter(value) if type(value) is kind else json_value(value)
        return _ENCODER.encode(converted)
    if rows and not isinstance(rows[0], list | tuple):
        rows = list(map(tuple, rows))  # asyncpg's records
    return _ENCODER.encode(rows)


def result(
    columns: list[Column],
    fetched: Sequence[Sequence[Any]],
    *,
    row_limit: int,
    started: float,
) -> QueryResult:
    """The result of ``fetched`` (up to ``row_limit`` + 1 rows), ``started`` at this monotonic time."""
    truncated = len(fetched) > row_limit
    kept = fetched[:row_limit] if truncated else fetched
    encoded = encode_rows(kept)
    return QueryResult(
        columns=columns,
        rows_json=encoded,
        row_count=len(kept),
        truncated=truncated,
        bytes=len(encoded),
        duration_ms=elapsed_ms(started),
    )


def elapsed_ms(started: float) -> int:
    return round((time.monotonic() - started) * 1000)
