"""The transactional outbox: write an event in the same transaction as the state change it reports.

``publish_in_tx`` only inserts a row; the relay (``lookout_kit.relay``) sends it to Kafka after the
transaction commits. The ``NOTIFY`` is delivered at commit, so the relay wakes exactly when there is
something committed to send, and never for a transaction that rolled back.

Order per aggregate: the relay sends rows of one key in ``id`` order. A use case that changes an
aggregate must take that aggregate's row lock (its ``UPDATE``) *before* calling ``publish_in_tx``, so
that two transactions on one aggregate get their outbox ids in commit order.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import asyncpg
from lookout_contracts.envelope import Envelope
from lookout_contracts.topics import events_topic

from lookout_kit.telemetry import current_trace_context

NOTIFY_CHANNEL = "lookout_outbox"

_INSERT = """
INSERT INTO outbox (event_id, topic, message_key, event_type, payload, traceparent, tracestate)
VALUES ($1, $2, $3, $4, $5, $6, $7)
"""


# One round trip for the common case of one event: the insert and the wake-up together.
_INSERT_AND_NOTIFY = f"""
WITH inserted AS ({_INSERT} RETURNING id)
SELECT pg_notify('{NOTIFY_CHANNEL}', '') FROM inserted
"""


class OutboxOutsideTransaction(RuntimeError):
    """publish_in_tx was called on a connection with no open transaction."""


def _row(
    event: Envelope[Any], topic: str | None, trace_context: tuple[str | None, str | None]
) -> tuple[Any, ...]:
    return (
        event.id,
        topic or events_topic(event.source),
        event.key,
        event.type,
        event.to_json(),
        *trace_context,
    )


async def publish_in_tx(
    conn: asyncpg.Connection, event: Envelope[Any], *, topic: str | None = None
) -> None:
    """Add ``event`` to the outbox inside the caller's open transaction."""
    await publish_many_in_tx(conn, [event], topic=topic)


async def publish_many_in_tx(
    conn: asyncpg.Connection, events: Sequence[Envelope[Any]], *, topic: str | None = None
) -> None:
    """Add several events, in order, inside the caller's open transaction."""
    if not conn.is_in_transaction():
        raise OutboxOutsideTransaction(
            "publish_in_tx needs the transaction of the state change it reports"
        )
    if not events:
        return
    await _insert(conn, events, topic)


async def execute_with_event(
    conn: asyncpg.Connection,
    statement: str,
    args: Sequence[Any],
    event: Envelope[Any],
    *,
    topic: str | None = None,
) -> None:
    """``statement`` (an ``INSERT``, ``UPDATE`` or ``DELETE`` with its ``$n`` arguments ``args``)
    and ``event``'s outbox row as ONE statement: one round trip instead of four (``BEGIN``, the
    change, the event, ``COMMIT``), and still all or nothing (a statement is its own transaction
    outside one, or part of the caller's inside one). The change runs as a data-modifying ``WITH``
    beside the outbox insert, in the same snapshot: for a change that reads nothing the event
    depends on, and an aggregate whose events need no order among concurrent changes (as one
    execution's end, which happens once)."""
    offset = len(args)
    values = ", ".join(f"${offset + n}" for n in range(1, 8))
    await conn.execute(
        f"WITH change AS ({statement}),"
        " inserted AS (INSERT INTO outbox (event_id, topic, message_key, event_type, payload,"
        f" traceparent, tracestate) VALUES ({values}) RETURNING id)"
        f" SELECT pg_notify('{NOTIFY_CHANNEL}', '') FROM inserted",
        *args,
        *_row(event, topic, current_trace_context()),
    )


async def publish_standalone(
    events_pool: asyncpg.Pool, event: Envelope[Any], *, topic: str | None = None
) -> None:
    """Add an event that reports no state change (e.g. ``dashboard.viewed``): one statement on the
    runtime's ``events_pool``, whose commits do not wait for the WAL flush. Such an event is not worth
    a disk sync on a read path (a database crash in the next moment may lose it; it can never
    publish something that did not happen)."""
    async with events_pool.acquire() as conn:
        await _insert(conn, [event], topic)


async def _insert(
    conn: asyncpg.Connection, events: Sequence[Envelope[Any]], topic: str | None
) -> None:
    # The request's trace context: the relay's producer span is its child (``relay_send.py``).
    trace_context = current_trace_context()
    rows = [_row(event, topic, trace_context) for event in events]
    if len(rows) == 1:
        await conn.execute(_INSERT_AND_NOTIFY, *rows[0])
    else:
        await conn.executemany(_INSERT, rows)
        await conn.execute(f"NOTIFY {NOTIFY_CHANNEL}")
