"""Delivering one notification to each of an alert's channels, concurrently, each retried with the
kit's backoff (``notification_attempts`` in all, ``notification_backoff_*``) while its error may
pass; a refusal (a 4xx, refused recipients) is not retried. Each outcome is recorded
(``alert_deliveries``) with its events: ``alert.notification_sent`` once delivered,
``alert.notification_failed`` for each failed attempt (``will_retry`` whether another follows).
Neither an event nor a log line names a target or a secret."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from lookout_contracts import make_event
from lookout_contracts.events.alert import AlertNotificationFailedV1, AlertNotificationSentV1
from lookout_kit.retry import Backoff, RetryStopped, retry

from lookout_alert.repository.alert_history import DeliveryRow
from lookout_alert.repository.alerts import AlertRow
from lookout_alert.service.channel_secrets import open_channel
from lookout_alert.service.channels.base import DeliveryError, Message
from lookout_alert.service.channels.registry import CHANNELS
from lookout_alert.service.engine import Engine

logger = logging.getLogger("lookout.alert.notifications")
MAX_ERROR = 1_000


class _Refused(Exception):
    """A delivery error that trying again will not mend (not retried)."""


@dataclass
class Outcome:
    channel_index: int
    channel: str
    delivered: bool = False
    errors: list[str] = field(default_factory=list)
    will_retry: list[bool] = field(default_factory=list)

    @property
    def attempts(self) -> int:
        return len(self.errors) + (1 if self.delivered else 0)

    def row(self, history_id: UUID) -> DeliveryRow:
        return DeliveryRow(
            history_id=history_id,
            channel_index=self.channel_index,
            channel=self.channel,
            attempts=self.attempts,
            delivered=self.delivered,
            error_message=None if self.delivered or not self.errors else self.errors[-1],
        )


async def _deliver_one(
    engine: Engine,
    row: AlertRow,
    index: int,
    stored: dict[str, Any],
    message: Message,
    attempts: int,
) -> Outcome:
    outcome = Outcome(channel_index=index, channel=stored["kind"])
    settings = engine.settings
    sender = CHANNELS[stored["kind"]]

    async def attempt() -> None:
        try:
            channel = open_channel(engine.box, row.id, stored)
            await sender.send(engine, channel, message)
        except DeliveryError as error:
            outcome.errors.append(error.message[:MAX_ERROR])
            last = len(outcome.errors) >= attempts or not error.retryable
            outcome.will_retry.append(not last)
            if not error.retryable:
                raise _Refused from error
            raise
        outcome.delivered = True

    try:
        await retry(
            attempt,
            what=f"{stored['kind']} notification",
            backoff=Backoff(
                settings.notification_backoff_initial_s,
                max(settings.notification_backoff_max_s, settings.notification_backoff_initial_s),
            ),
            stopping=engine.runtime.stopping,
            retry_on=DeliveryError,
            max_attempts=attempts,
            log=logger,
            log_extra={"alert_id": str(row.id), "channel": stored["kind"]},
        )
    except (DeliveryError, _Refused, RetryStopped):
        pass  # recorded in the outcome
    return outcome


async def deliver(
    engine: Engine, row: AlertRow, message: Message, *, attempts: int | None = None
) -> list[Outcome]:
    """Send ``message`` to each of the alert's channels; one outcome each, in their order."""
    channels = row.notification_config.get("channels", [])
    tries = attempts or engine.settings.notification_attempts
    return list(
        await asyncio.gather(
            *(
                _deliver_one(engine, row, index, stored, message, tries)
                for index, stored in enumerate(channels)
            )
        )
    )


def delivery_events(row: AlertRow, history_id: UUID, outcomes: list[Outcome]) -> list[Any]:
    events: list[Any] = []
    for outcome in outcomes:
        for number, (error, will_retry) in enumerate(
            zip(outcome.errors, outcome.will_retry, strict=True), start=1
        ):
            data: Any = AlertNotificationFailedV1(
                history_id=history_id,
                channel=outcome.channel,
                attempt=number,
                error=error,
                will_retry=will_retry,
            )
            events.append(_event("alert.notification_failed", row, data))
        if outcome.delivered:
            data = AlertNotificationSentV1(
                history_id=history_id,
                channel=outcome.channel,
                attempt=outcome.attempts,
            )
            events.append(_event("alert.notification_sent", row, data))
    return events


def _event(type_: str, row: AlertRow, data: Any) -> Any:
    return make_event(type_, tenant_id=row.tenant_id, subject_id=row.id, data=data)
