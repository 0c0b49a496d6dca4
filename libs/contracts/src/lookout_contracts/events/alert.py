"""Event data published by the alert service (subject: the alert).

Never carries a notification's target (webhook URL, address, Slack token) nor a webhook secret:
only the kind of channel.
"""

from __future__ import annotations

from typing import Literal
from uuid import UUID

from pydantic import Field, FiniteFloat

from lookout_contracts.events.base import ErrorMessage, EventData, Name

AlertChannel = Literal["webhook", "email", "slack"]
AlertField = Literal[
    "name",
    "description",
    "saved_query_id",
    "condition",
    "notification",
    "schedule",
    "is_active",
    "owner_id",
]


class AlertCreatedV1(EventData):
    """An alert was created on a saved query, notifying through ``channels``."""

    name: Name
    saved_query_id: UUID | None
    owner_id: UUID
    is_active: bool
    channels: tuple[AlertChannel, ...] = Field(max_length=20)


class AlertUpdatedV1(EventData):
    """An alert changed; carries its new small state."""

    name: Name
    saved_query_id: UUID | None
    owner_id: UUID
    is_active: bool
    channels: tuple[AlertChannel, ...] = Field(max_length=20)
    changed_fields: tuple[AlertField, ...] = Field(min_length=1)


class AlertDeletedV1(EventData):
    """An alert was deleted."""


class AlertTriggeredV1(EventData):
    """An evaluation found the alert's condition met (an ``alert_history`` row, ``history_id``).

    ``query_id`` is the execution that was evaluated (see ``query.executed``), null when none ran.
    """

    history_id: UUID
    saved_query_id: UUID | None
    query_id: UUID | None
    observed_value: FiniteFloat | None


class AlertResolvedV1(EventData):
    """A triggered alert's condition is no longer met."""

    history_id: UUID
    saved_query_id: UUID | None
    query_id: UUID | None
    observed_value: FiniteFloat | None


class AlertErroredV1(EventData):
    """An evaluation failed (the saved query, or reading its result) and the alert entered the
    error state: the ``alert_history`` row ``history_id``. Sent on entering the state only, not for
    each failure while it lasts; ``query_id`` is the failed execution, null when none ran."""

    history_id: UUID
    saved_query_id: UUID | None
    query_id: UUID | None
    error: ErrorMessage


class AlertNotificationSentV1(EventData):
    """A notification for the evaluation ``history_id`` was delivered through ``channel``."""

    history_id: UUID
    channel: AlertChannel
    attempt: int = Field(ge=1, le=1_000)


class AlertNotificationFailedV1(EventData):
    """A notification attempt failed; ``will_retry`` says whether another attempt follows."""

    history_id: UUID
    channel: AlertChannel
    attempt: int = Field(ge=1, le=1_000)
    error: ErrorMessage
    will_retry: bool
