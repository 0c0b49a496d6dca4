"""The one place that builds the tenant filter: every report reads the tables only through a
``Scope``, which names each table as a subquery of the caller's tenant (and the report's time
range), so a report cannot forget the tenant.

A report's SQL never names a table: it writes ``{dashboard_events}`` (the tenant's rows in the
range) or ``{dashboard_events_ever}`` (the tenant's rows up to the range's end), likewise for
``query_metrics`` and ``user_activity``. ``read`` expands them and refuses SQL that names a table
itself. The tenant and the range are bound parameters (``lookout_kit.clickhouse.bind``).

The hourly rollups of ``query_metrics`` (ingestion's migration 0006) are read the same way,
``{query_metrics_hourly}`` and ``{query_metrics_users_hourly}``: the tenant's rows of the hours in
the range, which are exactly the range's executions when the range starts and ends on whole UTC
hours (``Scope.whole_hours``); a rollup marker in any other scope is refused (``UnscopedQuery``).

A report may narrow a table's subquery further (``narrow``: a condition ANDed inside it, e.g. one
user): ClickHouse 18.16 does not push an outer ``WHERE`` into a subquery, so a condition on the
sort key (``user_id`` after ``tenant_id`` in ``user_activity``) prunes only from inside. Narrowing
only adds a condition to the tenant's; it cannot widen it. ``prewhere`` is the same as a
``PREWHERE`` of the subquery: ClickHouse reads its columns first and the others only for the
blocks where it holds (the slowest executions' threshold: the query text is read for few rows).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

import aiohttp
from lookout_kit.clickhouse import ClickHouse
from lookout_kit.errors import Unavailable

TABLES = ("dashboard_events", "query_metrics", "user_activity")
ROLLUPS = ("query_metrics_hourly", "query_metrics_users_hourly")
"""Tables of rows per tenant and UTC hour (``hour``: the hour's start)."""
_MARKER = re.compile(r"\{(" + "|".join(ROLLUPS + TABLES) + r")(_ever)?\}")
_BARE_TABLE = re.compile(r"\b(" + "|".join(ROLLUPS + TABLES) + r")\b")

# The stored ``date`` is toDate(timestamp) in the server's time zone, whatever it is: a day's
# margin each side keeps partition pruning without depending on that zone.
_IN_RANGE = (
    "tenant_id = {scope_tenant:UUID}"
    " AND timestamp >= {scope_start:DateTime} AND timestamp < {scope_end:DateTime}"
    " AND date >= toDate({scope_start:DateTime}) - 1 AND date <= toDate({scope_end:DateTime}) + 1"
)
_HOURS_IN_RANGE = (
    "tenant_id = {scope_tenant:UUID}"
    " AND hour >= {scope_start:DateTime} AND hour < {scope_end:DateTime}"
)
_UP_TO_END = (
    "tenant_id = {scope_tenant:UUID}"
    " AND timestamp < {scope_end:DateTime} AND date <= toDate({scope_end:DateTime}) + 1"
)


class UnscopedQuery(ValueError):
    """A report's SQL names a table directly instead of through the scope (a bug, never input)."""


@dataclass(frozen=True)
class Scope:
    """One tenant's rows in ``[start, end)`` (aware datetimes)."""

    tenant_id: UUID
    start: datetime
    end: datetime

    @property
    def whole_hours(self) -> bool:
        """Whether the range starts and ends on whole UTC hours: the rollups hold it exactly."""
        return all(int(moment.timestamp()) % 3600 == 0 for moment in (self.start, self.end))

    def expand(
        self,
        query: str,
        narrow: Mapping[str, str] | None = None,
        prewhere: Mapping[str, str] | None = None,
    ) -> tuple[str, dict[str, Any]]:
        """``query`` with each table marker replaced by the tenant's subquery (with ``narrow``'s
        condition for that table ANDed in), and the scope's parameters it then needs."""
        narrow, prewhere = narrow or {}, prewhere or {}
        conditions = (*narrow.values(), *prewhere.values())
        if any(_BARE_TABLE.search(text) for text in (_MARKER.sub("", query), *conditions)):
            raise UnscopedQuery("a report names a table outside its scope: use {table}")
        used_start = False

        def subquery(found: re.Match[str]) -> str:
            nonlocal used_start
            table, ever = found.group(1), found.group(2)
            used_start = used_start or not ever
            where = _UP_TO_END if ever else _IN_RANGE
            if table in ROLLUPS:
                if ever or not self.whole_hours:
                    raise UnscopedQuery(f"{table} holds whole hours of a range only")
                where = _HOURS_IN_RANGE
            if table in narrow:
                where += f" AND ({narrow[table]})"
            if table in prewhere:
                return f"(SELECT * FROM {table} PREWHERE {prewhere[table]} WHERE {where})"
            return f"(SELECT * FROM {table} WHERE {where})"

        expanded = _MARKER.sub(subquery, query)
        if expanded == query:
            raise UnscopedQuery("a report reads no table")
        parameters: dict[str, Any] = {"scope_tenant": self.tenant_id, "scope_end": self.end}
        if used_start:
            parameters["scope_start"] = self.start
        return expanded, parameters


async def read(
    clickhouse: ClickHouse,
    scope: Scope,
    query: str,
    parameters: Mapping[str, Any] | None = None,
    *,
    max_rows: int = 10_000,
    narrow: Mapping[str, str] | None = None,
    prewhere: Mapping[str, str] | None = None,
) -> list[dict[str, Any]]:
    """Run a report's ``query`` within ``scope`` (its tables as ``{table}`` markers, ``narrow``ed
    and ``prewhere``d as ``Scope.expand`` says), with its own ``parameters`` bound; the rows as
    dicts."""
    expanded, scoped = scope.expand(query, narrow, prewhere)
    clash = scoped.keys() & (parameters or {}).keys()
    if clash:
        raise ValueError(f"parameters named like the scope's: {sorted(clash)}")
    try:
        return await clickhouse.read(
            expanded, {**scoped, **(parameters or {})}, max_result_rows=max_rows
        )
    except (aiohttp.ClientError, OSError, TimeoutError) as error:
        raise Unavailable("ClickHouse is unreachable", code="clickhouse_unavailable") from error
