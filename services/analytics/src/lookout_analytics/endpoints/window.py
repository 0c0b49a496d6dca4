"""The report window every report takes from its query string: ``from``, ``to``, ``granularity``
and ``tz``, validated by ``ReportWindow.parse`` (422 naming the parameter)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated

from fastapi import Depends, Query
from lookout_kit.dependencies import RuntimeDep

from lookout_analytics.schemas import Granularity, ReportWindow
from lookout_analytics.settings import Settings


async def report_window(
    runtime: RuntimeDep,
    start: Annotated[
        datetime,
        Query(alias="from", description="The range's start (inclusive); no offset: in tz"),
    ],
    end: Annotated[
        datetime, Query(alias="to", description="The range's end (exclusive); no offset: in tz")
    ],
    granularity: Annotated[Granularity, Query(description="The buckets of a series")] = "day",
    tz: Annotated[
        str, Query(max_length=64, description="IANA time zone of the buckets, e.g. Europe/Paris")
    ] = "UTC",
) -> ReportWindow:
    settings = runtime.settings
    assert isinstance(settings, Settings)
    return ReportWindow.parse(
        start,
        end,
        granularity,
        tz,
        max_span=timedelta(days=settings.max_range_days),
        max_buckets=settings.max_buckets,
    )


WindowDep = Annotated[ReportWindow, Depends(report_window)]
LimitDep = Annotated[int, Query(ge=1, le=1_000, description="The most rows")]
ERRORS: dict[int | str, dict[str, str]] = {
    401: {"description": "no valid token"},
    403: {"description": "the caller lacks analytics:read"},
    422: {"description": "invalid range, granularity, time zone or other parameter"},
}
