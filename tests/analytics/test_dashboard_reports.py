"""The dashboard reports against numbers computed here from the events the test stored."""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import datetime, time
from typing import Any

from .conftest import AnalyticsService, Stored
from .usage import END, START, WINDOW, ZONE


def by_bucket(points: list[dict[str, Any]]) -> dict[datetime, dict[str, Any]]:
    return {datetime.fromisoformat(point.pop("bucket")): point for point in points}


def local_day(moment: datetime) -> datetime:
    return datetime.combine(moment.astimezone(ZONE).date(), time(), ZONE)


async def test_views_per_day_and_hour_in_the_time_zone(
    analytics: AnalyticsService, stored: Stored
) -> None:
    viewed = stored.mine.in_range("dashboard.viewed")
    views: Counter[datetime] = Counter(local_day(event.time) for event in viewed)
    viewers: dict[datetime, set[Any]] = defaultdict(set)
    for event in viewed:
        viewers[local_day(event.time)].add(event.actor_id)

    response = await analytics.get(stored.actor, "/reports/dashboards/views", **WINDOW)
    assert response.status_code == 200, response.text
    points = by_bucket(response.json()["points"])
    assert list(points) == [local_day(START.replace(day=day)) for day in (27, 28, 29, 30)]
    assert {day: point["views"] for day, point in points.items() if point["views"]} == views
    assert {day: point["viewers"] for day, point in points.items() if point["viewers"]} == {
        day: len(users) for day, users in viewers.items()
    }

    hourly = await analytics.get(
        stored.actor, "/reports/dashboards/views", granularity="hour", **WINDOW
    )
    hours = by_bucket(hourly.json()["points"])
    assert len(hours) == 4 * 24 - 1  # the night of the switch to summer time has 23 hours
    expected = Counter(
        event.time.astimezone(ZONE).replace(minute=0, second=0, microsecond=0) for event in viewed
    )
    assert {hour: point["views"] for hour, point in hours.items() if point["views"]} == expected


async def test_views_of_one_dashboard(analytics: AnalyticsService, stored: Stored) -> None:
    dashboard = stored.mine.ids.dashboards[1]
    viewed = [
        e for e in stored.mine.in_range("dashboard.viewed") if str(e.subject.id) == str(dashboard)
    ]
    response = await analytics.get(
        stored.actor, "/reports/dashboards/views", dashboard_id=str(dashboard), **WINDOW
    )
    points = by_bucket(response.json()["points"])
    assert sum(point["views"] for point in points.values()) == len(viewed)
    assert {day: p["views"] for day, p in points.items() if p["views"]} == Counter(
        local_day(event.time) for event in viewed
    )


async def test_top_dashboards_by_views_and_by_viewers(
    analytics: AnalyticsService, stored: Stored
) -> None:
    viewed = stored.mine.in_range("dashboard.viewed")
    views = Counter(str(event.subject.id) for event in viewed)
    viewers = {
        dashboard: len({e.actor_id for e in viewed if str(e.subject.id) == dashboard})
        for dashboard in views
    }
    for by, key in (("views", views), ("viewers", viewers)):
        response = await analytics.get(stored.actor, "/reports/dashboards/top", by=by, **WINDOW)
        assert response.status_code == 200, response.text
        rows = response.json()["rows"]
        assert {(r["dashboard_id"], r["views"], r["viewers"]) for r in rows} == {
            (d, views[d], viewers[d]) for d in views
        }
        assert [r[by] for r in rows] == sorted(key.values(), reverse=True)
        limited = await analytics.get(
            stored.actor, "/reports/dashboards/top", by=by, limit=2, **WINDOW
        )
        assert limited.json()["rows"] == rows[:2]


async def test_event_mix_per_day(analytics: AnalyticsService, stored: Stored) -> None:
    dashboard_events = [e for e in stored.mine.in_range() if e.subject.type == "dashboard"]
    expected: dict[datetime, Counter[str]] = defaultdict(Counter)
    for event in dashboard_events:
        expected[local_day(event.time)][event.type] += 1
    response = await analytics.get(stored.actor, "/reports/dashboards/event-mix", **WINDOW)
    points = by_bucket(response.json()["points"])
    assert {day: point["events"] for day, point in points.items() if point["events"]} == expected


async def test_dashboards_nobody_opened(analytics: AnalyticsService, stored: Stored) -> None:
    ids = stored.mine.ids
    viewed_in_range = {str(e.subject.id) for e in stored.mine.in_range("dashboard.viewed")}
    # Dashboard 4 is deleted, 3 restored after its deletion and viewed only before the range.
    expected = {d for d in ids.dashboards[:4] if str(d) not in viewed_in_range}
    assert ids.dashboards[3] in expected
    response = await analytics.get(stored.actor, "/reports/dashboards/unopened", **WINDOW)
    assert response.status_code == 200, response.text
    rows = response.json()["rows"]
    assert {row["dashboard_id"] for row in rows} == {str(d) for d in expected}
    last_views = {
        str(d): max(
            (
                e.time
                for e in stored.mine.events
                if str(e.subject.id) == str(d) and e.time < END and e.type == "dashboard.viewed"
            ),
            default=None,
        )
        for d in expected
    }
    for row in rows:
        last = last_views[row["dashboard_id"]]
        got = row["last_viewed_at"]
        assert (datetime.fromisoformat(got) if got else None) == (
            last.replace(microsecond=0) if last else None
        )
