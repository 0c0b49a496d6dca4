"""A tenant's usage for the report tests: contract events over a few days around a DST change,
some outside the range, made from a seed; and the same ids under another tenant."""

from __future__ import annotations

import random
import uuid
import zoneinfo
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from lookout_contracts import make_event
from lookout_contracts.envelope import Envelope
from lookout_contracts.events.dashboard import (
    DashboardCreatedV1,
    DashboardDeletedV1,
    DashboardRestoredV1,
    DashboardViewedV1,
)
from lookout_contracts.events.datasource import QueryExecutedV1
from lookout_contracts.events.identity import UserLoggedInV1

TZ = "Europe/Paris"
ZONE = zoneinfo.ZoneInfo(TZ)
# Friday to Tuesday around the switch to summer time (Sunday 2026-03-29, 02:00 → 03:00).
START = datetime(2026, 3, 27, tzinfo=ZONE)
END = datetime(2026, 3, 31, tzinfo=ZONE)
WINDOW = {"from": START.isoformat(), "to": END.isoformat(), "tz": TZ}
STATUSES = ("success", "success", "success", "failed", "timeout", "cancelled")


@dataclass(frozen=True)
class Ids:
    """Dashboards, users, data sources and query texts; shared by both tenants of a test."""

    users: list[uuid.UUID] = field(default_factory=lambda: [uuid.uuid4() for _ in range(4)])
    dashboards: list[uuid.UUID] = field(default_factory=lambda: [uuid.uuid4() for _ in range(5)])
    sources: list[uuid.UUID] = field(default_factory=lambda: [uuid.uuid4() for _ in range(2)])
    texts: tuple[str, ...] = (
        "SELECT count() FROM orders WHERE day = {day:Date}",
        "SELECT sum(amount) FROM orders",
        "SELECT * FROM customers LIMIT 10",
    )

    saved: tuple[tuple[uuid.UUID, str], ...] = field(
        default_factory=lambda: (
            (uuid.uuid4(), "SELECT count() FROM orders WHERE day = {day:Date}"),
            (uuid.uuid4(), "SELECT count() FROM orders WHERE day = {day:Date}"),  # a copy
            (uuid.uuid4(), "SELECT * FROM customers LIMIT 10"),
        )
    )
    """Saved queries (id, text): two with the same text, so a saved query is not its text."""

    def source_of(self, text: str) -> uuid.UUID:
        return self.sources[0] if self.texts.index(text) < 2 else self.sources[1]


@dataclass
class Usage:
    tenant_id: uuid.UUID
    ids: Ids
    events: list[Envelope[Any]] = field(default_factory=list)

    def in_range(self, kind: str | None = None) -> list[Envelope[Any]]:
        return [
            event
            for event in self.events
            if START <= event.time < END and (kind is None or event.type == kind)
        ]


def make_usage(tenant_id: uuid.UUID, ids: Ids, seed: int, volume: int = 60) -> Usage:
    """``volume`` views, executions and logins at random times from a day before the range to a
    day after it, plus: every dashboard created before the range; dashboard 4 deleted, dashboard
    3 deleted and restored, both before the range; dashboard 3 viewed only before the range; a
    view exactly at the range's start and one exactly at its end."""
    chance = random.Random(seed)
    usage = Usage(tenant_id, ids)
    owner = ids.users[0]
    before = START - timedelta(days=2)

    def add(kind: str, subject: uuid.UUID | str, data: Any, when: datetime, **kw: Any) -> None:
        usage.events.append(
            make_event(kind, tenant_id=tenant_id, subject_id=subject, data=data, time=when, **kw)
        )

    def moment() -> datetime:
        seconds = chance.uniform(-86_400, (END - START).total_seconds() + 86_400)
        return START + timedelta(seconds=int(seconds))

    def session(user: uuid.UUID, when: datetime) -> str | None:
        # A session per user and local day; one event in ten has none (a machine, say).
        if chance.random() < 0.1:
            return None
        return f"s-{ids.users.index(user)}-{when.astimezone(ZONE).date()}"

    for dashboard in ids.dashboards:
        created = DashboardCreatedV1(name="d", owner_id=owner, is_public=False, tags=(), version=1)
        add("dashboard.created", dashboard, created, before, actor_id=owner)
    add("dashboard.deleted", ids.dashboards[4], DashboardDeletedV1(), before + timedelta(hours=1))
    add("dashboard.deleted", ids.dashboards[3], DashboardDeletedV1(), before + timedelta(hours=2))
    restored = DashboardRestoredV1(version=2, restored_from_version=1)
    add("dashboard.restored", ids.dashboards[3], restored, before + timedelta(hours=3))
    add(
        "dashboard.viewed",
        ids.dashboards[3],
        DashboardViewedV1(version=2),
        START - timedelta(hours=5),
        actor_id=ids.users[1],
    )
    for when in (START, END):
        add(
            "dashboard.viewed",
            ids.dashboards[0],
            DashboardViewedV1(version=1),
            when,
            actor_id=owner,
        )
    for _ in range(volume):
        # Dashboard 1 is the most viewed, by two users; dashboard 0 has the most viewers.
        index = chance.choices((0, 1, 2), weights=(1, 2, 1))[0]
        user, when = chance.choice(ids.users[: (4, 2, 3)[index]]), moment()
        dashboard = ids.dashboards[index]
        viewed = DashboardViewedV1(version=1)
        add(
            "dashboard.viewed",
            dashboard,
            viewed,
            when,
            actor_id=user,
            session_id=session(user, when),
        )
    for _ in range(volume):
        # Three in five run a saved query, the others are ad hoc, with the same texts.
        saved, text = (
            chance.choice(ids.saved) if chance.random() < 0.6 else (None, chance.choice(ids.texts))
        )
        user, when = chance.choice(ids.users), moment()
        status = chance.choice(STATUSES)
        execution = uuid.uuid4()
        data = QueryExecutedV1(
            query_id=execution,
            data_source_id=ids.source_of(text),
            saved_query_id=saved,
            query_text=text,
            execution_time_ms=30_000 if status == "timeout" else chance.randint(1, 5_000),
            rows_returned=chance.randint(0, 10_000),
            bytes_returned=chance.randint(0, 1_000_000),
            status=status,
            error=None,
        )
        add("query.executed", execution, data, when, actor_id=user, session_id=session(user, when))
    for _ in range(volume // 3):
        user, when = chance.choice(ids.users), moment()
        login = UserLoggedInV1(method="password", client_address=None)
        add("user.logged_in", user, login, when, actor_id=user, session_id=f"login-{uuid.uuid4()}")
    return usage
