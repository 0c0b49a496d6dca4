"""The dashboard document's validation: field errors from pydantic, reference errors that name the field."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import event, given
from hypothesis import strategies as st
from lookout_dashboard.schemas.document import (
    GRID_COLUMNS,
    Document,
    document_json_schema,
    reference_errors,
)
from pydantic import ValidationError


def a_document(**overrides: Any) -> dict[str, Any]:
    document: dict[str, Any] = {
        "components": [
            {
                "id": "sales",
                "type": "chart",
                "chart_type": "bar",
                "parameter_bindings": {"region": "region"},
            },
            {"id": "total", "type": "metric", "value_field": "sum"},
            {"id": "notes", "type": "text", "markdown": "# Hello"},
            {"id": "pick", "type": "filter", "filter_id": "region"},
            {"id": "rows", "type": "table", "columns": [{"field": "a"}]},
        ],
        "layout": {
            "items": [
                {"component_id": "sales", "x": 0, "y": 0, "w": 12, "h": 6},
                {"component_id": "total", "x": 12, "y": 0, "w": 12, "h": 6},
                {"component_id": "pick", "x": 0, "y": 6, "w": 24, "h": 1},
            ]
        },
        "filters": [
            {
                "id": "region",
                "type": "select",
                "label": "Region",
                "parameter": "region",
                "default": "eu",
                "options": ["eu", "us"],
                "targets": ["sales"],
            }
        ],
    }
    document.update(overrides)
    return document


def test_a_sound_document_has_no_errors() -> None:
    assert reference_errors(Document.model_validate(a_document())) == []


@pytest.mark.parametrize(
    ("change", "where"),
    [
        (lambda d: d["components"].append({"id": "x", "type": "gauge"}), ("components", 5)),
        (
            lambda d: d["layout"]["items"].append(
                {"component_id": "notes", "x": 20, "y": 9, "w": 8, "h": 1}
            ),
            ("layout", "items", 3),
        ),
        (lambda d: d["filters"][0].update(default="mars"), ("filters", 0)),
        (
            lambda d: d["filters"][0].update(type="date", default="2026-13-40", options=[]),
            ("filters", 0),
        ),
        (lambda d: d["components"][0].update(id="bad id!"), ("components", 0)),
    ],
)
def test_field_errors_point_at_the_field(change: Any, where: tuple[Any, ...]) -> None:
    document = a_document()
    change(document)
    with pytest.raises(ValidationError) as caught:
        Document.model_validate(document)
    locations = [error["loc"] for error in caught.value.errors()]
    assert any(loc[: len(where)] == where for loc in locations), locations


@pytest.mark.parametrize(
    ("change", "loc"),
    [
        (
            lambda d: d["layout"]["items"].append(
                {"component_id": "ghost", "x": 0, "y": 20, "w": 1, "h": 1}
            ),
            ["body", "layout", "items", "3", "component_id"],
        ),
        (
            lambda d: d["layout"]["items"].append(
                {"component_id": "notes", "x": 6, "y": 3, "w": 4, "h": 4}
            ),
            ["body", "layout", "items", "3"],
        ),
        (
            lambda d: d["filters"][0].update(targets=["nowhere"]),
            ["body", "filters", "0", "targets", "0"],
        ),
        (
            lambda d: d["components"][3].update(filter_id="nope"),
            ["body", "components", "3", "filter_id"],
        ),
        (
            lambda d: d["components"][0].update(parameter_bindings={"p": "nope"}),
            ["body", "components", "0", "parameter_bindings", "p"],
        ),
        (lambda d: d["components"][2].update(id="sales"), ["body", "components", "2", "id"]),
    ],
)
def test_reference_errors_point_at_the_field(change: Any, loc: list[str]) -> None:
    document = a_document()
    change(document)
    errors = reference_errors(Document.model_validate(document))
    assert [error["loc"] for error in errors] == [loc]


@st.composite
def layout_items(draw: st.DrawFn) -> dict[str, int]:
    """An item inside the grid (x + w within its width), on a few rows so that items meet often."""
    x = draw(st.integers(0, GRID_COLUMNS - 1))
    return {
        "x": x,
        "y": draw(st.integers(0, 16)),
        "w": draw(st.integers(1, GRID_COLUMNS - x)),
        "h": draw(st.integers(1, 4)),
    }


def cells(item: dict[str, int]) -> set[tuple[int, int]]:
    return {
        (row, column)
        for row in range(item["y"], item["y"] + item["h"])
        for column in range(item["x"], item["x"] + item["w"])
    }


@given(st.lists(layout_items(), min_size=2, max_size=6))
def test_overlaps_are_reported_truly_and_leave_a_layout_without_them(
    raw: list[dict[str, int]],
) -> None:
    """Items may not overlap (README). Each report names an earlier item sharing a cell with it; the
    items not reported share no cell; and each reported item shares one with an item that stays."""
    placed = [{**item, "component_id": f"c{index}"} for index, item in enumerate(raw)]
    components = [{"id": item["component_id"], "type": "text"} for item in placed]
    document = Document.model_validate({"components": components, "layout": {"items": placed}})
    reports = {
        int(error["loc"][3]): int(error["msg"].removeprefix("overlaps layout item "))
        for error in reference_errors(document)
    }
    assert all(error["msg"].startswith("overlaps") for error in reference_errors(document))
    taken = [cells(item) for item in raw]
    event(f"{len(reports)} of {len(raw)} items reported")

    for index, other in reports.items():
        assert other < index and taken[index] & taken[other], (index, other)
    kept = [index for index in range(len(raw)) if index not in reports]
    for position, index in enumerate(kept):
        for earlier in kept[:position]:
            assert not taken[index] & taken[earlier], f"items {earlier} and {index} overlap"
    for index in reports:
        assert any(taken[index] & taken[other] for other in kept), f"{index} blocked by nothing"


def test_json_schema_is_published_with_every_component_kind() -> None:
    schema = document_json_schema()
    text = str(schema)
    for kind in ("chart", "table", "metric", "text", "filter"):
        assert f"'{kind}'" in text
