"""Events for the ingestion tests: real contract events, stamped out fast from templates.

Each kind is one event made by ``make_event``; copies get fresh ids by replacing the template's
UUIDs in its JSON (so they stay valid), which is what lets a test produce 100,000 events quickly.
"""

from __future__ import annotations

import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime

from lookout_contracts import make_event
from lookout_contracts.events.alert import AlertTriggeredV1
from lookout_contracts.events.dashboard import DashboardViewedV1
from lookout_contracts.events.datasource import QueryExecutedV1
from lookout_contracts.events.identity import UserLoggedInV1
from lookout_ingestion.mapping import Table

TENANT = uuid.uuid4()


@dataclass(frozen=True)
class Kind:
    """A template event, the tables its copies land in, and the source topic they go to."""

    source: str
    template: str
    tables: tuple[Table, ...]
    ids: tuple[str, ...]
    """UUIDs in the template that each copy replaces (event id, subject id, ...)."""


def _kinds() -> list[Kind]:
    actor = uuid.uuid4()
    dashboard, query, alert = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    viewed = make_event(
        "dashboard.viewed",
        tenant_id=TENANT,
        subject_id=dashboard,
        actor_id=actor,
        session_id="session-1",
        data=DashboardViewedV1(version=2),
    )
    executed = make_event(
        "query.executed",
        tenant_id=TENANT,
        subject_id=query,
        actor_id=actor,
        data=QueryExecutedV1(
            query_id=query,
            data_source_id=uuid.uuid4(),
            saved_query_id=None,
            query_text="SELECT count() FROM events WHERE tenant_id = {tenant:UUID}",
            execution_time_ms=42,
            rows_returned=1,
            bytes_returned=8,
            status="success",
            error=None,
        ),
    )
    triggered = make_event(  # no actor, not a dashboard: lands nowhere (offsets still advance)
        "alert.triggered",
        tenant_id=TENANT,
        subject_id=alert,
        data=AlertTriggeredV1(
            history_id=uuid.uuid4(), saved_query_id=None, query_id=None, observed_value=1.5
        ),
    )
    login = make_event(
        "user.logged_in",
        tenant_id=TENANT,
        subject_id=actor,
        actor_id=actor,
        session_id="session-2",
        data=UserLoggedInV1(method="password", client_address=None),
    )
    return [
        Kind(
            "dashboard",
            viewed.to_json().decode(),
            ("dashboard_events", "user_activity"),
            (str(viewed.id), str(dashboard)),
        ),
        Kind(
            "datasource",
            executed.to_json().decode(),
            ("query_metrics", "user_activity"),
            (str(executed.id), str(query)),
        ),
        Kind("alert", triggered.to_json().decode(), (), (str(triggered.id), str(alert))),
        Kind("identity", login.to_json().decode(), ("user_activity",), (str(login.id),)),
    ]


KINDS = _kinds()


@dataclass
class Expected:
    """What the produced events should leave in ClickHouse: rows per table."""

    rows: Counter[str] = field(default_factory=Counter)
    events: int = 0


def stamp(kind: Kind) -> tuple[bytes, bytes]:
    """A fresh copy of ``kind``'s event: (key, value), every id new."""
    text = kind.template
    fresh = [str(uuid.uuid4()) for _ in kind.ids]
    for old, new in zip(kind.ids, fresh, strict=True):
        text = text.replace(old, new)
    now = datetime.now(UTC)
    stamp_time = now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}Z"
    text = text[: text.index('"time":"') + 8] + stamp_time + text[text.index('"time":"') + 32 :]
    key = (fresh[1] if len(fresh) > 1 else fresh[0]).encode()
    return key, text.encode()


def mixed_events(count: int, expected: Expected) -> list[tuple[str, bytes, bytes]]:
    """``count`` events over the four kinds: (source, key, value), tallied into ``expected``."""
    events = []
    for n in range(count):
        kind = KINDS[n % len(KINDS)]
        key, value = stamp(kind)
        events.append((kind.source, key, value))
        expected.rows.update(kind.tables)
        expected.events += 1
    return events
