"""The user reports against numbers computed here from the activity the test stored."""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import date, datetime, time, timedelta
from typing import Any

from .conftest import AnalyticsService, Stored
from .usage import WINDOW, ZONE


def with_actor(stored: Stored) -> list[Any]:
    return [event for event in stored.mine.in_range() if event.actor_id is not None]


def starting(day: date) -> datetime:
    return datetime.combine(day, time(), ZONE)


def distinct_users(events: list[Any], period: Any) -> dict[datetime, int]:
    users: dict[datetime, set[Any]] = defaultdict(set)
    for event in events:
        users[starting(period(event.time.astimezone(ZONE).date()))].add(event.actor_id)
    return {start: len(found) for start, found in users.items()}


async def test_daily_weekly_and_monthly_active_users(
    analytics: AnalyticsService, stored: Stored
) -> None:
    events = with_actor(stored)
    response = await analytics.get(stored.actor, "/reports/users/active", **WINDOW)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["users"] == len({event.actor_id for event in events})
    periods = {
        "daily": lambda day: day,
        "weekly": lambda day: day - timedelta(days=day.weekday()),
        "monthly": lambda day: day.replace(day=1),
    }
    for name, period in periods.items():
        points = {datetime.fromisoformat(p["bucket"]): p["users"] for p in body[name]}
        assert {start: users for start, users in points.items() if users} == distinct_users(
            events, period
        ), name
    assert len(body["daily"]) == 4 and len(body["weekly"]) == 2 and len(body["monthly"]) == 1


async def test_sessions_and_their_length(analytics: AnalyticsService, stored: Stored) -> None:
    spans: dict[tuple[Any, str], list[datetime]] = defaultdict(list)
    for event in with_actor(stored):
        if event.session_id:
            spans[(event.actor_id, event.session_id)].append(event.time.replace(microsecond=0))
    lengths = {key: (max(times) - min(times)).total_seconds() for key, times in spans.items()}
    started = Counter(starting(min(times).astimezone(ZONE).date()) for times in spans.values())
    response = await analytics.get(stored.actor, "/reports/users/sessions", **WINDOW)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["sessions"] == len(spans)
    assert body["average_length_s"] == sum(lengths.values()) / len(lengths)
    points = {datetime.fromisoformat(p["bucket"]): p for p in body["series"]["points"]}
    assert {start: p["sessions"] for start, p in points.items() if p["sessions"]} == started


async def test_activity_by_resource_type(analytics: AnalyticsService, stored: Stored) -> None:
    events = with_actor(stored)
    counts = Counter(event.subject.type for event in events)
    response = await analytics.get(stored.actor, "/reports/users/by-resource-type", **WINDOW)
    rows = response.json()["rows"]
    assert {row["resource_type"]: row["events"] for row in rows} == counts
    assert {row["resource_type"]: row["users"] for row in rows} == {
        kind: len({e.actor_id for e in events if e.subject.type == kind}) for kind in counts
    }


async def test_one_users_timeline(analytics: AnalyticsService, stored: Stored) -> None:
    user = stored.mine.ids.users[2]
    mine = sorted(
        (event for event in with_actor(stored) if event.actor_id == user),
        key=lambda event: (event.time.replace(microsecond=0), event.type, str(event.id)),
    )
    response = await analytics.get(stored.actor, f"/reports/users/{user}/timeline", **WINDOW)
    assert response.status_code == 200, response.text
    rows = response.json()["rows"]
    assert [
        (datetime.fromisoformat(row["at"]), row["activity_type"], row["resource_id"])
        for row in rows
    ] == [(event.time.replace(microsecond=0), event.type, str(event.subject.id)) for event in mine]
    assert {row["session_id"] for row in rows} == {event.session_id or "" for event in mine}
