"""The analytics API's models: the report window every report takes (range, granularity, time
zone, validated here) and the series and table rows the reports answer."""

from __future__ import annotations

import zoneinfo
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import Any, Generic, Literal, Self, TypeVar
from uuid import UUID

from lookout_kit.errors import Invalid
from pydantic import BaseModel, Field

Granularity = Literal["minute", "hour", "day", "week"]
GRANULARITY_SECONDS: dict[str, int] = {"minute": 60, "hour": 3_600, "day": 86_400, "week": 604_800}
DATETIME_MIN = datetime(1970, 1, 2, tzinfo=UTC)
DATETIME_MAX = datetime(2106, 2, 6, tzinfo=UTC)
"""What ClickHouse's ``DateTime`` holds, a day inside each end (time zones shift buckets)."""


@cache
def time_zones() -> frozenset[str]:
    """The IANA time zone names this machine knows."""
    return frozenset(zoneinfo.available_timezones())


def invalid_parameter(name: str, message: str, kind: str) -> Invalid:
    """A 422 naming query parameter ``name``, in the shape of the kit's validation errors."""
    return Invalid(
        f"Invalid request: query.{name}: {message}",
        details=[{"loc": ["query", name], "msg": message, "type": kind}],
    )


@dataclass(frozen=True)
class ReportWindow:
    """A report's range ``[start, end)`` (aware, UTC), its bucket size and its time zone."""

    start: datetime
    end: datetime
    granularity: Granularity
    tz: str

    @property
    def zone(self) -> zoneinfo.ZoneInfo:
        return zoneinfo.ZoneInfo(self.tz)

    @classmethod
    def parse(
        cls,
        start: datetime,
        end: datetime,
        granularity: Granularity,
        tz: str,
        *,
        max_span: timedelta,
        max_buckets: int,
    ) -> ReportWindow:
        """Validate a request's window: a known IANA zone (times without an offset are read in
        it), ``start < end`` within ``DateTime``, at most ``max_span`` long and at most
        ``max_buckets`` buckets; else ``Invalid`` naming the parameter."""
        if tz not in time_zones():
            raise invalid_parameter("tz", "not an IANA time zone name", "time_zone")
        zone = zoneinfo.ZoneInfo(tz)
        moments = {}
        for name, moment in (("from", start), ("to", end)):
            aware = moment if moment.tzinfo else moment.replace(tzinfo=zone)
            if not DATETIME_MIN <= aware <= DATETIME_MAX:
                raise invalid_parameter(name, "outside 1970-01-02..2106-02-06", "datetime_range")
            moments[name] = aware.astimezone(UTC)
        if moments["to"] <= moments["from"]:
            raise invalid_parameter("to", "must be after from", "range_order")
        span = moments["to"] - moments["from"]
        if span > max_span:
            raise invalid_parameter(
                "to", f"the range may span at most {max_span.days} days", "range_span"
            )
        if span.total_seconds() / GRANULARITY_SECONDS[granularity] > max_buckets:
            raise invalid_parameter(
                "granularity",
                f"{granularity} buckets over this range exceed {max_buckets}: choose a coarser one",
                "too_many_buckets",
            )
        return cls(moments["from"], moments["to"], granularity, tz)


class Point(BaseModel):
    """One bucket of a series: its start in the report's time zone; the report's values follow,
    each zero (or empty) when nothing fell in the bucket."""

    bucket: datetime


class ViewsPoint(Point):
    views: int = 0
    viewers: int = 0


class EventMixPoint(Point):
    events: dict[str, int] = Field(default_factory=dict)
    """Events per dashboard event type (types without events left out)."""


class LatencyPoint(Point):
    """``QueryStats`` of the bucket's executions."""

    executions: int = 0
    errors: int = 0
    p50_ms: int = 0
    p95_ms: int = 0
    p99_ms: int = 0
    total_rows: int = 0
    total_bytes: int = 0


class UsersPoint(Point):
    users: int = 0


class SessionsPoint(Point):
    sessions: int = 0
    total_length_s: int = 0


PointT = TypeVar("PointT", bound=Point)


class Series(BaseModel, Generic[PointT]):
    """One point per bucket of the range, in order, empty buckets included."""

    granularity: str
    tz: str
    points: list[PointT]


class DashboardViews(BaseModel):
    dashboard_id: UUID
    views: int
    viewers: int


class UnopenedDashboard(BaseModel):
    """A dashboard of the tenant (seen in ``dashboard_events`` before the range's end and not
    deleted since) that nobody viewed in the range."""

    dashboard_id: UUID
    last_event_at: datetime
    last_viewed_at: datetime | None


class QueryStats(BaseModel):
    """Executions of a group of queries: errors are ``failed`` and ``timeout`` executions; the
    latency percentiles (``quantileExact``) are over every execution of the group."""

    executions: int
    errors: int
    p50_ms: int
    p95_ms: int
    p99_ms: int
    total_rows: int
    total_bytes: int

    @staticmethod
    def percentiles(row: dict[str, Any]) -> dict[str, Any]:
        """A stored row's ``latency_ms`` (p50, p95, p99) as the three fields."""
        p50, p95, p99 = row["latency_ms"]
        return {**row, "p50_ms": p50, "p95_ms": p95, "p99_ms": p99}

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> Self:
        return cls.model_validate(cls.percentiles(row))


class DataSourceStats(QueryStats):
    data_source_id: UUID


class SavedQueryStats(QueryStats):
    """A saved query's executions on a data source (a saved query moved to another source has a
    row per source); ``saved_query_id`` null: the source's ad hoc executions (stored with the zero
    UUID by ingestion, like executions stored before it kept the saved query)."""

    saved_query_id: UUID | None
    data_source_id: UUID

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> Self:
        saved = UUID(str(row["saved_query_id"]))
        return super().from_row({**row, "saved_query_id": saved if saved.int else None})


class SlowQuery(BaseModel):
    query_id: UUID
    user_id: UUID
    data_source_id: UUID
    query_text: str
    execution_time_ms: int
    status: str
    at: datetime


class UserCost(BaseModel):
    user_id: UUID
    executions: int
    total_execution_ms: int
    total_rows: int
    total_bytes: int


class ActiveUsers(BaseModel):
    """Distinct active users per calendar day, week (from Monday) and month in the time zone,
    counting activity inside the range only, and over the whole range."""

    tz: str
    users: int
    daily: list[UsersPoint]
    weekly: list[UsersPoint]
    monthly: list[UsersPoint]


class Sessions(BaseModel):
    """Sessions (a user's ``session_id``) with activity in the range; a session's length is from
    its first to its last activity in the range; each counts in the bucket where it started."""

    sessions: int
    average_length_s: float
    series: Series[SessionsPoint]


class ResourceActivity(BaseModel):
    resource_type: str
    events: int
    users: int


class TimelineEntry(BaseModel):
    at: datetime
    activity_type: str
    resource_type: str
    resource_id: str
    session_id: str


RowT = TypeVar("RowT", bound=BaseModel)


class Rows(BaseModel, Generic[RowT]):
    """A report's rows, in the report's order."""

    rows: list[RowT]
