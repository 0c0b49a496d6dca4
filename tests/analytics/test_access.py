"""Every report is the caller's tenant's alone, needs analytics:read, and refuses a bad window
with a 422 naming the parameter."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from lookout_testing.tokens import Actor

from .conftest import AnalyticsService, Stored, reader
from .usage import END, START, WINDOW


async def report_paths(analytics: AnalyticsService, stored: Stored) -> list[str]:
    """Every report the service's OpenAPI document lists (a user's id in a user's path)."""
    document = (await analytics.http.get("/openapi.json")).json()
    paths = [
        path.replace("{user_id}", str(stored.mine.ids.users[0]))
        for path, operations in document["paths"].items()
        if path.startswith("/reports/")
    ]
    assert len(paths) >= 13, paths
    return paths


def empty(value: Any) -> bool:
    """Nothing counted: every number 0 and every row list empty (bucket starts aside)."""
    if isinstance(value, dict):
        if "rows" in value:
            return value["rows"] == []
        return all(empty(item) for key, item in value.items() if key not in ("bucket", "tz"))
    if isinstance(value, list):
        return all(empty(item) for item in value)
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return True
    return bool(value == 0)


async def test_no_report_shows_another_tenants_rows(
    analytics: AnalyticsService, stored: Stored
) -> None:
    # Two tenants have rows with the same dashboards, users, sources and texts; a third has none.
    stranger = reader()
    for path in await report_paths(analytics, stored):
        response = await analytics.get(stranger, path, **WINDOW)
        assert response.status_code == 200, (path, response.text)
        assert empty(response.json()), (path, response.json())
        # The tenant with rows sees them (so the empty answer above is the filter's doing).
        assert not empty((await analytics.get(stored.actor, path, **WINDOW)).json()), path


async def test_reports_need_a_token_and_analytics_read(
    analytics: AnalyticsService, stored: Stored
) -> None:
    others = [
        {"resource": "dashboard", "action": "read"},
        {"resource": "analytics", "action": "execute"},
    ]
    no_read = Actor(tenant_id=stored.mine.tenant_id, permissions=others)
    admin = Actor(
        tenant_id=stored.mine.tenant_id, permissions=[{"resource": "analytics", "action": "admin"}]
    )
    for path in await report_paths(analytics, stored):
        anonymous = await analytics.http.get(path, params=WINDOW)
        assert anonymous.status_code == 401, path
        refused = await analytics.get(no_read, path, **WINDOW)
        assert refused.status_code == 403, (path, refused.text)
        assert refused.json()["error"]["code"] == "forbidden"
        assert (await analytics.get(admin, path, **WINDOW)).status_code == 200, path


BAD_WINDOWS = [
    ({"to": END.isoformat()}, "from"),
    ({"from": START.isoformat()}, "to"),
    ({**WINDOW, "from": "yesterday"}, "from"),
    ({**WINDOW, "to": START.isoformat()}, "to"),
    ({**WINDOW, "from": "2024-01-01T00:00:00Z"}, "to"),  # more than 400 days
    ({**WINDOW, "from": "1960-01-01T00:00:00Z"}, "from"),
    ({**WINDOW, "granularity": "month"}, "granularity"),
    ({**WINDOW, "granularity": "minute", "from": "2026-01-01T00:00:00Z"}, "granularity"),
    ({**WINDOW, "tz": "Mars/Olympus_Mons"}, "tz"),
    ({**WINDOW, "tz": "../../etc/passwd"}, "tz"),
    ({**WINDOW, "tz": "Europe/Paris'; DROP TABLE user_activity --"}, "tz"),
]


@pytest.mark.parametrize(("params", "field"), BAD_WINDOWS)
async def test_a_bad_window_is_a_422_naming_the_parameter(
    analytics: AnalyticsService, stored: Stored, params: dict[str, str], field: str
) -> None:
    response = await analytics.get(stored.actor, "/reports/dashboards/views", **params)
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "invalid"
    assert ["query", field] in [detail["loc"] for detail in error["details"]], error


async def test_times_without_an_offset_are_read_in_the_time_zone(
    analytics: AnalyticsService, stored: Stored
) -> None:
    naive = {**WINDOW, "from": "2026-03-27T00:00:00", "to": "2026-03-31T00:00:00"}
    response = await analytics.get(stored.actor, "/reports/users/active", **naive)
    expected = await analytics.get(stored.actor, "/reports/users/active", **WINDOW)
    assert response.json() == expected.json()
    assert response.json()["daily"][0]["bucket"] == "2026-03-27T00:00:00+01:00"


async def test_another_tenants_user_has_no_timeline(
    analytics: AnalyticsService, stored: Stored
) -> None:
    # The same user id has activity in the other tenant: none of it shows.
    user = stored.other.ids.users[1]
    assert any(e.actor_id == user for e in stored.other.in_range())
    mine = {str(e.id) for e in stored.mine.events}
    response = await analytics.get(reader(), f"/reports/users/{user}/timeline", **WINDOW)
    assert response.json() == {"rows": []}
    response = await analytics.get(
        stored.actor, f"/reports/users/{uuid.uuid4()}/timeline", **WINDOW
    )
    assert response.json() == {"rows": []} and mine
