"""Every report's SQL on current ClickHouse too (chdb: 26.x embedded), with the same answers as
the local 18.16 gives for the same rows: the reports run on the version production runs."""

from __future__ import annotations

import json
import uuid
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any

from chdb import session as chdb_session  # chdb-core: a dev dependency, always installed
from lookout_analytics.schemas import ReportWindow
from lookout_analytics.service import dashboards, queries, users
from lookout_ingestion.mapping import COLUMNS, ORIGIN_COLUMNS, TABLES
from lookout_ingestion.migrate import already_applied, migration_files, statements
from lookout_kit.auth.caller import Caller, Permission
from lookout_kit.clickhouse import bind, quote, refuse_own_settings
from pydantic import BaseModel

from .conftest import AnalyticsService, Stored
from .usage import END, START, TZ


class ChdbReads:
    """The kit client's ``read`` contract (checked clauses, bound parameters, JSON rows) on chdb."""

    def __init__(self, db: Any) -> None:
        self.db = db

    async def read(
        self, query: str, parameters: Mapping[str, Any] | None = None, **_limits: Any
    ) -> list[dict[str, Any]]:
        refuse_own_settings(query)
        found = self.db.query(bind(query, parameters or {}), "JSONEachRow").bytes()
        return [json.loads(line) for line in found.splitlines() if line]


async def copy_rows(analytics: AnalyticsService, db: Any, tenants: list[uuid.UUID]) -> None:
    """The tenants' rows from the 18.16 database into chdb (times as Unix seconds)."""
    among = ", ".join(f"toUUID({quote(str(tenant))})" for tenant in tenants)
    for table in TABLES:
        columns = [c for c in COLUMNS[table] if c not in ORIGIN_COLUMNS]
        selected = ", ".join(
            "toUnixTimestamp(timestamp) AS timestamp" if c == "timestamp" else c for c in columns
        )
        rows = await analytics.clickhouse.rows(
            f"SELECT {selected} FROM {table} WHERE tenant_id IN ({among})"
        )
        lines = "\n".join(json.dumps(row) for row in rows)
        db.query(f"INSERT INTO {table} ({', '.join(columns)}) FORMAT JSONEachRow\n{lines}")


def normal(value: Any) -> Any:
    """Integers as text (JSONEachRow quotes 64-bit integers on one version and not the other)."""
    if isinstance(value, BaseModel):
        return normal(value.model_dump(mode="json"))
    if isinstance(value, dict):
        return {key: normal(item) for key, item in value.items()}
    if isinstance(value, list):
        return [normal(item) for item in value]
    return str(value)


def reports(
    caller: Caller, window: ReportWindow, user: uuid.UUID, dashboard: uuid.UUID
) -> dict[str, Callable[[Any], Awaitable[Any]]]:
    """Every report, as a function of the client it reads with."""
    return {
        "views": lambda c: dashboards.views(c, caller, window, None),
        "views of one": lambda c: dashboards.views(c, caller, window, dashboard),
        "top": lambda c: dashboards.top(c, caller, window, "viewers", 10),
        "event mix": lambda c: dashboards.event_mix(c, caller, window),
        "unopened": lambda c: dashboards.unopened(c, caller, window, 100),
        "by source": lambda c: queries.by_data_source(c, caller, window, 100),
        "by query": lambda c: queries.by_query(c, caller, window, 100),
        "latency": lambda c: queries.latency(c, caller, window),
        "slowest": lambda c: queries.slowest(c, caller, window, 10),
        "cost": lambda c: queries.cost_by_user(c, caller, window, 100),
        "active": lambda c: users.active(c, caller, window),
        "sessions": lambda c: users.sessions(c, caller, window),
        "resources": lambda c: users.by_resource_type(c, caller, window),
        "timeline": lambda c: users.timeline(c, caller, window, user, 1000),
    }


async def test_reports_answer_alike_on_current_clickhouse(
    analytics: AnalyticsService, stored: Stored, tmp_path: Path
) -> None:
    db = chdb_session.Session(str(tmp_path / "chdb"))
    try:
        db.query("CREATE DATABASE IF NOT EXISTS lookout")
        db.query("USE lookout")
        for _version, sql in migration_files():
            for statement in statements(sql):
                try:
                    db.query(statement)
                except Exception as error:  # chdb raises its own error type
                    if not already_applied(statement, error):
                        raise
        await copy_rows(analytics, db, [stored.mine.tenant_id, stored.other.tenant_id])
        current = ChdbReads(db)
        caller = Caller(
            tenant_id=stored.mine.tenant_id,
            user_id=uuid.uuid4(),
            role_id=uuid.uuid4(),
            session_id="s",
            permissions=(Permission("analytics", "read"),),
        )
        user, dashboard = stored.mine.ids.users[1], stored.mine.ids.dashboards[0]
        for granularity in ("minute", "hour", "day", "week"):
            window = ReportWindow(START, END, granularity, TZ)  # type: ignore[arg-type]
            for name, report in reports(caller, window, user, dashboard).items():
                old = normal(await report(analytics.clickhouse))
                assert normal(await report(current)) == old, (granularity, name)
    finally:
        db.close()
