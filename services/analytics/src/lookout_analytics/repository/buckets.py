"""The SQL expression that puts a row's time in its bucket, as Unix seconds of the bucket's start
in the report's time zone (bound as ``{tz:String}``). Functions that ClickHouse 18.16 and current
ClickHouse both have (18.16 has no ``toStartOfInterval``)."""

from __future__ import annotations

from typing import Literal

Period = Literal["minute", "hour", "day", "week", "month"]

_BUCKETS: dict[Period, str] = {
    "minute": "toUnixTimestamp(toStartOfMinute({column}, {{tz:String}}))",
    "hour": "toUnixTimestamp(toStartOfHour({column}, {{tz:String}}))",
    "day": "toUnixTimestamp(toStartOfDay({column}, {{tz:String}}))",
    "week": "toUnixTimestamp(toDateTime(toMonday({column}, {{tz:String}}), {{tz:String}}))",
    "month": "toUnixTimestamp(toDateTime(toStartOfMonth({column}, {{tz:String}}), {{tz:String}}))",
}


def bucket(period: Period, column: str = "timestamp") -> str:
    """The bucket of ``column`` (a ``DateTime``) for ``period``; it takes the parameter ``tz``."""
    return _BUCKETS[period].format(column=column)
