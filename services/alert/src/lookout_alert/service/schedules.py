"""When an alert runs: every ``seconds`` (at least ``min_interval_s``), or at the times a cron
expression names (UTC, ``croniter``)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from croniter import CroniterError, croniter  # type: ignore[import-untyped]
from lookout_kit.errors import Invalid

from lookout_alert.schemas.conditions import CronSchedule, IntervalSchedule


def _invalid(field: str, message: str) -> Invalid:
    return Invalid(
        f"schedule.{field}: {message}",
        code="invalid_schedule",
        details=[{"loc": ["body", "schedule", field], "msg": message, "type": "invalid_schedule"}],
    )


def check_schedule(schedule: IntervalSchedule | CronSchedule, min_interval_s: int) -> None:
    """422 naming the field unless the schedule may run here."""
    if isinstance(schedule, IntervalSchedule):
        if schedule.seconds < min_interval_s:
            raise _invalid("seconds", f"an alert runs at most every {min_interval_s} s")
        return
    fields = schedule.expression.split()
    if len(fields) != 5 or not croniter.is_valid(schedule.expression):
        raise _invalid("expression", "not a five-field cron expression")
    try:
        next_run(schedule.model_dump())
    except CroniterError:
        raise _invalid("expression", "names no time that comes (e.g. February 30)") from None


def next_run(schedule: dict[str, Any], now: datetime | None = None) -> datetime:
    """The next time ``schedule`` is due after ``now`` (the database's clock is what counts for
    due-ness; this is only the next point on the schedule)."""
    now = now or datetime.now(UTC)
    if schedule["kind"] == "interval":
        return now + timedelta(seconds=int(schedule["seconds"]))
    following: datetime = croniter(schedule["expression"], now).get_next(datetime)
    return following


def next_run_of(schedule: dict[str, Any]) -> datetime | timedelta:
    """What a completed lease's next run is (``lookout_kit.lease.complete``): an interval as a
    delay from the database's now, a cron schedule as its next time."""
    if schedule["kind"] == "interval":
        return timedelta(seconds=int(schedule["seconds"]))
    return next_run(schedule)
