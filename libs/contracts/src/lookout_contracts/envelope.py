"""The event envelope every Lookout service publishes, and its (de)serialisation."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field, field_serializer, field_validator

CONTENT_TYPE = "application/json"

DataT = TypeVar("DataT", bound=BaseModel)


class Subject(BaseModel):
    """What the event is about: the aggregate whose id is the Kafka key."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    type: str = Field(min_length=1, max_length=64, pattern=r"^[a-z][a-z0-9_]*$")
    id: str = Field(min_length=1, max_length=128)


def _now() -> datetime:
    return datetime.now(UTC)


class Envelope(BaseModel, Generic[DataT]):
    """One domain event. ``data`` is the typed payload of ``type`` at ``version``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: uuid.UUID = Field(default_factory=uuid.uuid4)
    type: str = Field(
        min_length=3, max_length=128, pattern=r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$"
    )
    version: int = Field(default=1, ge=1)
    source: str = Field(min_length=1, max_length=64, pattern=r"^[a-z][a-z0-9_]*$")
    time: datetime = Field(default_factory=_now)
    tenant_id: uuid.UUID
    actor_id: uuid.UUID | None = None
    session_id: str | None = Field(default=None, max_length=128)
    subject: Subject
    data: DataT

    @field_validator("time")
    @classmethod
    def _aware_utc(cls, value: datetime) -> datetime:
        if value.tzinfo is None:
            raise ValueError("time must carry a timezone")
        try:
            return value.astimezone(UTC)
        except OverflowError:  # 0001-01-01 east of UTC, 9999-12-31 west of it
            raise ValueError("time is out of range in UTC") from None

    @field_serializer("time")
    def _serialize_time(self, value: datetime) -> str:
        # Millisecond precision with a Z suffix, as the documented envelope shows.
        return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"

    @property
    def key(self) -> bytes:
        """Kafka key: the aggregate's id, so events of one aggregate stay in order."""
        return self.subject.id.encode()

    def to_json(self) -> bytes:
        return self.model_dump_json().encode()
