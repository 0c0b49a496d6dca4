"""The alert API's bodies: create, update (every field optional), an alert as returned, a page."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any, Literal
from uuid import UUID

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field
from pydantic.json_schema import SkipJsonSchema

from lookout_alert.schemas.channels import NotificationIn, NotificationOut
from lookout_alert.schemas.conditions import Condition, Schedule

if TYPE_CHECKING:
    from lookout_alert.repository.alerts import AlertRow

Name = Annotated[str, Field(min_length=1, max_length=255)]
Description = Annotated[str, Field(max_length=10_000)]
ParameterValues = Annotated[
    dict[Annotated[str, Field(min_length=1, max_length=100)], Any], Field(max_length=100)
]
State = Literal["ok", "triggered", "error"]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class AlertCreate(_Body):
    name: Name
    description: Description | None = None
    query_id: UUID = Field(description="The saved query the alert runs (of the caller's tenant)")
    parameter_values: ParameterValues = Field(
        default_factory=dict, description="The saved query's parameter values the alert runs with"
    )
    condition_config: Condition
    notification_config: NotificationIn
    schedule: Schedule
    cooldown_s: int = Field(
        default=0,
        ge=0,
        le=31 * 86_400,
        description="After a notified trigger, triggers stay silent this long (rearm period)",
    )
    mute_until: AwareDatetime | None = Field(
        default=None, description="No notification before this time (evaluations go on)"
    )
    is_active: bool = True


class AlertUpdate(_Body):
    # An update names at least one field (an empty one is 422 empty_update).
    model_config = ConfigDict(extra="forbid", json_schema_extra={"minProperties": 1})

    # Fields that may be left out but not set to null: the OpenAPI says so (no null in their
    # schema); a null sent anyway is 422 naming the field (service/alerts.py).
    name: Name | SkipJsonSchema[None] = None
    description: Description | None = None
    parameter_values: ParameterValues | None = None
    condition_config: Condition | SkipJsonSchema[None] = None
    notification_config: NotificationIn | SkipJsonSchema[None] = None
    schedule: Schedule | SkipJsonSchema[None] = None
    cooldown_s: int | None = Field(default=None, ge=0, le=31 * 86_400)
    mute_until: AwareDatetime | None = None
    is_active: bool | SkipJsonSchema[None] = None


class Alert(BaseModel):
    id: UUID
    name: str
    description: str | None
    query_id: UUID | None
    parameter_values: dict[str, Any]
    condition_config: Condition
    notification_config: NotificationOut
    schedule: Schedule
    cooldown_s: int
    mute_until: datetime | None
    is_active: bool
    owner_id: UUID
    state: State
    last_value: float | None
    last_evaluated_at: datetime | None
    last_triggered_at: datetime | None
    last_error: str | None
    next_run_at: datetime | None
    deactivated_reason: str | None
    created_at: datetime
    updated_at: datetime

    @classmethod
    def from_row(cls, row: AlertRow) -> Alert:
        return cls(
            id=row.id,
            name=row.name,
            description=row.description,
            query_id=row.query_id,
            parameter_values=row.parameter_values,
            condition_config=Condition.model_validate(row.condition_config),
            notification_config=NotificationOut.from_stored(row.notification_config),
            schedule=row.schedule,
            cooldown_s=row.cooldown_s,
            mute_until=row.mute_until,
            is_active=row.is_active,
            owner_id=row.user_id,
            state=row.state,
            last_value=row.last_value,
            last_evaluated_at=row.last_evaluated_at,
            last_triggered_at=row.last_triggered_at,
            last_error=row.last_error,
            next_run_at=row.next_run_at,
            deactivated_reason=row.deactivated_reason,
            created_at=row.created_at,
            updated_at=row.updated_at,
        )


class AlertPage(BaseModel):
    items: list[Alert]
    next_cursor: str | None = Field(description="Pass as cursor for the next page; null: the end")
