"""The condition rules on their own (``service.conditions``): the value read of a result, the
threshold, the change since the previous evaluation, and what no data means."""

from __future__ import annotations

import math
import operator
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from lookout_alert.schemas.conditions import Condition
from lookout_alert.service.conditions import ConditionError, Result, decide, observe

OPERATORS = {">": operator.gt, ">=": operator.ge, "<": operator.lt, "<=": operator.le,
             "==": operator.eq, "!=": operator.ne}  # fmt: skip
numbers = st.floats(allow_nan=False, allow_infinity=False, min_value=-1e12, max_value=1e12)


def condition(value: dict[str, Any], op: str = ">", limit: float = 0, **extra: Any) -> Condition:
    return Condition.model_validate(
        {"value": value, "threshold": {"op": op, "value": limit}, **extra}
    )


@given(st.lists(st.one_of(st.none(), numbers), max_size=20))
def test_aggregates_and_counts_read_every_row(values: list[float | None]) -> None:
    result = Result(columns=["name", "v"], rows=[["x", v] for v in values])
    present = [v for v in values if v is not None]
    assert observe(condition({"kind": "row_count"}), result) == len(values)
    for function, expected in (
        ("min", min(present, default=None)),
        ("max", max(present, default=None)),
        ("sum", math.fsum(present) if present else None),
        ("avg", math.fsum(present) / len(present) if present else None),
    ):
        seen = observe(
            condition({"kind": "aggregate", "function": function, "column": "v"}), result
        )
        assert seen == pytest.approx(expected) if expected is not None else seen is None
    first = observe(condition({"kind": "column", "column": "v"}), result)
    assert first == (values[0] if values else None)


@given(numbers, st.sampled_from(sorted(OPERATORS)), numbers)
def test_the_threshold_compares_as_its_operator_says(value: float, op: str, limit: float) -> None:
    assert decide(condition({"kind": "row_count"}, op, limit), value, None, False) == OPERATORS[op](
        value, limit
    )


@given(numbers, numbers, st.booleans())
def test_a_change_is_measured_from_the_previous_value(
    value: float, previous: float, was: bool
) -> None:
    absolute = condition({"kind": "row_count"}, ">", 5, change={"kind": "absolute"})
    assert decide(absolute, value, previous, was) == (value - previous > 5)
    assert decide(absolute, value, None, was) == was  # no previous value: outcome kept
    percent = condition({"kind": "row_count"}, ">=", 50, change={"kind": "percent"})
    if previous != 0:
        assert decide(percent, value, previous, was) == (
            (value - previous) / abs(previous) * 100 >= 50
        )
    else:
        assert decide(percent, value, previous, was) == was


@pytest.mark.parametrize(("policy", "was", "met"), [
    ("ok", True, False), ("trigger", False, True), ("keep", True, True), ("keep", False, False),
])  # fmt: skip
def test_no_data_means_what_the_policy_says(policy: str, was: bool, met: bool) -> None:
    empty = Result(columns=["v"], rows=[])
    rule = condition({"kind": "column", "column": "v"}, no_data=policy)
    assert decide(rule, observe(rule, empty), 3.0, was) is met


def test_a_missing_or_non_numeric_column_is_an_error() -> None:
    result = Result(columns=["v", "label"], rows=[[1, "high"]])
    with pytest.raises(ConditionError, match="no column 'w'"):
        observe(condition({"kind": "column", "column": "w"}), result)
    with pytest.raises(ConditionError, match="not a number"):
        observe(condition({"kind": "column", "column": "label"}), result)
    assert observe(condition({"kind": "column", "column": "v"}), Result(["v"], [["12.5"]])) == 12.5
