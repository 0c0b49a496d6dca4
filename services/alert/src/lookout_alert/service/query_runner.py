"""Running an alert's saved query through the datasource service, as this service for the alert's
tenant (``POST /executions/batch`` with the kit's ``ServiceClient``: a service token naming the
tenant, no user — the datasource's ``tenant_services``). Any failure is an outcome with a message
(never a secret), not an exception: the evaluation decides what it means.

When an alert is made (or its values change), ``check_saved_query`` asks the same batch as the
caller (its access token in ``user_access_token``): so an alert is only ever made on a saved query
its creator may view, with values that suit it."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from uuid import UUID

from lookout_kit.errors import Invalid, Unavailable
from lookout_kit.service_client import ServiceClient, ServiceCredentialsRefused, ServiceUnavailable

from lookout_alert.service.conditions import Result

if TYPE_CHECKING:
    import httpx

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


MAX_BATCH = 50
"""The datasource batch endpoint's limit."""

Run = tuple[UUID, dict[str, Any]]
"""A saved query and the values it runs with."""


def _outcome(item: Any) -> QueryOutcome:
    try:
        if not item["ok"]:
            error = item["error"]
            return _failed(f"{error['code']}: {error['message']}", error.get("execution_id"))
        result = item["result"]
        return QueryOutcome(
            result=Result(
                columns=[column["name"] for column in result["columns"]], rows=result["rows"]
            ),
            execution_id=UUID(result["execution_id"]),
            error=None,
        )
    except (ValueError, KeyError, TypeError):
        return _failed("the datasource service's answer was not understood")


async def _batch(
    client: ServiceClient, tenant_id: UUID, runs: list[Run], row_limit: int
) -> list[QueryOutcome]:
    items = [
        {"saved_query_id": str(query_id), "values": values, "row_limit": row_limit}
        for query_id, values in runs
    ]
    try:
        response = await client.request(
            "POST", BATCH_PATH, tenant_id=tenant_id, json={"items": items}
        )
    except ServiceUnavailable:
        return [_failed("the datasource service is unavailable")] * len(runs)
    except ServiceCredentialsRefused:
        return [_failed("identity refused this service's credentials")] * len(runs)
    if response.status_code != 200:
        return [_failed(f"the datasource service answered {response.status_code}")] * len(runs)
    try:
        outcomes = [_outcome(item) for item in response.json()["items"]]
    except (ValueError, KeyError, TypeError):
        outcomes = []
    if len(outcomes) != len(runs):
        return [_failed("the datasource service's answer was not understood")] * len(runs)
    return outcomes


def _key(run: Run) -> str:
    return f"{run[0]}:{json.dumps(run[1], sort_keys=True, default=str)}"


async def run_saved_queries(
    client: ServiceClient | None, tenant_id: UUID, runs: list[Run | None], row_limit: int
) -> list[QueryOutcome]:
    """Each run's outcome, in order (``None``: an alert without a saved query). One tenant's runs
    go in batches of up to ``MAX_BATCH``; the same query with the same values runs once (its
    result read by every alert that asked for it, in the same round)."""
    if client is None:
        return [_failed("service calls are not configured (no service secret)")] * len(runs)
    distinct: dict[str, Run] = {}
    for run in runs:
        if run is not None:
            distinct.setdefault(_key(run), run)
    keys = list(distinct)
    chunks = [keys[index : index + MAX_BATCH] for index in range(0, len(keys), MAX_BATCH)]
    answers = await asyncio.gather(
        *(
            _batch(client, tenant_id, [distinct[key] for key in chunk], row_limit)
            for chunk in chunks
        )
    )
    by_key = {key: outcome for chunk, outcomes in zip(chunks, answers, strict=True)
              for key, outcome in zip(chunk, outcomes, strict=True)}  # fmt: skip
    return [
        _failed("the alert has no saved query") if run is None else by_key[_key(run)]
        for run in runs
    ]


async def run_saved_query(
    client: ServiceClient | None,
    tenant_id: UUID,
    query_id: UUID | None,
    values: dict[str, Any],
    row_limit: int,
) -> QueryOutcome:
    """One alert's run (evaluate now)."""
    run = None if query_id is None else (query_id, values)
    [outcome] = await run_saved_queries(client, tenant_id, [run], row_limit)
    return outcome


def _message_of(response: httpx.Response) -> str:
    try:
        return str(response.json()["error"]["message"])
    except (ValueError, KeyError, TypeError):
        return "refused"


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
    if response.status_code == 422:
        # The batch itself refused: of what it holds, only the values come from the caller.
        raise _refused(
            "parameter_values",
            f"parameter_values do not suit the saved query: {_message_of(response)}"[:500],
            "invalid_parameter_values",
        )
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
