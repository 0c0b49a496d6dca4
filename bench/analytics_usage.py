"""Realistic usage for the analytics reports over many tenants, as plans of contract events
(``make seed-analytics`` and ``make bench-analytics`` load them: ``analytics_seed.py``).

What is generated (``Generator``), per tenant, from one seed:
- **tenants**: sizes Zipf-like (tenant k has weight 1/k): the first tenant is the heaviest (the
  benchmark reports on it: the worst case);
- **users**: 3 to ~200 per tenant, a few heavy ones (Zipf 1.2 over the users);
- **dashboards**: popularity Zipf 1.1; ``dashboard.viewed`` (a quarter anonymous: public and
  embedded dashboards have no actor) and ``dashboard.updated`` by its owner;
- **queries**: per data source, saved queries (an id and a text each) with Zipf popularity, and
  ad hoc queries (no saved query id) in 15% of the executions, all by users; execution time log-normal
  with a per-source median (20 ms to 800 ms), sigma 1.1, and a 1% tail ten times slower; 2% ``failed``,
  a run past 30 s is a ``timeout`` at 30,000 ms, 0.5% ``cancelled``; a quarter run by alert
  evaluations (no actor); rows log-normal, bytes per row per source;
- **time**: ``--days`` (60) up to now; hours weighted by a working-day curve in the tenant's
  offset from UTC (-8 to +9 h), weekends at a quarter; a session per user and local day,
  started by a ``user.logged_in``.
"""

from __future__ import annotations

import itertools
import math
import random
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, NamedTuple

TIMEOUT_MS = 30_000
TEXTS = (
    "SELECT count() FROM orders WHERE day = {day:Date}",
    "SELECT region, sum(amount) FROM orders GROUP BY region",
    "SELECT * FROM customers ORDER BY created DESC LIMIT 50",
    "SELECT product, count() FROM order_lines WHERE day >= {since:Date} GROUP BY product",
    "SELECT avg(latency_ms) FROM requests WHERE service = {service:String}",
    "SELECT status, count() FROM tickets GROUP BY status",
    "SELECT user_id, max(seen) FROM visits GROUP BY user_id ORDER BY 2 DESC LIMIT 100",
    "SELECT toStartOfHour(at) AS h, count() FROM events GROUP BY h ORDER BY h",
)
# Relative activity per local hour of a working day (0..23), and per weekday (Monday first).
DIURNAL = (1, 1, 1, 1, 1, 2, 4, 8, 14, 18, 18, 16, 12, 15, 17, 16, 13, 9, 6, 4, 3, 2, 2, 1)
WEEKLY = (1.0, 1.0, 1.0, 1.0, 0.9, 0.25, 0.2)


class Plan(NamedTuple):
    """One event to make: its type, ids, time (UTC seconds), session and what its data needs."""

    kind: str
    event_id: uuid.UUID
    tenant_id: uuid.UUID
    actor: uuid.UUID | None
    subject: uuid.UUID
    at: int
    session: str | None
    extra: tuple[Any, ...]


def zipf(n: int, s: float) -> list[float]:
    """Cumulative weights of ranks 1..n with weight 1/k^s."""
    return list(itertools.accumulate(1 / (k**s) for k in range(1, n + 1)))


@dataclass
class Tenant:
    id: uuid.UUID
    share: float
    offset_h: int
    users: list[uuid.UUID]
    user_weights: list[float]
    dashboards: list[uuid.UUID]
    dashboard_weights: list[float]
    owners: list[uuid.UUID]
    sources: list[tuple[uuid.UUID, float, int]]
    """(id, median ms, bytes per row) per data source."""
    queries: list[tuple[int, str, uuid.UUID]]
    """(source index, text, saved query id) per saved query."""
    query_weights: list[float]


def _uuid(rng: random.Random) -> uuid.UUID:
    return uuid.UUID(int=rng.getrandbits(128))


class Generator:
    """Usage of ``tenants`` tenants (``tenant_ids`` first: real tenants) over ``days`` up to
    ``end``, reproducible from ``seed``."""

    def __init__(
        self,
        tenants: int,
        *,
        seed: int = 17,
        days: int = 60,
        end: datetime | None = None,
        tenant_ids: tuple[uuid.UUID, ...] = (),
    ) -> None:
        self.rng = random.Random(seed)
        rng = self.rng
        end = end or datetime.now(UTC)
        self.end = int(end.replace(minute=0, second=0, microsecond=0).timestamp()) + 3600
        self.start = self.end - days * 86_400
        weights = [1 / k for k in range(1, tenants + 1)]
        total = sum(weights)
        self.tenants: list[Tenant] = []
        for index in range(tenants):
            share = weights[index] / total
            tenant_id = tenant_ids[index] if index < len(tenant_ids) else _uuid(rng)
            users = [_uuid(rng) for _ in range(max(3, min(200, int(share * 2000))))]
            dashboards = [_uuid(rng) for _ in range(max(5, min(400, int(share * 4000))))]
            sources = [
                (
                    _uuid(rng),
                    math.exp(rng.uniform(math.log(20), math.log(800))),
                    rng.randint(40, 400),
                )
                for _ in range(rng.randint(1, 6))
            ]
            queries = [
                (rng.randrange(len(sources)), f"{rng.choice(TEXTS)} -- q{n}", _uuid(rng))
                for n in range(rng.randint(5, 40))
            ]
            self.tenants.append(
                Tenant(
                    id=tenant_id,
                    share=share,
                    offset_h=rng.randint(-8, 9),
                    users=users,
                    user_weights=zipf(len(users), 1.2),
                    dashboards=dashboards,
                    dashboard_weights=zipf(len(dashboards), 1.1),
                    owners=[rng.choice(users) for _ in dashboards],
                    sources=sources,
                    queries=queries,
                    query_weights=zipf(len(queries), 1.0),
                )
            )

    def _hours(self, tenant: Tenant) -> tuple[list[int], list[float]]:
        hours = list(range(self.start, self.end, 3600))
        weights = []
        for hour in hours:
            local = datetime.fromtimestamp(hour + tenant.offset_h * 3600, UTC)
            weights.append(DIURNAL[local.hour] * WEEKLY[local.weekday()])
        return hours, list(itertools.accumulate(weights))

    def plans(self, rows: int) -> Iterator[Plan]:
        """``rows`` dashboard events and ``rows`` query executions (about: each tenant's share is
        rounded), with the logins that start their sessions; tenant by tenant, in no time order."""
        for tenant in self.tenants:
            yield from self._tenant_plans(tenant, max(1, round(rows * tenant.share)))

    def _tenant_plans(self, tenant: Tenant, n: int) -> Iterator[Plan]:
        rng = self.rng
        hours, hour_weights = self._hours(tenant)
        started: set[str] = set()
        users, tid, shift = tenant.users, tenant.id, tenant.offset_h * 3600

        def when(k: int) -> list[int]:
            chosen = rng.choices(hours, cum_weights=hour_weights, k=k)
            return [hour + rng.randrange(3600) for hour in chosen]

        def event(
            kind: str, actor: uuid.UUID | None, subject: uuid.UUID, at: int, extra: tuple[Any, ...]
        ) -> Iterator[Plan]:
            """The event in its actor's session (a session per user and local day, started by a
            login at most an hour into the day's work, never after the event)."""
            session = None
            if actor is not None:
                local = at + shift
                day = local // 86_400
                session = f"{actor.hex[:12]}-{day}"
                if session not in started:
                    started.add(session)
                    login = day * 86_400 - shift + 8 * 3600 + rng.randrange(3600)
                    login = min(at, max(self.start, login))
                    yield Plan("user.logged_in", _uuid(rng), tid, actor, actor, login, session, ())
            yield Plan(kind, _uuid(rng), tid, actor, subject, at, session, extra)

        count = len(tenant.dashboards)
        chosen = rng.choices(range(count), cum_weights=tenant.dashboard_weights, k=n)
        actors = rng.choices(users, cum_weights=tenant.user_weights, k=n)
        actor: uuid.UUID | None
        for index, user, at in zip(chosen, actors, when(n), strict=True):
            if rng.random() < 0.04:
                kind, actor = "dashboard.updated", tenant.owners[index]
            else:
                kind, actor = "dashboard.viewed", (None if rng.random() < 0.25 else user)
            yield from event(kind, actor, tenant.dashboards[index], at, ())

        count = len(tenant.queries)
        picked = rng.choices(range(count), cum_weights=tenant.query_weights, k=n)
        actors = rng.choices(users, cum_weights=tenant.user_weights, k=n)
        for index, user, at in zip(picked, actors, when(n), strict=True):
            # A quarter are alert evaluations (no actor: a saved query), 15% a user's ad hoc query.
            who = rng.random()
            actor = None if who < 0.25 else user
            saved: uuid.UUID | None
            if who < 0.25 or who >= 0.40:
                source_index, text, saved = tenant.queries[index]
            else:
                source_index = rng.randrange(len(tenant.sources))
                text, saved = f"{rng.choice(TEXTS)} -- ad hoc", None
            source, median_ms, width = tenant.sources[source_index]
            elapsed = rng.lognormvariate(math.log(median_ms), 1.1)
            if rng.random() < 0.01:
                elapsed *= 10
            draw = rng.random()
            status = "success"
            if elapsed >= TIMEOUT_MS:
                status, elapsed = "timeout", TIMEOUT_MS
            elif draw < 0.02:
                status = "failed"
            elif draw < 0.025:
                status = "cancelled"
            returned = int(rng.lognormvariate(4, 2)) if status == "success" else 0
            extra = (source, text, int(elapsed), returned, returned * width, status, saved)
            yield from event("query.executed", actor, _uuid(rng), at, extra)
