"""One evaluation of one alert whose lease this process holds: run its saved query, read the
condition, move the state machine, record and notify.

- **States.** ``ok`` → ``triggered`` when the condition becomes met, → ``ok`` when it no longer
  is (resolved); ``error`` while the query fails (``on_error: error``). ``condition_met`` is kept
  through errors, so that recovering to the same outcome is no new trigger.
- **History** (``alert_history``): a row for each trigger, resolve, and each entry into
  ``error`` (not each repeated failure: no storm); ``condition_met``, ``notification_sent``,
  ``error_message``, the observed value and the execution evaluated.
- **Notifications** only on trigger and resolve: none while muted (``mute_until``); a trigger
  within ``cooldown_s`` of the last notified one stays silent, and so does its resolve.
- **Exactly once among replicas**: the state is written only while this process still holds the
  lease (``record_outcome``), in one transaction with the history row and the event
  (``alert.triggered`` / ``alert.resolved`` / ``alert.errored``); deliveries follow and are
  recorded after.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from lookout_contracts import make_event
from lookout_contracts.events.alert import AlertErroredV1, AlertResolvedV1, AlertTriggeredV1
from lookout_kit.outbox import publish_in_tx, publish_many_in_tx
from pydantic import ValidationError

from lookout_alert.repository import alert_history, alerts
from lookout_alert.repository.alerts import AlertRow, Outcome
from lookout_alert.schemas.conditions import Condition
from lookout_alert.schemas.history import Evaluation
from lookout_alert.service.channels.base import Message
from lookout_alert.service.conditions import ConditionError, decide, observe
from lookout_alert.service.engine import Engine
from lookout_alert.service.notifications import deliver, delivery_events
from lookout_alert.service.query_runner import QueryOutcome, run_saved_query


def _silenced(row: AlertRow, now: datetime) -> bool:
    return row.mute_until is not None and row.mute_until > now


def _cooling(row: AlertRow, now: datetime) -> bool:
    return (
        row.cooldown_s > 0
        and row.last_notified_at is not None
        and now - row.last_notified_at < timedelta(seconds=row.cooldown_s)
    )


EVENT_OF = {"triggered": "alert.triggered", "resolved": "alert.resolved", "error": "alert.errored"}


def _state_event(
    type_: str, row: AlertRow, history_id: Any, execution_id: Any, value: Any, error: Any
) -> Any:
    data: Any
    if type_ == "alert.errored":
        data = AlertErroredV1(
            history_id=history_id,
            saved_query_id=row.query_id,
            query_id=execution_id,
            error=(error or "")[:4_000],
        )
    else:
        model = AlertTriggeredV1 if type_ == "alert.triggered" else AlertResolvedV1
        data = model(
            history_id=history_id,
            saved_query_id=row.query_id,
            query_id=execution_id,
            observed_value=value,
        )
    return make_event(type_, tenant_id=row.tenant_id, subject_id=row.id, data=data)


async def evaluate(
    engine: Engine, row: AlertRow, *, owner: str, ran: QueryOutcome | None = None
) -> Evaluation | None:
    """Evaluate ``row`` (leased by ``owner``) on ``ran``, its query's outcome when the scheduler
    ran it in a batch (else it is run here); None when the lease was lost meanwhile."""
    settings = engine.settings
    condition = Condition.model_validate(row.condition_config)
    if ran is None:
        ran = await run_saved_query(
            engine.datasource,
            row.tenant_id,
            row.query_id,
            row.parameter_values,
            settings.query_row_limit,
        )
    error, value = ran.error, None
    if ran.result is not None:
        try:
            value = observe(condition, ran.result)
        except (ConditionError, ValidationError) as problem:
            error = str(problem)
    met, state = row.condition_met, row.state
    if error is None:
        met = decide(condition, value, row.last_value, row.condition_met)
        state = "triggered" if met else "ok"
    elif condition.on_error == "trigger":
        met, state = True, "triggered"
    elif condition.on_error == "error":
        state = "error"

    now = datetime.now(UTC)
    kind: str | None = None
    notify = False
    if met and not row.condition_met:
        kind = "triggered"
        notify = not _silenced(row, now) and not _cooling(row, now)
    elif not met and row.condition_met and error is None:
        kind = "resolved"
        notify = row.trigger_notified and not _silenced(row, now)
    elif state == "error" and row.state != "error":
        kind = "error"
    outcome = Outcome(
        state=state,
        condition_met=met,
        last_value=value if value is not None else row.last_value,
        last_error=error,
        triggered=kind == "triggered",
        trigger_notified=notify if kind == "triggered" else None,
    )
    history = None
    if kind is None:  # the state alone: one statement, no transaction to open
        if not await alerts.record_outcome(engine.pool, row, outcome, owner=owner):
            return None
    else:
        async with engine.pool.acquire() as conn, conn.transaction():
            if not await alerts.record_outcome(conn, row, outcome, owner=owner):
                return None
            history = await alert_history.insert_history(
                conn,
                tenant_id=row.tenant_id,
                alert_id=row.id,
                kind=kind,
                condition_met=met,
                error_message=error,
                observed_value=value,
                execution_id=ran.execution_id,
            )
            event = _state_event(EVENT_OF[kind], row, history.id, ran.execution_id, value, error)
            await publish_in_tx(conn, event)
    if notify and history is not None:
        message = Message(
            event=kind or "",
            alert_id=row.id,
            alert_name=row.name,
            tenant_id=row.tenant_id,
            state=state,
            observed_value=value,
            threshold=condition.threshold.model_dump(),
            history_id=history.id,
            at=now,
        )
        outcomes = await deliver(engine, row, message)
        async with engine.pool.acquire() as conn, conn.transaction():
            await alert_history.record_deliveries(
                conn, row.tenant_id, history.id, [o.row(history.id) for o in outcomes]
            )
            await publish_many_in_tx(conn, delivery_events(row, history.id, outcomes))
        notify = any(o.delivered for o in outcomes)
    return Evaluation(
        alert_id=row.id,
        state=state,
        condition_met=met,
        observed_value=value,
        error_message=error,
        execution_id=ran.execution_id,
        history_id=None if history is None else history.id,
        notified=notify and history is not None,
    )
