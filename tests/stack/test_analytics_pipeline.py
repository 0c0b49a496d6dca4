"""Analytics end to end through the running stack: a tenant signs up and opens a dashboard twice;
identity's and dashboard's events go through the broker and ingestion into ClickHouse, and the
analytics service (reading as the read-only user) reports them to that tenant, and to no other."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from lookout_testing.accounts import bearer, signup
from lookout_testing.servers import Servers
from lookout_testing.waiting import wait_until

from tests.dashboard.support import a_dashboard


async def test_views_reach_the_tenants_reports_through_the_pipeline(servers: Servers) -> None:
    now = datetime.now(UTC)
    window = {
        "from": (now - timedelta(hours=1)).isoformat(),
        "to": (now + timedelta(hours=1)).isoformat(),
        "granularity": "hour",
    }
    async with httpx.AsyncClient(base_url=servers.gateway, timeout=30) as http:
        owner, stranger = bearer(await signup(http)), bearer(await signup(http))
        created = await http.post("/api/dashboard/dashboards", json=a_dashboard(), headers=owner)
        assert created.status_code == 201, created.text
        dashboard = created.json()["id"]
        for _ in range(2):
            opened = await http.get(f"/api/dashboard/dashboards/{dashboard}", headers=owner)
            assert opened.status_code == 200, opened.text

        async def report(headers: dict[str, str]) -> list[dict[str, Any]]:
            response = await http.get(
                "/api/analytics/reports/dashboards/top", params=window, headers=headers
            )
            assert response.status_code == 200, response.text
            rows: list[dict[str, Any]] = response.json()["rows"]
            return rows

        async def both_views_reported() -> bool:
            return await report(owner) == [{"dashboard_id": dashboard, "views": 2, "viewers": 1}]

        await wait_until(both_views_reported, timeout=30, message="the views in the report")
        assert await report(stranger) == []
        active = await http.get("/api/analytics/reports/users/active", params=window, headers=owner)
        assert active.json()["users"] == 1
