"""Time buckets of a report window, as ClickHouse makes them (``repository/buckets.py``): each
bucket's start in the window's time zone, so that a series has a point for every bucket, empty
ones included."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from lookout_analytics.repository.buckets import Period
from lookout_analytics.schemas import PointT, ReportWindow


def bucket_start(moment: datetime, window: ReportWindow, period: Period) -> datetime:
    """The start of the ``period`` bucket ``moment`` falls in (aware, in the window's zone)."""
    local = moment.astimezone(window.zone)
    if period == "minute":
        return local.replace(second=0, microsecond=0)
    if period == "hour":
        return local.replace(minute=0, second=0, microsecond=0)
    day = local.date()
    if period == "week":
        day -= timedelta(days=day.weekday())
    elif period == "month":
        day = day.replace(day=1)
    return datetime.combine(day, time(), window.zone)


def _next_day(day: date, period: Period) -> date:
    if period == "month":
        return (day.replace(day=28) + timedelta(days=4)).replace(day=1)
    return day + timedelta(days=7 if period == "week" else 1)


def bucket_starts(window: ReportWindow, period: Period) -> Iterator[datetime]:
    """Every ``period`` bucket's start that overlaps ``[window.start, window.end)``, in order."""
    current = bucket_start(window.start, window, period)
    while current < window.end:
        yield current
        if period in ("minute", "hour"):
            step = timedelta(minutes=1) if period == "minute" else timedelta(hours=1)
            current = (current.astimezone(UTC) + step).astimezone(window.zone)
        else:
            current = datetime.combine(_next_day(current.date(), period), time(), window.zone)


def fill(
    window: ReportWindow,
    rows: list[dict[str, Any]],
    point: type[PointT],
    period: Period | None = None,
) -> list[PointT]:
    """One ``point`` per bucket (of ``period``, else the window's granularity): built from the row
    whose ``bucket`` (Unix seconds) starts it, else the point's zeros."""
    by_start = {int(row["bucket"]): row for row in rows}
    points = []
    for start in bucket_starts(window, period or window.granularity):
        row = by_start.get(int(start.timestamp()))
        points.append(
            point.model_validate({**row, "bucket": start}) if row else point(bucket=start)
        )
    return points
