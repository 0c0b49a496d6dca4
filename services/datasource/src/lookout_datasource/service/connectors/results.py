"""Building a ``QueryResult``: values made JSON-ready, the row limit applied, size and time taken."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Sequence
from datetime import date, datetime, timedelta
from datetime import time as time_of_day
from decimal import Decimal
from typing import Any

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


def result(
    columns: list[Column],
    fetched: Sequence[Sequence[Any]],
    *,
    row_limit: int,
    started: float,
) -> QueryResult:
    """The result of ``fetched`` (up to ``row_limit`` + 1 rows), ``started`` at this monotonic time."""
    truncated = len(fetched) > row_limit
    rows = [[json_value(value) for value in row] for row in fetched[:row_limit]]
    size = len(json.dumps(rows, ensure_ascii=False, separators=(",", ":")).encode())
    return QueryResult(
        columns=columns,
        rows=rows,
        row_count=len(rows),
        truncated=truncated,
        bytes=size,
        duration_ms=elapsed_ms(started),
    )


def elapsed_ms(started: float) -> int:
    return round((time.monotonic() - started) * 1000)
