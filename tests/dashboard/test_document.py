"""The dashboard document's validation: field errors from pydantic, reference errors that name the field."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from lookout_dashboard.schemas.document import (
    GRID_COLUMNS,
    Document,
    LayoutItem,
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


items = st.builds(
    lambda x, y, w, h: {"component_id": "c", "x": x, "y": y, "w": w, "h": h},
    st.integers(0, GRID_COLUMNS - 1),
    st.integers(0, 30),
    st.integers(1, GRID_COLUMNS),
    st.integers(1, 10),
)


@given(st.lists(items, min_size=2, max_size=6))
def test_overlap_check_matches_rectangle_intersection(raw: list[dict[str, int]]) -> None:
    raw = [item for item in raw if item["x"] + item["w"] <= GRID_COLUMNS]
    components = [{"id": f"c{i}", "type": "text"} for i in range(len(raw))]
    for index, item in enumerate(raw):
        item["component_id"] = f"c{index}"
    document = Document.model_validate({"components": components, "layout": {"items": raw}})
    reported = {
        int(e["loc"][3]) for e in reference_errors(document) if e["msg"].startswith("overlaps")
    }

    def intersects(a: LayoutItem, b: LayoutItem) -> bool:
        return a.x < b.x + b.w and b.x < a.x + a.w and a.y < b.y + b.h and b.y < a.y + a.h

    placed = list(document.layout.items)
    expected = {
        i for i in range(len(placed)) if any(intersects(placed[i], placed[j]) for j in range(i))
    }
    # An item overlapping an earlier one is reported; its cells are then not marked, so a third item
    # can only be reported against items that were placed.
    accepted: list[LayoutItem] = []
    expected: set[int] = set()
    for index, item in enumerate(placed):
        if any(intersects(item, other) for other in accepted):
            expected.add(index)
        else:
            accepted.append(item)
    assert reported == expected


def test_json_schema_is_published_with_every_component_kind() -> None:
    schema = document_json_schema()
    text = str(schema)
    for kind in ("chart", "table", "metric", "text", "filter"):
        assert f"'{kind}'" in text
