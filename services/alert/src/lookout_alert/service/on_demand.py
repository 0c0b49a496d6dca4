"""What a user asks for outside the schedule: evaluate an alert now (under the same lease as the
scheduler's, so never twice at once: 409 while a replica evaluates it; its next run then follows
the schedule from now), and send a test notification to each channel (one attempt each, nothing
recorded, the outcome returned)."""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import UUID

from lookout_kit.auth.caller import Caller
from lookout_kit.errors import Conflict

from lookout_alert.repository import alerts
from lookout_alert.schemas.conditions import Condition
from lookout_alert.schemas.history import ChannelOutcome, Evaluation, TestNotification
from lookout_alert.service import access
from lookout_alert.service.channels.base import Message
from lookout_alert.service.engine import Engine
from lookout_alert.service.notifications import deliver
from lookout_alert.service.scheduler import evaluate_and_reschedule


async def evaluate_now(engine: Engine, caller: Caller, alert_id: UUID) -> Evaluation:
    async with engine.pool.acquire() as conn:
        await access.load(conn, caller, alert_id, "update")
        row = await alerts.lease_now(
            conn,
            caller.tenant_id,
            alert_id,
            owner=engine.owner,
            lease_s=engine.settings.scheduler_lease_s,
        )
    if row is None:
        raise Conflict("the alert is being evaluated right now", code="evaluation_in_progress")
    evaluation = await evaluate_and_reschedule(engine, row, engine.owner)
    if evaluation is None:  # its lease ran out and another replica took it
        raise Conflict("the evaluation took too long to be recorded", code="evaluation_lost")
    return evaluation


async def send_test(engine: Engine, caller: Caller, alert_id: UUID) -> TestNotification:
    async with engine.pool.acquire() as conn:
        row = await access.load(conn, caller, alert_id, "update")
    condition = Condition.model_validate(row.condition_config)
    message = Message(
        event="test",
        alert_id=row.id,
        alert_name=row.name,
        tenant_id=row.tenant_id,
        state=row.state,
        observed_value=row.last_value,
        threshold=condition.threshold.model_dump(),
        history_id=None,
        at=datetime.now(UTC),
    )
    outcomes = await deliver(engine, row, message, attempts=1)
    return TestNotification(
        alert_id=row.id,
        channels=[
            ChannelOutcome(
                channel_index=o.channel_index,
                channel=o.channel,
                delivered=o.delivered,
                attempts=o.attempts,
                error_message=None if o.delivered or not o.errors else o.errors[-1],
            )
            for o in outcomes
        ],
    )
