"""A dashboard's data in one call: each query component's saved query run with the dashboard's
filter values, as one batch through the datasource service.

The caller must be able to view the dashboard. Filter values come from the request (the query
string: ``<filter id>=value``, a ``multi_select`` repeated, a ``date_range`` as ``<id>.from`` and
``<id>.to``), else the filter's default. A component's ``parameter_bindings`` say which of its
query's parameters takes which filter's value; a parameter no binding names takes the query's own
default. The batch runs as the caller (the datasource service checks their rights on each saved
query); one result or one error per component, in the dashboard's order.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from datetime import date
from typing import Any
from uuid import UUID

import asyncpg
from lookout_kit.auth.caller import Caller
from lookout_kit.errors import Invalid, Unavailable
from lookout_kit.service_client import (
    ServiceClient,
    ServiceCredentialsRefused,
    ServiceUnavailable,
)

from lookout_dashboard.schemas.data import ComponentData, DashboardData
from lookout_dashboard.service import access

BATCH_PATH = "/executions/batch"
MAX_BATCH = 50
"""The datasource batch endpoint's limit: a dashboard with more query components is refused."""


def _problem(name: str, message: str) -> dict[str, Any]:
    return {"loc": ["query", name], "msg": message, "type": "invalid_filter_value"}


# The messages name what was expected, never the value given (it may be anything).
def _number(text: str) -> int | float:
    try:
        value = float(text)
    except ValueError:
        raise ValueError("not a number") from None
    if not math.isfinite(value):
        raise ValueError("not a finite number")
    return int(value) if value.is_integer() and "." not in text and "e" not in text else value


def _date(text: str) -> str:
    try:
        date.fromisoformat(text)
    except ValueError:
        raise ValueError("not an ISO date (YYYY-MM-DD)") from None
    if len(text) != 10:
        raise ValueError("not an ISO date (YYYY-MM-DD)")
    return text


def filter_values(
    filters: Sequence[Mapping[str, Any]], query: Mapping[str, Sequence[str]]
) -> dict[str, Any]:
    """Each filter's value (``<id>.from``/``.to`` keys for a range), or ``Invalid`` naming every
    bad or unknown query parameter (never echoing a value)."""
    problems: list[dict[str, Any]] = []
    values: dict[str, Any] = {}
    known: set[str] = set()
    for filter_ in filters:
        filter_id, kind, default = filter_["id"], filter_["type"], filter_.get("default")
        options = filter_.get("options") or ()
        if kind == "date_range":
            for bound in ("from", "to"):
                name = f"{filter_id}.{bound}"
                known.add(name)
                given = query.get(name)
                try:
                    if given:
                        values[name] = _date(given[-1])
                    else:
                        values[name] = default[bound] if default else None
                except ValueError as error:
                    problems.append(_problem(name, f"date_range bound: {error}"))
            continue
        known.add(filter_id)
        given = query.get(filter_id)
        if not given:
            values[filter_id] = default
            continue
        try:
            if kind == "multi_select":
                chosen = list(given)
                if options and not set(chosen) <= set(options):
                    raise ValueError("not among the filter's options")
                values[filter_id] = chosen
            elif len(given) > 1:
                raise ValueError("one value only")
            elif kind == "number":
                values[filter_id] = _number(given[0])
            elif kind == "date":
                values[filter_id] = _date(given[0])
            elif kind == "select" and options and given[0] not in options:
                raise ValueError("not one of the filter's options")
            else:
                values[filter_id] = given[0]
        except ValueError as error:
            problems.append(_problem(filter_id, f"{kind}: {error}"))
    problems.extend(_problem(name, "no such filter") for name in query if name not in known)
    if problems:
        where = "; ".join(f"{p['loc'][-1]}: {p['msg']}" for p in problems[:5])
        raise Invalid(f"invalid filter values: {where}", code="invalid_filters", details=problems)
    return values


def batch_items(
    components: Sequence[Mapping[str, Any]], values: Mapping[str, Any]
) -> list[tuple[Mapping[str, Any], dict[str, Any]]]:
    """(component, batch item) for each component with a saved query, in the dashboard's order."""
    items = []
    for component in components:
        saved_query_id = component.get("saved_query_id")
        if saved_query_id is None:
            continue
        bound = {
            parameter: values[reference]
            for parameter, reference in (component.get("parameter_bindings") or {}).items()
            if values.get(reference) is not None  # no value: the query's own default
        }
        items.append((component, {"saved_query_id": str(saved_query_id), "values": bound}))
    return items


async def dashboard_data(
    pool: asyncpg.Pool,
    datasource: ServiceClient | None,
    caller: Caller,
    access_token: str,
    dashboard_id: UUID,
    query: Mapping[str, Sequence[str]],
) -> DashboardData:
    async with pool.acquire() as conn:
        row, _level = await access.load(conn, caller, dashboard_id, "view")
    values = filter_values(row.filters or [], query)
    planned = batch_items(row.components, values)
    if len(planned) > MAX_BATCH:
        raise Invalid(f"a dashboard's data is fetched for at most {MAX_BATCH} query components")
    if not planned:
        return DashboardData(dashboard_id=row.id, version=row.version, components=[])
    if datasource is None:
        raise Unavailable(
            "this dashboard service has no credentials to call the datasource service",
            code="service_calls_unconfigured",
        )
    try:
        response = await datasource.request(
            "POST",
            BATCH_PATH,
            tenant_id=caller.tenant_id,
            json={"items": [item for _, item in planned], "user_access_token": access_token},
        )
    except (ServiceUnavailable, ServiceCredentialsRefused) as error:
        raise Unavailable(
            f"the datasource service could not be asked: {type(error).__name__}",
            code="datasource_unavailable",
        ) from None
    if response.status_code != 200:
        raise Unavailable(
            f"the datasource service answered {response.status_code}",
            code="datasource_unavailable",
        )
    outcomes = response.json().get("items", [])
    if len(outcomes) != len(planned):
        raise Unavailable("the datasource service answered another number of results")
    return DashboardData(
        dashboard_id=row.id,
        version=row.version,
        components=[
            ComponentData.of(component["id"], UUID(item["saved_query_id"]), outcome)
            for (component, item), outcome in zip(planned, outcomes, strict=True)
        ],
    )
