"""Values against typed parameters (``bind_values``): any JSON value is bound as its type's
Python value or refused with 422 ``invalid_parameters`` naming where — never another error."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from lookout_datasource.schemas.parameters import Parameter
from lookout_datasource.service.parameter_values import bind_values
from lookout_kit.errors import Invalid

PARAMETERS = [
    Parameter(name="t", type="text"),
    Parameter(name="n", type="number", required=True),
    Parameter(name="d", type="date", default="2026-01-01"),
    Parameter(name="dt", type="datetime"),
    Parameter(name="e", type="enum", options=["a", 1]),
    Parameter(name="l", type="list", options=["x", "y", 2]),
]
TEXT = "SELECT {{ t }}, {{ n }}, {{ d }}, {{ dt }}, {{ e }}, {{ l }}"
TYPES: dict[str, tuple[type, ...]] = {
    "t": (str,),
    "n": (int, float),
    "d": (date,),
    "dt": (datetime,),
    "e": (str, int),
    "l": (list,),
}

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20)
    | st.sampled_from(["2026-02-28", "2026-02-30", "2026-01-01T10:00:00+02:00", "a", "x"]),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=4), inner, max_size=3),
    max_leaves=8,
)  # fmt: skip


@given(st.dictionaries(st.sampled_from(["t", "n", "d", "dt", "e", "l", "zz"]), json_values))
def test_any_json_value_is_bound_by_type_or_refused_with_where(values: dict[str, Any]) -> None:
    try:
        bound = bind_values(TEXT, PARAMETERS, values)
    except Invalid as error:
        assert error.code == "invalid_parameters"
        assert error.details and all(
            problem["loc"][:2] == ["body", "values"] for problem in error.details
        )
        return
    assert "zz" not in values
    assert values.get("n") is not None
    for name, value in bound.items():
        if value is not None:
            assert isinstance(value, TYPES[name]) and not isinstance(value, bool), (name, value)


def test_defaults_fill_what_is_not_given_and_optional_binds_null() -> None:
    bound = bind_values(TEXT, PARAMETERS, {"n": 3, "l": ["x", 2]})
    assert bound == {"t": None, "n": 3, "d": date(2026, 1, 1), "dt": None, "e": None, "l": ["x", 2]}


@pytest.mark.parametrize(
    ("values", "problem"),
    [
        ({}, ("n", "missing")),
        ({"n": 1, "e": "b"}, ("e", "invalid_value")),
        ({"n": 1, "l": ["z"]}, ("l", "invalid_value")),
        ({"n": True}, ("n", "invalid_value")),
        ({"n": 1, "q": 1}, ("q", "unknown_parameter")),
    ],
)
def test_each_problem_names_its_parameter(values: dict[str, Any], problem: tuple[str, str]) -> None:
    with pytest.raises(Invalid) as raised:
        bind_values(TEXT, PARAMETERS, values)
    assert [(p["loc"][-1], p["type"]) for p in raised.value.details] == [problem]


def test_a_placeholder_without_a_parameter_is_refused() -> None:
    with pytest.raises(Invalid) as raised:
        bind_values("SELECT {{ other }}", PARAMETERS, {})
    assert raised.value.details[0]["type"] == "undefined_parameter"
