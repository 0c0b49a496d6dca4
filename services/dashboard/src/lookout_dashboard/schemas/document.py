"""The dashboard document: components, their grid layout and filters, validated by pydantic.

The JSON Schema of these models is published (``document_json_schema``); the same models check every
create, update and import. Field checks are pydantic's; references between parts (a layout item's
component, a filter's targets, overlapping grid cells) are checked by ``reference_errors``, which
names the offending field's location the way pydantic does.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, model_validator

PartId = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]
ParameterName = Annotated[
    str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
]
FilterRef = Annotated[
    str, Field(min_length=1, max_length=69, pattern=r"^[A-Za-z0-9_-]{1,64}(\.(from|to))?$")
]
"""A filter whose value a query parameter takes: its id, or ``<id>.from`` / ``<id>.to`` for one
bound of a ``date_range`` filter."""
Label = Annotated[str, Field(min_length=1, max_length=200)]
FieldName = Annotated[str, Field(min_length=1, max_length=200)]

GRID_COLUMNS = 24
MAX_COMPONENTS = 200
MAX_FILTERS = 50


class _Part(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class _Component(_Part):
    id: PartId
    title: str | None = Field(default=None, max_length=200)
    description: str | None = Field(default=None, max_length=2_000)


class _QueryComponent(_Component):
    saved_query_id: UUID | None = None
    # query parameter name → the filter whose value it takes (``<id>.from``/``.to``: a range's bound)
    parameter_bindings: dict[ParameterName, FilterRef] = Field(default_factory=dict, max_length=50)


class ChartOptions(_Part):
    x: FieldName | None = None
    y: tuple[FieldName, ...] = Field(default=(), max_length=20)
    series: FieldName | None = None
    stacked: bool = False
    legend: Literal["none", "top", "bottom", "left", "right"] = "bottom"
    colors: tuple[Annotated[str, Field(pattern=r"^#[0-9A-Fa-f]{6}$")], ...] = Field(
        default=(), max_length=50
    )


class ChartComponent(_QueryComponent):
    type: Literal["chart"]
    chart_type: Literal["line", "bar", "area", "pie", "scatter", "heatmap"] = "line"
    options: ChartOptions = Field(default_factory=ChartOptions)


class TableColumn(_Part):
    field: FieldName
    label: str | None = Field(default=None, max_length=200)
    format: Literal["text", "number", "percent", "currency", "date", "datetime"] = "text"


class TableComponent(_QueryComponent):
    type: Literal["table"]
    columns: tuple[TableColumn, ...] = Field(default=(), max_length=200)
    page_size: int = Field(default=50, ge=1, le=1_000)


class MetricComponent(_QueryComponent):
    type: Literal["metric"]
    value_field: FieldName | None = None
    format: Literal["number", "percent", "currency", "duration"] = "number"
    prefix: str | None = Field(default=None, max_length=20)
    suffix: str | None = Field(default=None, max_length=20)
    decimals: int = Field(default=0, ge=0, le=10)


class TextComponent(_Component):
    type: Literal["text"]
    markdown: str = Field(default="", max_length=20_000)


class FilterComponent(_Component):
    """Shows one of the dashboard's filters on the grid."""

    type: Literal["filter"]
    filter_id: PartId


Component = Annotated[
    ChartComponent | TableComponent | MetricComponent | TextComponent | FilterComponent,
    Field(discriminator="type"),
]


class LayoutItem(_Part):
    component_id: PartId
    x: int = Field(ge=0, lt=GRID_COLUMNS)
    y: int = Field(ge=0, le=10_000)
    w: int = Field(ge=1, le=GRID_COLUMNS)
    h: int = Field(ge=1, le=100)

    @model_validator(mode="after")
    def _inside_grid(self) -> LayoutItem:
        if self.x + self.w > GRID_COLUMNS:
            raise ValueError(f"x + w must be at most {GRID_COLUMNS} (the grid's width)")
        return self


class Layout(_Part):
    """A grid of ``GRID_COLUMNS`` columns; each item places one component."""

    items: tuple[LayoutItem, ...] = Field(default=(), max_length=MAX_COMPONENTS)


FilterType = Literal["text", "number", "select", "multi_select", "date", "date_range"]


class Filter(_Part):
    id: PartId
    type: FilterType
    label: Label
    parameter: ParameterName = Field(description="The query parameter this filter's value binds to")
    default: Any = None
    options: tuple[Annotated[str, Field(max_length=200)], ...] = Field(default=(), max_length=500)
    targets: tuple[PartId, ...] = Field(
        default=(), max_length=MAX_COMPONENTS, description="Components it applies to; empty = all"
    )

    @model_validator(mode="after")
    def _default_fits_type(self) -> Filter:
        error = _default_error(self)
        if error:
            raise ValueError(error)
        return self


def _default_error(f: Filter) -> str | None:
    value = f.default
    if value is None:
        return None
    if f.type == "text" and not (isinstance(value, str) and len(value) <= 1_000):
        return "default of a text filter must be a string of at most 1000 characters"
    if f.type == "number" and (isinstance(value, bool) or not isinstance(value, int | float)):
        return "default of a number filter must be a number"
    if f.type == "select":
        if not isinstance(value, str):
            return "default of a select filter must be a string"
        if f.options and value not in f.options:
            return "default of a select filter must be one of its options"
    if f.type == "multi_select":
        if not (isinstance(value, list) and all(isinstance(v, str) for v in value)):
            return "default of a multi_select filter must be a list of strings"
        if f.options and not set(value) <= set(f.options):
            return "default of a multi_select filter must be among its options"
    if f.type == "date" and not _is_date(value):
        return "default of a date filter must be an ISO date (YYYY-MM-DD)"
    if f.type == "date_range":
        if not (isinstance(value, dict) and set(value) == {"from", "to"}):
            return 'default of a date_range filter must be {"from": date, "to": date}'
        if not (_is_date(value["from"]) and _is_date(value["to"])):
            return "date_range bounds must be ISO dates (YYYY-MM-DD)"
        if value["from"] > value["to"]:
            return "date_range 'from' must not be after 'to'"
    return None


def _is_date(value: Any) -> bool:
    if not isinstance(value, str):
        return False
    try:
        date.fromisoformat(value)
    except ValueError:
        return False
    return len(value) == 10


class Document(_Part):
    """What a dashboard shows: components, where they sit, and its filters."""

    layout: Layout = Field(default_factory=Layout)
    components: tuple[Component, ...] = Field(default=(), max_length=MAX_COMPONENTS)
    filters: tuple[Filter, ...] = Field(default=(), max_length=MAX_FILTERS)


def reference_errors(
    document: Document, prefix: tuple[str, ...] = ("body",)
) -> list[dict[str, Any]]:
    """References between the document's parts that do not hold, as pydantic-style error entries."""
    errors: list[dict[str, Any]] = []

    def error(loc: tuple[str | int, ...], msg: str) -> None:
        errors.append({"loc": [str(p) for p in (*prefix, *loc)], "msg": msg, "type": "reference"})

    component_ids: set[str] = set()
    for index, component in enumerate(document.components):
        if component.id in component_ids:
            error(("components", index, "id"), f"duplicate component id {component.id!r}")
        component_ids.add(component.id)
    filter_ids: set[str] = set()
    filter_types: dict[str, FilterType] = {}
    for index, filter_ in enumerate(document.filters):
        if filter_.id in filter_ids:
            error(("filters", index, "id"), f"duplicate filter id {filter_.id!r}")
        filter_ids.add(filter_.id)
        filter_types[filter_.id] = filter_.type
        for target_index, target in enumerate(filter_.targets):
            if target not in component_ids:
                error(("filters", index, "targets", target_index), f"no component {target!r}")
    for index, component in enumerate(document.components):
        if isinstance(component, FilterComponent) and component.filter_id not in filter_ids:
            error(("components", index, "filter_id"), f"no filter {component.filter_id!r}")
        if isinstance(component, ChartComponent | TableComponent | MetricComponent):
            for parameter, reference in component.parameter_bindings.items():
                filter_id, _, bound = reference.partition(".")
                where = ("components", index, "parameter_bindings", parameter)
                if filter_id not in filter_ids:
                    error(where, f"no filter {filter_id!r}")
                elif (filter_types[filter_id] == "date_range") != bool(bound):
                    error(where, "a date_range filter binds as <id>.from or <id>.to, no other")
    placed: set[str] = set()
    cells: dict[tuple[int, int], int] = {}
    for index, item in enumerate(document.layout.items):
        if item.component_id not in component_ids:
            error(("layout", "items", index, "component_id"), f"no component {item.component_id!r}")
        if item.component_id in placed:
            error(("layout", "items", index, "component_id"), "component placed twice")
        placed.add(item.component_id)
        overlap = _first_overlap(item, cells, index)
        if overlap is not None:
            error(("layout", "items", index), f"overlaps layout item {overlap}")
    return errors


def _first_overlap(item: LayoutItem, cells: dict[tuple[int, int], int], index: int) -> int | None:
    """Mark the item's cells; return the index of an earlier item already on one of them."""
    for row in range(item.y, item.y + item.h):
        for column in range(item.x, item.x + item.w):
            other = cells.get((row, column))
            if other is not None:
                return other
    for row in range(item.y, item.y + item.h):
        for column in range(item.x, item.x + item.w):
            cells[(row, column)] = index
    return None


def document_json_schema() -> dict[str, Any]:
    """The published JSON Schema of a dashboard document (layout, components, filters)."""
    return Document.model_json_schema()
