"""Running an alert's saved query through the datasource service, as this service for the alert's
tenant (``POST /executions/batch`` with the kit's ``ServiceClient``: a service token naming the
tenant, no user — the datasource's ``tenant_services``). Any failure is an outcome with a message
(never a secret), not an exception: the evaluation decides what it means.

When an alert is made (or its values change), ``check_saved_query`` asks the same batch as the
caller (its access token in ``user_access_token``): so an alert is only ever made on a saved query
its creator may view, with values that suit it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from uuid import UUID

from lookout_kit.errors import Invalid, Unavailable
from lookout_kit.service_client import ServiceClient, ServiceCredentialsRefused, ServiceUnavailable

from lookout_alert.service.conditions import Result

BATCH_PATH = "/executions/batch"
MAX_ERROR = 1_000
CHECK_TIMEOUT_S = 5.0
"""How long the check of a new alert's query may run (a slower query passes: it exists)."""


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


def _refused(field: str, message: str, code: str) -> Invalid:
    return Invalid(
        message, code=code, details=[{"loc": ["body", field], "msg": message, "type": code}]
    )


async def check_saved_query(
    client: ServiceClient | None,
    tenant_id: UUID,
    query_id: UUID,
    values: dict[str, Any],
    access_token: str,
) -> None:
    """The caller may view the saved query and ``values`` suit its parameters: asked of the
    datasource service as the caller (the batch with its own access token), one row at most. A
    query that fails or times out passes (that is for the evaluations to record); one the caller
    cannot see is 422 naming ``query_id``, bad values 422 naming ``parameter_values``."""
    if client is None:
        raise Unavailable(
            "this alert service has no credentials to call the datasource service",
            code="service_calls_unconfigured",
        )
    item = {
        "saved_query_id": str(query_id),
        "values": values,
        "row_limit": 1,
        "timeout_s": CHECK_TIMEOUT_S,
    }
    try:
        response = await client.request(
            "POST",
            BATCH_PATH,
            tenant_id=tenant_id,
            json={"items": [item], "user_access_token": access_token},
        )
    except (ServiceUnavailable, ServiceCredentialsRefused):
        raise Unavailable(
            "the datasource service could not be asked", code="datasource_unavailable"
        ) from None
    if response.status_code != 200:
        raise Unavailable(
            f"the datasource service answered {response.status_code}",
            code="datasource_unavailable",
        )
    try:
        [outcome] = response.json()["items"]
        error = outcome.get("error") or {}
        code = error.get("code")
    except (ValueError, KeyError, TypeError, AttributeError):
        raise Unavailable("the datasource service's answer was not understood") from None
    if code in ("not_found", "forbidden"):
        raise _refused(
            "query_id", "query_id is not a saved query you can view", "unknown_saved_query"
        )
    if code == "invalid_parameters":
        raise _refused(
            "parameter_values",
            f"parameter_values do not suit the saved query: {error.get('message', '')}"[:500],
            "invalid_parameter_values",
        )
