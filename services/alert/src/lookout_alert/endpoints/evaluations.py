"""An alert's evaluations over HTTP: evaluate now, send a test notification, the history."""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Query
from lookout_kit.dependencies import CallerDep, PoolDep

from lookout_alert.schemas.history import Evaluation, HistoryPage, TestNotification
from lookout_alert.service import history, on_demand
from lookout_alert.service.engine import EngineDep

router = APIRouter(tags=["evaluations"])
ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"description": "no valid token"},
    403: {"description": "the caller's role may not do this"},
    404: {"description": "no such alert in the caller's tenant"},
}


@router.post(
    "/alerts/{alert_id}/evaluate",
    summary="Evaluate the alert now (state, history and notifications as on schedule)",
    responses={**ERRORS, 409: {"description": "a replica is evaluating it right now"}},
)
async def evaluate_alert(alert_id: UUID, caller: CallerDep, engine: EngineDep) -> Evaluation:
    return await on_demand.evaluate_now(engine, caller, alert_id)


@router.post(
    "/alerts/{alert_id}/test-notification",
    summary="Send a test notification to each channel (one attempt each; nothing recorded)",
    responses=ERRORS,
)
async def test_notification(
    alert_id: UUID, caller: CallerDep, engine: EngineDep
) -> TestNotification:
    return await on_demand.send_test(engine, caller, alert_id)


@router.get(
    "/alerts/{alert_id}/history",
    summary="The alert's triggers, resolves and errors, newest first, with their deliveries",
    responses=ERRORS,
)
async def alert_history(
    alert_id: UUID,
    caller: CallerDep,
    pool: PoolDep,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> HistoryPage:
    return await history.history_page(pool, caller, alert_id, limit=limit, cursor=cursor)
