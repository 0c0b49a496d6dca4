"""The outbox relay: sends committed outbox rows to Kafka and marks them published.

Woken by ``LISTEN/NOTIFY`` (with a slow poll as a safety net), it claims a batch of unpublished rows
with ``FOR UPDATE SKIP LOCKED`` so that replicas share the work, sends them with the row's key and
``content-type`` header (and, for a row written inside a trace, a producer span's ``traceparent`` and
``tracestate``: ``relay_send.py``), waits for every acknowledgement, and marks the acknowledged rows
published in the same transaction that holds their locks.

Tracing: the relay's own work -- its polls, claims, marks and prunes -- runs ``untraced`` (no current
span, instrumentation suppressed): it makes no span, so no root span per poll. Only the producer spans
of rows that carry a trace context are recorded, as children of the request that wrote them.

Order per key with several relays: a claimed row is only sent when no *earlier* unpublished row of the
same key is outside this relay's batch (i.e. locked by another relay, which has not committed yet).
Such rows stay for a later round. So rows of one key reach Kafka in ``id`` order. Within a batch,
``relay_send`` keeps that order when Kafka fails some rows: no row is sent (or marked published) after
an earlier row of its key that was not acknowledged.

Delivery is at least once: only an acknowledgement lost after the broker stored a message (then the
relay dies or the ack times out) can send it twice; consumers deduplicate by event id.

The relay and the prune run as two ``lookout_kit.worker.Worker``s (``outbox-relay``, ``outbox-prune``):
a failing round backs off with jitter, and ``stop()`` lets a round finish (bounded by the Kafka
request timeout) so that what Kafka acknowledged is marked published. The prune takes its turn
through the ``periodic_tasks`` lease (``outbox.prune``), so one replica prunes per interval.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError
from prometheus_client import Counter, Gauge, Histogram

from lookout_kit.lease import new_owner, take_turn
from lookout_kit.outbox import NOTIFY_CHANNEL
from lookout_kit.relay_send import send_in_key_order
from lookout_kit.retry import Backoff
from lookout_kit.telemetry import untraced
from lookout_kit.worker import AT_ONCE, IDLE, NextRound, Worker

logger = logging.getLogger("lookout.relay")

PUBLISHED = Counter("lookout_outbox_published_total", "Outbox events sent to Kafka")
FAILED = Counter("lookout_outbox_publish_failures_total", "Outbox events Kafka did not acknowledge")
BATCH_SIZE = Histogram(
    "lookout_outbox_batch_size",
    "Rows sent per relay batch",
    buckets=(1, 5, 10, 50, 100, 500, 1000, 5000, 10000),
)
COMMIT_TO_ACK = Histogram(
    "lookout_outbox_commit_to_ack_seconds",
    "From the outbox row's insert to Kafka's acknowledgement",
    buckets=(0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
PRUNED = Counter("lookout_outbox_pruned_total", "Published outbox rows deleted after retention")
RELAY_UP = Gauge(
    "lookout_outbox_relay_connected", "1 while the relay's Kafka producer is connected"
)

PRUNE_TASK = "outbox.prune"
RELAY_BACKOFF = Backoff(initial_s=0.2, max_s=10.0)
PRUNE_BACKOFF = Backoff(initial_s=1.0, max_s=60.0)
# Another relay holds earlier rows of a key; it commits within milliseconds.
HELD_BACK_WAIT_S = 0.005
# Each replica asks this often per prune interval whether it is its turn to prune.
PRUNE_CHECKS_PER_INTERVAL = 5

# ``xmax`` of a row locked here is the transaction that locked this version of it before: a relay
# claimed it, and may have sent it before it died or lost the acknowledgement. It is 0 for a row
# never claimed, and the version's own ``xmin`` for a row a round held back unsent (``_NOT_SENT``
# made the version, and the round's lock stays on it); it is also 0 once a vacuum froze the row's
# page after the earlier claim ended: the mark is best effort, a lost one stores a far resend twice.
_CLAIM = """
SELECT id, event_id, topic, message_key, payload, traceparent, tracestate, created_at,
       xmax::text NOT IN ('0', xmin::text) AS claimed_before
FROM outbox
WHERE published_at IS NULL
ORDER BY id
LIMIT $1
FOR UPDATE SKIP LOCKED
"""

# Unpublished rows up to the batch's last id: the batch itself plus rows other relays hold locked.
_UNPUBLISHED_UP_TO = """
SELECT id, message_key FROM outbox WHERE published_at IS NULL AND id <= $1
"""

_MARK_PUBLISHED = "UPDATE outbox SET published_at = clock_timestamp() WHERE id = ANY($1::bigint[])"

# Rows held back unsent get a new version of this round's own (``xmin`` = ``xmax``): the next
# claim does not take them for possible resends (they were never sent).
_NOT_SENT = "UPDATE outbox SET published_at = NULL WHERE id = ANY($1::bigint[])"

_PRUNE = """
DELETE FROM outbox WHERE id IN (
    SELECT id FROM outbox
    WHERE published_at IS NOT NULL AND published_at < $1
    LIMIT $2
    FOR UPDATE SKIP LOCKED
)
"""


@dataclass(frozen=True)
class BatchOutcome:
    """What one round did: rows sent and acknowledged, rows held back for order, rows that failed."""

    published: int = 0
    held_back: int = 0
    failed: int = 0


_PRUNE_INBOX = """
DELETE FROM inbox WHERE ctid IN (
    SELECT ctid FROM inbox WHERE applied_at < $1 LIMIT $2 FOR UPDATE SKIP LOCKED
)
"""
"""The reactions' inbox (``reactions.py``): an event id only guards against redelivery for as long
as the event can be delivered again, so ids older than ``inbox_retention`` go with the outbox's."""


def make_producer(
    bootstrap_servers: str, request_timeout_ms: int, *, idempotent: bool = False
) -> AIOKafkaProducer:
    # Idempotence only where the broker has it (``kafka_idempotent_producer``: not the local
    # Tansu); no transactions either way, see the module doc.
    return AIOKafkaProducer(
        bootstrap_servers=bootstrap_servers,
        acks="all",
        enable_idempotence=idempotent,
        linger_ms=0,
        max_batch_size=512 * 1024,
        request_timeout_ms=request_timeout_ms,
        retry_backoff_ms=100,
    )


class OutboxRelay:
    """One relay loop over one service database's outbox."""

    def __init__(
        self,
        *,
        dsn: str,
        pool: asyncpg.Pool,
        bootstrap_servers: str,
        batch_size: int = 1_000,
        poll_interval_s: float = 1.0,
        request_timeout_ms: int = 5_000,
        retention: timedelta = timedelta(hours=72),
        prune_interval_s: float = 300.0,
        linger_s: float = 0.0,
        inbox_retention: timedelta = timedelta(days=7),
        producer_factory: Callable[[str, int], AIOKafkaProducer] = make_producer,
    ) -> None:
        self._dsn = dsn
        self._pool = pool
        self._bootstrap_servers = bootstrap_servers
        self._batch_size = batch_size
        self._request_timeout_ms = request_timeout_ms
        self._retention = retention
        self._inbox_retention = inbox_retention
        self._prune_interval_s = prune_interval_s
        self._producer: AIOKafkaProducer | None = None
        self._producer_factory = producer_factory
        self._listener: asyncpg.Connection | None = None
        self._owner = new_owner(PRUNE_TASK)
        # A round waits at most for Kafka's acknowledgements: let it finish, then mark them.
        round_bound_s = request_timeout_ms / 1000 + 1.0
        self._relay = Worker(
            "outbox-relay",
            self._relay_round,
            interval_s=poll_interval_s,  # woken by NOTIFY; the poll is a safety net
            # After a wake-up, let the commits of the next moment join the round: a busy service
            # makes a few larger rounds rather than one per event.
            linger_s=linger_s,
            backoff=RELAY_BACKOFF,
            stop_timeout_s=round_bound_s,
            on_failure=self._after_failure,
        )
        self._pruner = Worker(
            "outbox-prune",
            self._prune_round,
            interval_s=prune_interval_s / PRUNE_CHECKS_PER_INTERVAL,
            jitter=0.2,
            backoff=PRUNE_BACKOFF,
            stop_timeout_s=round_bound_s,
        )

    # -- lifecycle -------------------------------------------------------------------------------

    def start(self) -> None:
        self._relay.start()
        self._pruner.start()

    async def stop(self) -> None:
        await asyncio.gather(self._relay.stop(), self._pruner.stop())
        await self._close_listener()
        await self._close_producer()

    # -- one round -------------------------------------------------------------------------------

    async def publish_batch(self) -> BatchOutcome:
        """Claim, send and mark one batch. Raises when Kafka could not be reached at all."""
        with untraced():
            return await self._publish_batch()

    async def _publish_batch(self) -> BatchOutcome:
        producer = await self._ensure_producer()
        async with self._pool.acquire() as conn, conn.transaction():
            rows = await conn.fetch(_CLAIM, self._batch_size)
            if not rows:
                return BatchOutcome()
            ready = await _in_key_order(conn, rows)
            if len(ready) < len(rows):
                sending = {row["id"] for row in ready}
                await conn.execute(
                    _NOT_SENT, [row["id"] for row in rows if row["id"] not in sending]
                )
            sent = await send_in_key_order(producer, ready)
            acknowledged = sent.acknowledged
            if acknowledged:
                await conn.execute(_MARK_PUBLISHED, [row["id"] for row in acknowledged])
        failed = len(ready) - len(acknowledged)
        now = datetime.now(UTC)
        for row in acknowledged:
            COMMIT_TO_ACK.observe(max(0.0, (now - row["created_at"]).total_seconds()))
        PUBLISHED.inc(len(acknowledged))
        BATCH_SIZE.observe(len(acknowledged))
        if failed:
            FAILED.inc(failed)
            raise RelayError(f"{failed} event(s) not acknowledged by Kafka: {sent.errors[0]!r}")
        return BatchOutcome(published=len(acknowledged), held_back=len(rows) - len(ready))

    async def prune(self, *, limit: int = 10_000) -> int:
        """Delete published rows older than the retention period, and inbox ids older than theirs;
        return how many outbox rows went."""
        total = await self._delete_in_chunks(_PRUNE, datetime.now(UTC) - self._retention, limit)
        PRUNED.inc(total)
        await self._delete_in_chunks(_PRUNE_INBOX, datetime.now(UTC) - self._inbox_retention, limit)
        return total

    async def _delete_in_chunks(self, statement: str, cutoff: datetime, limit: int) -> int:
        total = 0
        while True:
            status = await self._pool.execute(statement, cutoff, limit)
            deleted = int(status.split()[-1])
            total += deleted
            if deleted < limit:
                return total

    async def prune_due(self) -> int | None:
        """Prune if this replica takes the interval's turn (``periodic_tasks``); ``None`` when the
        turn is not due or another replica holds it."""
        # A replica that dies mid-prune holds the turn this long; one that overruns it shares the
        # work with the next (the DELETE skips locked rows).
        return await take_turn(
            self._pool,
            PRUNE_TASK,
            self.prune,
            owner=self._owner,
            every=timedelta(seconds=self._prune_interval_s),
            lease_s=max(self._prune_interval_s, 60.0),
        )

    # -- rounds of the workers -------------------------------------------------------------------

    async def _relay_round(self) -> NextRound:
        # Listen before claiming: a commit after this point wakes the next round.
        with untraced():
            await self._ensure_listener()
        outcome = await self.publish_batch()
        if outcome.published + outcome.held_back >= self._batch_size:
            return AT_ONCE  # more may be waiting: drain before sleeping
        if outcome.held_back:
            return HELD_BACK_WAIT_S
        return IDLE

    async def _prune_round(self) -> NextRound:
        with untraced():
            await self.prune_due()
        return IDLE

    async def _after_failure(self, error: BaseException) -> None:
        if isinstance(error, (KafkaError, RelayError)):
            await self._close_producer()
        if isinstance(error, (OSError, asyncpg.PostgresConnectionError)):
            await self._close_listener()

    # -- connections -----------------------------------------------------------------------------

    async def _ensure_producer(self) -> AIOKafkaProducer:
        if self._producer is None:
            producer = self._producer_factory(self._bootstrap_servers, self._request_timeout_ms)
            try:
                await producer.start()
            except BaseException:
                await producer.stop()
                raise
            self._producer = producer
            RELAY_UP.set(1)
        return self._producer

    async def _close_producer(self) -> None:
        producer, self._producer = self._producer, None
        RELAY_UP.set(0)
        if producer is not None:
            try:
                await asyncio.wait_for(producer.stop(), self._request_timeout_ms / 1000)
            except Exception as error:
                logger.warning("closing the Kafka producer failed", extra={"error": repr(error)})

    async def _ensure_listener(self) -> None:
        if self._listener is not None and not self._listener.is_closed():
            return
        connection = await asyncpg.connect(self._dsn)
        await connection.add_listener(NOTIFY_CHANNEL, self._on_notify)
        self._listener = connection

    async def _close_listener(self) -> None:
        listener, self._listener = self._listener, None
        if listener is not None and not listener.is_closed():
            try:
                await listener.close(timeout=2)
            except Exception:
                listener.terminate()

    def _on_notify(self, *_args: Any) -> None:
        self._relay.wake()


class RelayError(RuntimeError):
    """Some events of a batch were not acknowledged; they stay in the outbox for the next round."""


async def _in_key_order(
    conn: asyncpg.Connection, rows: list[asyncpg.Record]
) -> list[asyncpg.Record]:
    """The claimed rows that may go now: those with no earlier unpublished row of their key
    outside this batch (such a row is locked by another relay that has not committed yet)."""
    claimed = {row["id"] for row in rows}
    first_foreign: dict[bytes, int] = {}
    for other in await conn.fetch(_UNPUBLISHED_UP_TO, rows[-1]["id"]):
        if other["id"] not in claimed:
            key = other["message_key"]
            first_foreign[key] = min(other["id"], first_foreign.get(key, other["id"]))
    if not first_foreign:
        return list(rows)
    return [row for row in rows if row["id"] < first_foreign.get(row["message_key"], row["id"] + 1)]
