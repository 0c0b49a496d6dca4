"""``make seed-analytics ROWS=… TENANTS=…``: the usage ``analytics_usage.Generator`` makes, over
many tenants, through the real pipeline (small volumes) or straight into ClickHouse (large ones).

``ROWS`` is the number of ``dashboard_events`` and of ``query_metrics`` rows; ``user_activity``
gets one row per event with an actor, about 1.55 times ``ROWS``.

Two ways in (``--via``; ``auto``: ``pipeline`` up to 20,000 rows):
- ``pipeline``: contract events (``make_event``: validated) published to ``<source>.events`` on the
  stack's broker; ingestion consumes them into its tables (the whole path, at its speed);
- ``clickhouse``: the same events as the rows ingestion maps them to (``rows_of``; the test checks
  they equal ``map_event`` of the contract event), RowBinary by ingestion's encoder, inserted by
  the kit's writer. Their Kafka origin is the topic ``seed.analytics`` (no consumer reads it), so
  ingestion's watermarks of the real topics are untouched.

Why a module under bench/ and not an entry point of the analytics package: the service only reads,
and this writes through ingestion's mapping and encoder and Kafka; as a bench tool it needs no
dependency of the service on ingestion, and the benchmark imports it directly.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import itertools
import sys
import time
import uuid
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaProducer

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from lookout_contracts import make_event
from lookout_contracts.envelope import Envelope
from lookout_contracts.events.dashboard import DashboardUpdatedV1, DashboardViewedV1
from lookout_contracts.events.datasource import QueryExecutedV1
from lookout_contracts.events.identity import UserLoggedInV1
from lookout_contracts.topics import events_topic
from lookout_ingestion.encoding import encode_origin, encode_row, encode_topic
from lookout_ingestion.mapping import AD_HOC, COLUMNS, NO_USER, TABLES, Row, Table
from lookout_kit.clickhouse import ClickHouse, client_session
from lookout_testing.servers import Servers

from bench.analytics_usage import Generator, Plan

SEED_TOPIC = "seed.analytics"
PIPELINE_MAX_ROWS = 20_000
CHANGED = ("layout",)


_VIEWED_JSON = '{"version":1}'


def _updated(owner: uuid.UUID) -> DashboardUpdatedV1:
    """A ``dashboard.updated``'s data: its owner (the actor) moved charts."""
    return DashboardUpdatedV1(
        name="dashboard",
        owner_id=owner,
        is_public=False,
        tags=(),
        version=2,
        changed_fields=CHANGED,
    )


@functools.cache
def _updated_json(owner: uuid.UUID) -> str:
    return _updated(owner).model_dump_json()


def _owner(plan: Plan) -> uuid.UUID:
    assert plan.actor is not None, "a dashboard.updated always has its owner as actor"
    return plan.actor


def event_of(plan: Plan) -> Envelope[Any]:
    """The contract event a plan stands for (validated by ``make_event``)."""
    data: Any
    if plan.kind == "dashboard.viewed":
        data = DashboardViewedV1(version=1)
    elif plan.kind == "dashboard.updated":
        data = _updated(_owner(plan))
    elif plan.kind == "user.logged_in":
        data = UserLoggedInV1(method="password", client_address=None)
    else:
        source, text, elapsed, returned, size, status, saved = plan.extra
        data = QueryExecutedV1(
            query_id=plan.subject,
            data_source_id=source,
            saved_query_id=saved,
            query_text=text,
            execution_time_ms=elapsed,
            rows_returned=returned,
            bytes_returned=size,
            status=status,
            error=None,
        )
    return make_event(
        plan.kind,
        tenant_id=plan.tenant_id,
        subject_id=plan.subject,
        data=data,
        actor_id=plan.actor,
        session_id=plan.session,
        event_id=plan.event_id,
        time=datetime.fromtimestamp(plan.at, UTC),
    )


def rows_of(plan: Plan) -> list[tuple[Table, Row]]:
    """The rows ingestion maps ``event_of(plan)`` to (``map_event``), made without the event."""
    rows: list[tuple[Table, Row]] = []
    row: Row
    actor, subject_type = plan.actor, "query"
    if plan.kind.startswith("dashboard."):
        subject_type = "dashboard"
        if plan.kind == "dashboard.viewed":
            data = _VIEWED_JSON
        else:
            data = _updated_json(_owner(plan))
        row = (
            plan.event_id,
            str(plan.subject),
            actor or NO_USER,
            plan.tenant_id,
            plan.kind,
            data,
            plan.at,
        )
        rows.append(("dashboard_events", row))
    elif plan.kind == "query.executed":
        source, text, elapsed, returned, size, status, saved = plan.extra
        row = (
            plan.subject,
            actor or NO_USER,
            plan.tenant_id,
            source,
            saved or AD_HOC,
            text,
            elapsed,
            returned,
            size,
            plan.at,
            status,
        )
        rows.append(("query_metrics", row))
    else:
        subject_type = "user"
    if actor is not None:
        row = (
            plan.event_id,
            actor,
            plan.tenant_id,
            plan.session or "",
            plan.kind,
            subject_type,
            str(plan.subject),
            plan.at,
        )
        rows.append(("user_activity", row))
    return rows


async def into_clickhouse(
    clickhouse: ClickHouse, plans: Iterable[Plan], *, batch_rows: int = 200_000
) -> dict[str, int]:
    """Insert the plans' rows straight (ingestion's encoder, the kit's writer), ``batch_rows`` per
    INSERT, at most two INSERTs in flight while the next rows are made; the rows per table."""
    origin_topic = encode_topic(SEED_TOPIC)
    offsets = itertools.count()
    bodies: dict[Table, list[bytes]] = {table: [] for table in TABLES}
    counts = dict.fromkeys(TABLES, 0)
    in_flight: set[asyncio.Task[None]] = set()

    async def flush(table: Table) -> None:
        body, bodies[table] = b"".join(bodies[table]), []
        while len(in_flight) >= 2:
            done, _ = await asyncio.wait(in_flight, return_when=asyncio.FIRST_COMPLETED)
            in_flight.difference_update(done)
            for task in done:
                task.result()
        query_id = f"seed-analytics-{uuid.uuid4().hex}"
        in_flight.add(
            asyncio.create_task(
                clickhouse.insert_rowbinary(table, COLUMNS[table], body, query_id=query_id)
            )
        )

    for plan in plans:
        for table, row in rows_of(plan):
            rows = bodies[table]
            rows.append(encode_row(table, row, encode_origin(origin_topic, 0, next(offsets))))
            counts[table] += 1
            if len(rows) >= batch_rows:
                await flush(table)
    for table in TABLES:
        if bodies[table]:
            await flush(table)
    if in_flight:
        await asyncio.gather(*in_flight)
    return counts


async def into_pipeline(bootstrap_servers: str, plans: Iterable[Plan]) -> int:
    """Publish the plans as contract events to their services' topics; how many."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap_servers, linger_ms=20)
    await producer.start()
    try:
        sent = []
        for plan in plans:
            event = event_of(plan)
            sent.append(
                await producer.send(
                    events_topic(event.source), value=event.to_json(), key=event.key
                )
            )
        await asyncio.gather(*sent)
    finally:
        await producer.stop()
    return len(sent)


async def seed(
    rows: int,
    tenants: int,
    *,
    via: str = "auto",
    tenant_ids: tuple[uuid.UUID, ...] = (),
    seed: int = 17,
    days: int = 60,
    servers: Servers | None = None,
    database: str = "default",
) -> dict[str, int]:
    """Generate and load ``rows`` (see the module); what was loaded (rows per table, or events)."""
    servers = servers or Servers.from_environment()
    generator = Generator(tenants, seed=seed, days=days, tenant_ids=tenant_ids)
    plans = generator.plans(rows)
    if via == "pipeline" or (via == "auto" and rows <= PIPELINE_MAX_ROWS):
        return {"events": await into_pipeline(servers.kafka, plans)}
    async with client_session() as session:
        clickhouse = ClickHouse(session, url=servers.clickhouse, database=database, timeout_s=600)
        return await into_clickhouse(clickhouse, plans)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--tenants", type=int, default=10)
    parser.add_argument("--days", type=int, default=60)
    parser.add_argument("--seed", type=int, default=17)
    parser.add_argument("--via", choices=("auto", "pipeline", "clickhouse"), default="auto")
    parser.add_argument(
        "--tenant-id",
        type=uuid.UUID,
        action="append",
        default=[],
        help="a real tenant's id (repeatable): the first is the heaviest",
    )
    args = parser.parse_args()
    started = time.perf_counter()
    loaded = asyncio.run(
        seed(
            args.rows,
            args.tenants,
            via=args.via,
            tenant_ids=tuple(args.tenant_id),
            seed=args.seed,
            days=args.days,
        )
    )
    print(f"seeded {loaded} over {args.tenants} tenants in {time.perf_counter() - started:.1f} s")


if __name__ == "__main__":
    main()
