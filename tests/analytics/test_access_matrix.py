"""Who may read which reports: every route of the analytics service by every kind of caller,
through the real HTTP API over the stored usage of one tenant (``conftest.stored``); the format is
``lookout_testing.access``'s.

``admin``, ``editor`` and ``viewer`` hold identity's built-in roles' analytics permissions
(``admin``; ``read`` and ``execute``; the same); ``execute only`` holds ``analytics:execute``
without ``read``; ``same tenant`` holds other permissions only; ``other tenant`` is an analytics
admin of a tenant whose rows share every id with this one's. A 200 is told apart by what it holds:
``ROWS`` (something of the tenant's counted) or ``NOTHING`` (every count 0, no rows)."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest
from lookout_analytics.app import create_app
from lookout_testing.access import (
    NO_TOKEN,
    Cell,
    Matrix,
    Outcome,
    Row,
    check_public_routes,
    check_row,
    routes_of,
)
from lookout_testing.tokens import Actor

from .conftest import AnalyticsService, Stored
from .test_access import empty
from .usage import WINDOW

ACTORS = ("admin", "editor", "viewer", "execute only", "same tenant", "other tenant", NO_TOKEN)
ROWS = "200, the tenant's rows"
NOTHING = "200, nothing counted"
PERMISSIONS: dict[str, list[dict[str, Any]]] = {
    "admin": [{"resource": "analytics", "action": "admin"}],
    "editor": [
        {"resource": "analytics", "action": "read"},
        {"resource": "analytics", "action": "execute"},
        {"resource": "dashboard", "action": "create"},
    ],
    "viewer": [
        {"resource": "analytics", "action": "read"},
        {"resource": "analytics", "action": "execute"},
        {"resource": "dashboard", "action": "read"},
    ],
    "execute only": [{"resource": "analytics", "action": "execute"}],
    "same tenant": [
        {"resource": "dashboard", "action": "admin"},
        {"resource": "tenant", "action": "read"},
    ],
    "other tenant": [{"resource": "analytics", "action": "admin"}],
}


def what_it_holds(response: httpx.Response) -> Outcome:
    if response.status_code != 200:
        return response.status_code
    return NOTHING if empty(response.json()) else ROWS


def window(cell: Cell) -> dict[str, Any]:
    return {"params": WINDOW}


READS = (ROWS, ROWS, ROWS, 403, 403, NOTHING, 401)
PUBLIC = (200, 200, 200, 200, 200, 200, 200)
"""The console's static files: anyone gets them, without a token (they hold no data; the reports
the page calls are the rows above)."""


def report(path: str) -> Row:
    return Row("GET", path, READS, request=window, outcome=what_it_holds)


MATRIX = Matrix(
    "analytics",
    ACTORS,
    #                admin editor viewer execute same other none
    report("/reports/dashboards/views"),
    report("/reports/dashboards/top"),
    report("/reports/dashboards/event-mix"),
    report("/reports/dashboards/unopened"),
    report("/reports/queries/by-data-source"),
    report("/reports/queries/by-query"),
    report("/reports/queries/latency"),
    report("/reports/queries/slowest"),
    report("/reports/queries/cost-by-user"),
    report("/reports/users/active"),
    report("/reports/users/sessions"),
    report("/reports/users/by-resource-type"),
    report("/reports/users/{user_id}/timeline"),
    Row("GET", "/console/", PUBLIC),
    Row("GET", "/console/{asset}", PUBLIC),
)


@pytest.fixture(scope="module")
def arrange(analytics: AnalyticsService, stored: Stored) -> Any:
    user = str(stored.mine.ids.users[0])  # active in both tenants

    async def cell(actor: str, fresh: bool) -> Cell:
        params = {"user_id": user, "asset": "console.js"}
        if actor == NO_TOKEN:
            return Cell({}, params=params)
        tenant = uuid.uuid4() if actor == "other tenant" else stored.mine.tenant_id
        caller = Actor(tenant_id=tenant, permissions=PERMISSIONS[actor])
        return Cell(analytics.headers(caller), params=params)

    return cell


@pytest.mark.parametrize("row", MATRIX.rows, ids=MATRIX.ids)
async def test_access(analytics: AnalyticsService, arrange: Any, row: Row) -> None:
    await check_row(analytics.http, MATRIX, row, arrange)


async def test_health_metrics_and_docs_answer_without_a_token(
    analytics: AnalyticsService,
) -> None:
    await check_public_routes(analytics.http, routes_of(create_app()))
