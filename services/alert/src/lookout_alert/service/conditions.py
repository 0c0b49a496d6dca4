"""Evaluating a condition on a query's result: pure functions (no I/O), so that the rules are
tested on their own (hypothesis) and the evaluation only wires them.

``observe`` reads the value (``None``: no data — no rows, or a null); ``decide`` turns the value,
the previous evaluation's value and the previous outcome into whether the condition is met."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from lookout_alert.schemas.conditions import Aggregate, ColumnValue, Condition, Threshold


class ConditionError(Exception):
    """The result cannot be read as the condition says (no such column, not a number)."""


@dataclass(frozen=True)
class Result:
    columns: Sequence[str]
    rows: Sequence[Sequence[Any]]


def _number(value: Any, column: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, int | float):
        number = float(value)
    elif isinstance(value, str):
        try:
            number = float(value)  # NUMERIC and big integers arrive as text
        except ValueError:
            raise ConditionError(f"column {column!r} is not a number") from None
    else:
        raise ConditionError(f"column {column!r} is not a number")
    if not math.isfinite(number):
        raise ConditionError(f"column {column!r} is not a finite number")
    return number


def _index(result: Result, column: str) -> int:
    try:
        return list(result.columns).index(column)
    except ValueError:
        raise ConditionError(f"the result has no column {column!r}") from None


def observe(condition: Condition, result: Result) -> float | None:
    """The value the condition looks at; ``None`` when there is no data."""
    spec = condition.value
    if isinstance(spec, ColumnValue):
        index = _index(result, spec.column)
        return _number(result.rows[0][index], spec.column) if result.rows else None
    if isinstance(spec, Aggregate):
        index = _index(result, spec.column)
        values = [
            number
            for row in result.rows
            if (number := _number(row[index], spec.column)) is not None
        ]
        if not values:
            return None
        if spec.function == "min":
            return min(values)
        if spec.function == "max":
            return max(values)
        total = math.fsum(values)
        return total if spec.function == "sum" else total / len(values)
    return float(len(result.rows))


def compare(threshold: Threshold, value: float) -> bool:
    op, limit = threshold.op, threshold.value
    if op == ">":
        return value > limit
    if op == ">=":
        return value >= limit
    if op == "<":
        return value < limit
    if op == "<=":
        return value <= limit
    if op == "==":
        return value == limit
    return value != limit


def change_of(kind: str, value: float, previous: float | None) -> float | None:
    """The change since ``previous`` (``None``: none to speak of — no previous value, or a
    percentage of 0)."""
    if previous is None:
        return None
    if kind == "absolute":
        return value - previous
    if previous == 0:
        return None
    return (value - previous) / abs(previous) * 100.0


def decide(
    condition: Condition, value: float | None, previous: float | None, was_met: bool
) -> bool:
    """Whether the condition is met now."""
    if value is None:
        if condition.no_data == "keep":
            return was_met
        return condition.no_data == "trigger"
    if condition.change is not None:
        changed = change_of(condition.change.kind, value, previous)
        if changed is None:
            return was_met
        value = changed
    return compare(condition.threshold, value)
