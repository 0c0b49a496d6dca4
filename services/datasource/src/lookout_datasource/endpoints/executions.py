"""Executions over HTTP: run a saved query, run an ad hoc query, run a batch, see one, cancel one.

**Who may call the batch.** Either a user (``Authorization: Bearer <access token>``; the batch
runs with that user's rights), or a service acting for a user (what the dashboard service does
through the kit's ``ServiceClient``): ``Authorization: Bearer <service token>`` whose ``tenant``
claim names the tenant, from a service named in ``acting_services``, with the user's own access
token in the body's ``user_access_token``. That token is verified as any access token (signature,
expiry, revocation) and must be of the service token's tenant; the batch then runs with the
rights it carries, as that user (the events' actor). No user id or permission is taken from the
service on trust. A user's token with ``user_access_token`` is refused (403).

A service named in ``tenant_services`` (the alert service) may also send its token alone: the batch
then runs for the token's tenant with no user and view rights on that tenant's saved queries only
(an ad hoc item or another tenant's query is that item's 404); its executions have no actor.
"""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Depends, Request, Response
from fastapi.security import HTTPAuthorizationCredentials
from lookout_kit.auth.caller import Caller, ServiceCaller
from lookout_kit.auth.dependencies import authenticator_of, bearer_scheme
from lookout_kit.dependencies import CallerDep, EventsPoolDep, PoolDep
from lookout_kit.errors import Forbidden, Invalid, Unauthorized

from lookout_datasource.schemas.executions import (
    BatchResult,
    CancelOutcome,
    ExecuteAdHoc,
    ExecuteBatch,
    ExecuteSavedQuery,
    Execution,
    ExecutionResult,
)
from lookout_datasource.service import access, batch, execution_records, executions
from lookout_datasource.service.engine import EngineDep
from lookout_datasource.service.executions import Limits

router = APIRouter(tags=["executions"])
ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"description": "no valid token"},
    403: {"description": "not allowed"},
    404: {"description": "no such object in the caller's tenant"},
    422: {"description": "bad input (parameter values), or the query failed (stable code)"},
}


async def bearer_token(
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)],
) -> str:
    """The request's bearer token, whichever kind (401 without one)."""
    if credentials is None:
        raise Unauthorized("a bearer access token is required", code="missing_token")
    return credentials.credentials


def _json(result: ExecutionResult) -> Response:
    """The result as it is encoded once (FastAPI would validate and encode its rows again)."""
    return Response(content=result.to_json(), media_type="application/json")


def _limits(body: Any) -> Limits:
    return Limits(row_limit=body.row_limit, timeout_s=body.timeout_s, max_age_s=body.max_age_s)


@router.post(
    "/saved-queries/{saved_query_id}/execute",
    summary="Run a saved query with parameter values (view rights on it suffice)",
    response_model=ExecutionResult,
    responses=ERRORS,
)
async def execute_saved_query(
    saved_query_id: UUID,
    body: ExecuteSavedQuery,
    caller: CallerDep,
    pool: PoolDep,
    events_pool: EventsPoolDep,
    engine: EngineDep,
) -> Response:
    async with pool.acquire() as conn:
        plan = await executions.plan_saved_query(
            conn, engine, caller, saved_query_id, body.values, _limits(body)
        )
    return _json(await executions.run(engine, events_pool, plan))


@router.post(
    "/data-sources/{data_source_id}/execute",
    summary="Run an ad hoc query (needs execute on the data source)",
    response_model=ExecutionResult,
    responses=ERRORS,
)
async def execute_ad_hoc(
    data_source_id: UUID,
    body: ExecuteAdHoc,
    caller: CallerDep,
    pool: PoolDep,
    events_pool: EventsPoolDep,
    engine: EngineDep,
) -> Response:
    async with pool.acquire() as conn:
        plan = await executions.plan_ad_hoc(
            conn,
            engine,
            caller,
            data_source_id,
            body.query_text,
            list(body.parameters),
            body.values,
            _limits(body),
        )
    return _json(await executions.run(engine, events_pool, plan))


async def batch_bearer(
    request: Request, token: Annotated[str, Depends(bearer_token)], engine: EngineDep
) -> Caller | ServiceCaller:
    """The verified bearer of a batch: a user, or a service allowed to act for users with a
    tenant (checked before the body is read: a bad token is 401 whatever the body)."""
    verifier = authenticator_of(request).verifier
    try:
        return await verifier.verify_access(token)
    except Unauthorized:
        pass
    service = await verifier.verify_service(token)
    settings = engine.settings
    if service.service not in (*settings.acting_services, *settings.tenant_services):
        raise Forbidden(
            f"service {service.service} may not act for users", code="service_may_not_act"
        )
    if service.tenant_id is None:
        raise Forbidden("the service token names no tenant", code="service_token_without_tenant")
    return service


async def batch_caller(
    request: Request, bearer: Caller | ServiceCaller, body: ExecuteBatch, engine: EngineDep
) -> Caller:
    """The user a batch runs for: the bearer, or the one a service acts for, or a tenant
    service's caller (module doc)."""
    if isinstance(bearer, Caller):
        if body.user_access_token is not None:
            raise Forbidden(
                "only a service may run a batch for another user", code="acting_needs_service"
            )
        return bearer
    settings = engine.settings
    if body.user_access_token is None and bearer.service in settings.tenant_services:
        return access.tenant_service_caller(bearer)
    if bearer.service not in settings.acting_services:
        raise Forbidden(
            f"service {bearer.service} may not act for users", code="service_may_not_act"
        )
    if body.user_access_token is None:
        raise Invalid(
            "a service runs a batch for a user: user_access_token is required",
            code="user_access_token_required",
            details=[{"loc": ["body", "user_access_token"], "msg": "required", "type": "missing"}],
        )
    try:
        user = await authenticator_of(request).verifier.verify_access(body.user_access_token)
    except Unauthorized:
        raise Unauthorized(
            "user_access_token is invalid, expired or revoked", code="invalid_user_access_token"
        ) from None
    if user.tenant_id != bearer.tenant_id:
        raise Forbidden(
            "user_access_token is of another tenant than the service token",
            code="tenant_mismatch",
        )
    return user


@router.post(
    "/executions/batch",
    response_model=BatchResult,
    summary="Run up to 50 executions concurrently: one result or error each, in order",
    description=__doc__,
    responses={
        401: ERRORS[401],
        403: ERRORS[403],
        422: {"description": "a malformed batch (an item's own failure is in its outcome)"},
    },
)
async def execute_batch(
    request: Request,
    bearer: Annotated[Caller | ServiceCaller, Depends(batch_bearer)],
    body: ExecuteBatch,
    pool: PoolDep,
    events_pool: EventsPoolDep,
    engine: EngineDep,
) -> Response:
    caller = await batch_caller(request, bearer, body, engine)
    outcome = await batch.run_batch(pool, events_pool, engine, caller, body.items)
    return Response(content=outcome.to_json(), media_type="application/json")


@router.get(
    "/executions/{execution_id}",
    summary="An execution's status (its starter or an admin)",
    responses=ERRORS,
)
async def get_execution(execution_id: UUID, caller: CallerDep, pool: PoolDep) -> Execution:
    return await execution_records.get_execution(pool, caller, execution_id)


@router.post(
    "/executions/{execution_id}/cancel",
    summary="Stop a running execution on its server, from any replica (its starter or an admin)",
    responses=ERRORS,
)
async def cancel_execution(
    execution_id: UUID, caller: CallerDep, pool: PoolDep, engine: EngineDep
) -> CancelOutcome:
    return await execution_records.cancel_execution(pool, engine, caller, execution_id)
