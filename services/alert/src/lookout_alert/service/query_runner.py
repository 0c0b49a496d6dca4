"""Running an alert's saved query through the datasource service, as this service for the alert's
tenant (``POST /executions/batch`` with the kit's ``ServiceClient``: a service token naming the
tenant, no user — the datasource's ``tenant_services``). Any failure is an outcome with a message
(never a secret), not an exception: the evaluation decides what it means."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from uuid import UUID

from lookout_kit.service_client import ServiceClient, ServiceCredentialsRefused, ServiceUnavailable

from lookout_alert.service.conditions import Result

BATCH_PATH = "/executions/batch"
MAX_ERROR = 1_000


@dataclass(frozen=True)
class QueryOutcome:
    result: Result | None
    execution_id: UUID | None
    error: str | None


def _failed(message: str, execution_id: Any = None) -> QueryOutcome:
    return QueryOutcome(
        result=None,
        execution_id=None if execution_id is None else UUID(str(execution_id)),
        error=message[:MAX_ERROR],
    )


async def run_saved_query(
    client: ServiceClient | None,
    tenant_id: UUID,
    query_id: UUID | None,
    values: dict[str, Any],
    row_limit: int,
) -> QueryOutcome:
    if query_id is None:
        return _failed("the alert has no saved query")
    if client is None:
        return _failed("service calls are not configured (no service secret)")
    item = {"saved_query_id": str(query_id), "values": values, "row_limit": row_limit}
    try:
        response = await client.request(
            "POST", BATCH_PATH, tenant_id=tenant_id, json={"items": [item]}
        )
    except ServiceUnavailable:
        return _failed("the datasource service is unavailable")
    except ServiceCredentialsRefused:
        return _failed("identity refused this service's credentials")
    if response.status_code != 200:
        return _failed(f"the datasource service answered {response.status_code}")
    try:
        [outcome] = response.json()["items"]
        if not outcome["ok"]:
            error = outcome["error"]
            return _failed(f"{error['code']}: {error['message']}", error.get("execution_id"))
        result = outcome["result"]
        return QueryOutcome(
            result=Result(
                columns=[column["name"] for column in result["columns"]], rows=result["rows"]
            ),
            execution_id=UUID(result["execution_id"]),
            error=None,
        )
    except (ValueError, KeyError, TypeError):
        return _failed("the datasource service's answer was not understood")
