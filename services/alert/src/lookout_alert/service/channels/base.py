"""What a channel is: ``send(engine, channel, message)`` delivers one notification or raises
``DeliveryError`` (``retryable`` says whether trying again may help). Messages never name a secret,
and errors never carry one (a Slack URL is a credential: errors name only what failed)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol
from uuid import UUID

if TYPE_CHECKING:
    from lookout_alert.service.engine import Engine


class DeliveryError(Exception):
    def __init__(self, message: str, *, retryable: bool = True) -> None:
        super().__init__(message)
        self.message = message
        self.retryable = retryable


@dataclass(frozen=True)
class Message:
    """One notification: an alert triggered, resolved, or a test."""

    event: str
    alert_id: UUID
    alert_name: str
    tenant_id: UUID
    state: str
    observed_value: float | None
    threshold: dict[str, Any]
    history_id: UUID | None
    at: datetime

    def document(self) -> dict[str, Any]:
        return {
            "event": self.event,
            "alert": {"id": str(self.alert_id), "name": self.alert_name},
            "tenant_id": str(self.tenant_id),
            "state": self.state,
            "observed_value": self.observed_value,
            "threshold": self.threshold,
            "history_id": None if self.history_id is None else str(self.history_id),
            "at": self.at.isoformat(),
        }

    def text(self) -> str:
        what = {"triggered": "triggered", "resolved": "is resolved", "test": "test notification"}
        return (
            f"Lookout alert {self.alert_name!r} {what.get(self.event, self.event)}: "
            f"value {self.observed_value} (threshold {self.threshold.get('op')} "
            f"{self.threshold.get('value')})"
        )


class Channel(Protocol):
    async def send(self, engine: Engine, channel: dict[str, Any], message: Message) -> None: ...


def check_status(status: int) -> None:
    """A receiver's answer: 2xx is delivered; 408, 429 and 5xx may pass; other 4xx will not."""
    if 200 <= status < 300:
        return
    raise DeliveryError(
        f"the receiver answered HTTP {status}",
        retryable=status in (408, 429) or status >= 500,
    )
