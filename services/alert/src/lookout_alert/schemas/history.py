"""Bodies of an alert's history (a page of trigger, resolve and error records with their
deliveries), of an evaluation run now, and of a test notification."""

from __future__ import annotations

from datetime import datetime
from typing import Literal
from uuid import UUID

from pydantic import BaseModel, Field

from lookout_alert.schemas.alerts import State
from lookout_alert.schemas.channels import Kind


class Delivery(BaseModel):
    channel_index: int
    channel: Kind
    attempts: int
    delivered: bool
    error_message: str | None


class HistoryEntry(BaseModel):
    id: UUID
    alert_id: UUID
    kind: Literal["triggered", "resolved", "error"]
    triggered_at: datetime
    condition_met: bool
    notification_sent: bool
    error_message: str | None
    observed_value: float | None
    execution_id: UUID | None
    deliveries: list[Delivery]


class HistoryPage(BaseModel):
    items: list[HistoryEntry] = Field(description="Newest first")
    next_cursor: str | None = Field(description="Pass as cursor for the next page; null: the end")


class Evaluation(BaseModel):
    """What one evaluation found and did."""

    alert_id: UUID
    state: State
    condition_met: bool
    observed_value: float | None
    error_message: str | None
    execution_id: UUID | None
    history_id: UUID | None = Field(description="The history record it wrote, if any")
    notified: bool


class ChannelOutcome(BaseModel):
    channel_index: int
    channel: Kind
    delivered: bool
    attempts: int
    error_message: str | None


class TestNotification(BaseModel):
    alert_id: UUID
    channels: list[ChannelOutcome]
