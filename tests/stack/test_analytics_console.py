"""The analytics console in a real browser (Debian's chromium driven by Playwright, no download)
through the running stack's gateway: a tenant signs up, its usage is stored as ingestion stores it,
and the page logs in as that tenant's admin and draws every chart with the numbers the reports
answer for the window the page asked for, without a console error."""

from __future__ import annotations

import shutil
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from lookout_contracts import make_event
from lookout_contracts.envelope import Envelope
from lookout_contracts.events.dashboard import DashboardViewedV1
from lookout_contracts.events.datasource import QueryExecutedV1
from lookout_contracts.events.identity import UserLoggedInV1
from lookout_ingestion.encoding import encode_origin, encode_row
from lookout_ingestion.mapping import COLUMNS, TABLES, map_event
from lookout_kit.clickhouse import ClickHouse, client_session
from lookout_testing.accounts import PASSWORD, bearer, signup
from lookout_testing.servers import Servers, unavailable
from playwright.async_api import ConsoleMessage, async_playwright

CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
"""Without the background-networking flags chromium keeps calling out of this closed network."""
ORIGIN_TOPIC = "test-analytics-console.events"
"""The rows' origin: a topic ingestion never reads, so its watermarks never meet these rows."""
CHARTS = ("views-chart", "top-chart", "latency-chart", "active-chart")
READ_CHARTS = """charts => Object.fromEntries(charts.map(id => {
    const canvas = document.getElementById(id);
    const chart = Chart.getChart(canvas);
    if (!chart) return [id, null];
    const pixels = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height).data;
    let painted = 0;
    for (let i = 3; i < pixels.length; i += 4) if (pixels[i]) painted++;
    return [id, {
        labels: chart.data.labels,
        datasets: chart.data.datasets.map(set => ({label: set.label, data: set.data})),
        elements: chart.data.datasets.map((set, i) => chart.getDatasetMeta(i).data.length),
        painted,
    }];
}))"""
"""What each chart holds, how many elements it laid out per dataset and how many pixels it
painted (Chart.js's own instances, read in the page)."""


def usage(tenant_id: uuid.UUID, admin: uuid.UUID, now: datetime) -> list[Envelope[Any]]:
    """Over the last two days: dashboard A viewed 3 times by 2 users, B once; 4 query executions
    (10, 20, 30 and 400 ms); the admin and one other user active."""
    other, source = uuid.uuid4(), uuid.uuid4()
    a, b = uuid.uuid4(), uuid.uuid4()
    events: list[Envelope[Any]] = []

    def add(kind: str, subject: uuid.UUID, data: Any, ago: timedelta, actor: uuid.UUID) -> None:
        events.append(
            make_event(
                kind, tenant_id=tenant_id, subject_id=subject, data=data, time=now - ago,
                actor_id=actor, session_id=f"s-{actor}",
            )
        )  # fmt: skip

    for dashboard, ago, actor in (
        (a, timedelta(minutes=1), admin),
        (a, timedelta(hours=2), other),
        (a, timedelta(hours=30), admin),
        (b, timedelta(hours=3), other),
    ):
        add("dashboard.viewed", dashboard, DashboardViewedV1(version=1), ago, actor)
    for milliseconds, minutes_ago in ((10, 10), (20, 10), (30, 28 * 60), (400, 28 * 60)):
        execution = uuid.uuid4()
        executed = QueryExecutedV1(
            query_id=execution,
            data_source_id=source,
            saved_query_id=None,
            query_text="SELECT count() FROM orders",
            execution_time_ms=milliseconds,
            rows_returned=1,
            bytes_returned=8,
            status="success",
            error=None,
        )
        add("query.executed", execution, executed, timedelta(minutes=minutes_ago), admin)
    logged_in = UserLoggedInV1(method="password", client_address=None)
    for actor, ago in ((admin, timedelta(minutes=1)), (other, timedelta(hours=5))):
        add("user.logged_in", actor, logged_in, ago, actor)
    return events


async def store(clickhouse_url: str, events: list[Envelope[Any]]) -> None:
    """Into the stack's tables as ingestion writes them (its mapping, RowBinary, the kit's insert)."""
    bodies: dict[str, list[bytes]] = {table: [] for table in TABLES}
    for offset, event in enumerate(events):
        for table, row in map_event(event):
            bodies[table].append(encode_row(table, row, encode_origin(ORIGIN_TOPIC, 0, offset)))
    async with client_session() as session:
        clickhouse = ClickHouse(session, url=clickhouse_url, database="default")
        for table, rows in bodies.items():
            if rows:
                await clickhouse.insert_rowbinary(
                    table, COLUMNS[table], b"".join(rows), query_id=f"console-{uuid.uuid4()}"
                )


def chart(labels: list[Any], **datasets: list[Any]) -> dict[str, Any]:
    return {"labels": labels, "datasets": [{"label": k, "data": v} for k, v in datasets.items()]}


async def expected_charts(
    http: httpx.AsyncClient, headers: dict[str, str], window: dict[str, str]
) -> dict[str, dict[str, Any]]:
    """What each chart must hold: the reports the gateway answers for the page's window."""

    async def report(path: str, **extra: str) -> Any:
        response = await http.get(
            f"/api/analytics/reports/{path}", params={**window, **extra}, headers=headers
        )
        assert response.status_code == 200, response.text
        return response.json()

    views = (await report("dashboards/views"))["points"]
    top = (await report("dashboards/top", by="views", limit="10"))["rows"]
    latency = (await report("queries/latency"))["points"]
    active = await report("users/active")
    assert sum(point["views"] for point in views) == 4
    assert [(row["views"], row["viewers"]) for row in top] == [(3, 2), (1, 1)]
    assert sum(point["executions"] for point in latency) == 4
    assert active["users"] == 2
    return {
        "views-chart": chart(
            [p["bucket"] for p in views],
            views=[p["views"] for p in views],
            viewers=[p["viewers"] for p in views],
        ),
        "top-chart": chart(
            [row["dashboard_id"] for row in top],
            views=[row["views"] for row in top],
            viewers=[row["viewers"] for row in top],
        ),
        "latency-chart": chart(
            [p["bucket"] for p in latency],
            **{figure: [p[figure] for p in latency] for figure in ("p50_ms", "p95_ms", "p99_ms")},
        ),
        "active-chart": chart(
            [p["bucket"] for p in active["daily"]],
            **{"daily active users": [p["users"] for p in active["daily"]]},
        ),
    }


async def test_the_console_logs_in_and_draws_the_reports_of_its_tenant(servers: Servers) -> None:
    chromium = shutil.which("chromium") or shutil.which("chromium", path="/usr/bin")
    if chromium is None:
        unavailable("Debian's chromium (make up installs it: deploy/local/stack.py)")
    async with httpx.AsyncClient(base_url=servers.gateway, timeout=30) as http:
        signed_up = await signup(http, "console")
        tenant_id, admin = uuid.UUID(signed_up["tenant"]["id"]), uuid.UUID(signed_up["user"]["id"])
        await store(servers.clickhouse, usage(tenant_id, admin, datetime.now(UTC)))
        unknown = await http.get("/api/analytics/console/settings.py")
        assert unknown.status_code == 404, unknown.text  # only the page's own files are served
        assert unknown.json()["error"]["code"] == "not_found"

        errors: list[str] = []

        def console_error(message: ConsoleMessage) -> None:
            if message.type == "error":
                errors.append(f"console: {message.text} at {message.location}")

        async with async_playwright() as playwright:
            browser = await playwright.chromium.launch(
                executable_path=chromium, args=CHROMIUM_FLAGS
            )
            try:
                context = await browser.new_context(timezone_id="Europe/Paris")
                context.set_default_timeout(10_000)
                page = await context.new_page()
                page.on("console", console_error)
                page.on("pageerror", lambda error: errors.append(f"page error: {error}"))
                response = await page.goto(f"{servers.gateway}/api/analytics/console/")
                assert response is not None and response.status == 200
                assert "script-src 'self'" in response.headers["content-security-policy"]
                # Selectors, not wait_for_function: the page's CSP refuses the eval it needs.
                await page.wait_for_selector("body[data-state=login]")
                await page.fill("input[name=login]", signed_up["user"]["username"])
                await page.fill("input[name=password]", PASSWORD)
                await page.click("#login button[type=submit]")
                await page.wait_for_selector("body[data-state=ready], #status:not([hidden])")
                state = await page.evaluate("document.body.dataset.state")
                assert state == "ready", await page.text_content("#status")
                drawn = await page.evaluate(READ_CHARTS, list(CHARTS))
                window = await page.evaluate("({...document.getElementById('reports').dataset})")
            finally:
                await browser.close()

        assert window["tz"] == "Europe/Paris" and window["granularity"] == "day", window
        headers = bearer(signed_up)
        expected = await expected_charts(http, headers, window)
    for name in CHARTS:
        shown = drawn[name]
        assert shown is not None, f"{name} was not drawn"
        assert {"labels": shown["labels"], "datasets": shown["datasets"]} == expected[name], name
        assert shown["elements"] == [len(shown["labels"])] * len(shown["datasets"]), name
        assert shown["painted"] > 0, f"{name} painted nothing"
    assert errors == []
