"""``GET /dashboards/{id}/data`` inside the dashboard service: filter values checked before anything
runs, the caller's view rights, and a clear 503 when the datasource service cannot be asked. (The
queries themselves run end to end in tests/stack/test_dashboard_data.py.)"""

from __future__ import annotations

import uuid
from typing import Any

from lookout_dashboard.service.data import batch_items, filter_values

from .conftest import DashboardService
from .support import MEMBER, Actor, a_dashboard

QUERY_ID = str(uuid.uuid4())
FILTERS: list[dict[str, Any]] = [
    {"id": "region", "type": "select", "label": "Region", "parameter": "region",
     "default": "eu", "options": ["eu", "us"]},
    {"id": "teams", "type": "multi_select", "label": "Teams", "parameter": "teams",
     "options": ["a", "b", "c"]},
    {"id": "minimum", "type": "number", "label": "Minimum", "parameter": "minimum"},
    {"id": "day", "type": "date", "label": "Day", "parameter": "day"},
    {"id": "period", "type": "date_range", "label": "Period", "parameter": "period",
     "default": {"from": "2026-01-01", "to": "2026-01-31"}},
]  # fmt: skip


def with_query(**bindings: str) -> dict[str, Any]:
    return a_dashboard(
        components=[
            {"id": "chart", "type": "chart", "saved_query_id": QUERY_ID,
             "parameter_bindings": bindings},
            {"id": "note", "type": "text", "markdown": "no query"},
        ],
        layout={"items": [{"component_id": "chart", "x": 0, "y": 0, "w": 12, "h": 4}]},
        filters=FILTERS,
    )  # fmt: skip


def test_filter_values_take_the_query_string_else_the_defaults() -> None:
    query = {
        "teams": ["a", "c"],
        "minimum": ["2.5"],
        "day": ["2026-03-04"],
        "period.to": ["2026-02-01"],
    }
    assert filter_values(FILTERS, query) == {
        "region": "eu",
        "teams": ["a", "c"],
        "minimum": 2.5,
        "day": "2026-03-04",
        "period.from": "2026-01-01",
        "period.to": "2026-02-01",
    }


def test_each_binding_takes_its_filters_value_and_an_unset_one_is_left_to_the_query() -> None:
    values = filter_values(FILTERS, {"minimum": ["3"]})
    components = with_query(since="period.from", minimum="minimum", day="day")["components"]
    [(component, item)] = batch_items(components, values)
    assert component["id"] == "chart"
    assert item == {
        "saved_query_id": QUERY_ID,
        "values": {"since": "2026-01-01", "minimum": 3},  # no day chosen, none by default
    }


async def test_bad_or_unknown_filter_values_are_422_naming_each(
    dashboards: DashboardService, tenant: uuid.UUID
) -> None:
    owner = dashboards.client(Actor(tenant, permissions=MEMBER))
    dashboard = await owner.create(**with_query(region="region"))
    response = await owner.request(
        "GET",
        f"/dashboards/{dashboard['id']}/data",
        params=[("region", "asia"), ("minimum", "lots"), ("day", "2026-13-01"),
                ("period.from", "x"), ("teams", "z"), ("nope", "1")],
    )  # fmt: skip
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "invalid_filters"
    named = sorted(problem["loc"][-1] for problem in error["details"])
    assert named == ["day", "minimum", "nope", "period.from", "region", "teams"]
    assert "lots" not in response.text and "asia" not in response.text


async def test_a_range_binds_by_its_bounds_only(
    dashboards: DashboardService, tenant: uuid.UUID
) -> None:
    owner = dashboards.client(Actor(tenant, permissions=MEMBER))
    for bindings in ({"since": "period"}, {"region": "region.from"}):
        response = await owner.request("POST", "/dashboards", json=with_query(**bindings))
        assert response.status_code == 422, response.text
    assert (
        await owner.request("POST", "/dashboards", json=with_query(since="period.to"))
    ).is_success


async def test_another_tenants_dashboard_is_404(
    dashboards: DashboardService, tenant: uuid.UUID
) -> None:
    dashboard = await dashboards.client(Actor(tenant, permissions=MEMBER)).create(**with_query())
    stranger = dashboards.client(Actor(uuid.uuid4(), permissions=MEMBER))
    response = await stranger.request("GET", f"/dashboards/{dashboard['id']}/data")
    assert response.status_code == 404, response.text


async def test_without_service_credentials_it_is_503_and_says_so(
    dashboards: DashboardService, tenant: uuid.UUID
) -> None:
    owner = dashboards.client(Actor(tenant, permissions=MEMBER))
    dashboard = await owner.create(**with_query())
    response = await owner.request("GET", f"/dashboards/{dashboard['id']}/data")
    assert response.status_code == 503, response.text
    assert response.json()["error"]["code"] == "service_calls_unconfigured"

    plain = await owner.create()  # no component has a saved query: nothing to ask
    response = await owner.request("GET", f"/dashboards/{plain['id']}/data")
    assert response.status_code == 200, response.text
    assert response.json()["components"] == []


async def test_an_unreachable_datasource_service_is_503_not_500(
    calling_dashboards: DashboardService, tenant: uuid.UUID
) -> None:
    owner = calling_dashboards.client(Actor(tenant, permissions=MEMBER))
    dashboard = await owner.create(**with_query())
    response = await owner.request("GET", f"/dashboards/{dashboard['id']}/data")
    assert response.status_code == 503, response.text
    assert response.json()["error"]["code"] == "datasource_unavailable"
