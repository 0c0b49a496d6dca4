"""Reactions to other services' events, with the kit's failure policy: applied once, retried with
backoff, dead-lettered when they cannot be applied, and the partition moves on.

A service says which event types it reacts to and how (``Reaction``: a function of a connection in
an open transaction and the parsed event); ``reactions_router`` gives the FastStream router that
the app factory includes (``create_service_app(subscribers=[...])``). For each message:

1. **Parse** (the contracts, unknown fields ignored). An unreadable event goes to
   ``<service>.dlq`` at once (``dlq-code`` the contract error's code).
2. **Inbox**: the reaction runs in one transaction with an ``INSERT`` of the event's id into
   ``inbox`` (per consumer group): an event redelivered after its transaction committed finds its
   id there and is not applied again, whatever the reaction does.
3. **Retries**: an outage (PostgreSQL unreachable, the connection lost, the server shutting down)
   is retried with exponential backoff and full jitter, as long as it lasts, without counting: the
   partition waits (order kept) but the CPU does not spin. Any other error is retried
   ``policy.attempts`` times in all, then the event is **dead-lettered** (``dlq-code``
   ``reaction_failed``, the error's type as the reason, never its message: it may hold data) and
   acknowledged, so the next events are applied.
4. Stopping (SIGTERM) during a retry leaves the event unacknowledged: it is delivered again.

Dead letters carry the original key, bytes and headers plus ``dlq-reason``, ``dlq-code``,
``dlq-original-topic/partition/offset`` and ``dlq-consumer-group`` (as ingestion's do).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

import asyncpg
from faststream import AckPolicy
from faststream.kafka import KafkaMessage, KafkaRouter
from lookout_contracts import parse_event
from lookout_contracts.envelope import Envelope
from lookout_contracts.errors import ContractError
from lookout_contracts.headers import DLQ_CONSUMER_GROUP_HEADER, dead_letter_headers
from prometheus_client import Counter

from lookout_kit.app import Runtime
from lookout_kit.dependencies import RuntimeContext
from lookout_kit.kafka import ensure_topics
from lookout_kit.retry import Backoff, retry

logger = logging.getLogger("lookout.reactions")

Reaction = Callable[[asyncpg.Connection, Envelope[Any]], Awaitable[None]]
"""Apply one event inside the caller's open transaction (the inbox insert is in it too)."""


REACTIONS = Counter(
    "lookout_reactions_total",
    "Events a reaction subscriber handled, by outcome",
    ["group", "outcome"],
)  # outcome: applied | already_applied | ignored | dead_lettered
RETRIES = Counter(
    "lookout_reaction_retries_total",
    "Reaction attempts that failed and were retried, by kind",
    ["group", "kind"],
)  # kind: outage | error

_INBOX_INSERT = """
INSERT INTO inbox (consumer_group, event_id, event_type)
VALUES ($1, $2, $3)
ON CONFLICT (consumer_group, event_id) DO NOTHING
RETURNING true
"""

OUTAGES: tuple[type[BaseException], ...] = (
    ConnectionError,  # refused, reset, aborted: OSError's connection kinds
    asyncpg.PostgresConnectionError,  # includes "connection was closed in the middle"
    asyncpg.exceptions.CannotConnectNowError,
    asyncpg.exceptions.AdminShutdownError,
    asyncpg.exceptions.CrashShutdownError,
    asyncpg.exceptions.TooManyConnectionsError,
)
"""Errors that say PostgreSQL is not there (now), not that the event is bad. A query that times out
or is cancelled (``TimeoutError``, ``QueryCanceledError``) is not one: a reaction that is always
too slow must end in the DLQ, not block its partition forever."""


@dataclass(frozen=True)
class ReactionPolicy:
    attempts: int = 5
    """How many times a reaction that fails for another reason than an outage runs in all."""
    initial_s: float = 0.2
    max_s: float = 10.0


class _GiveUp(Exception):
    """A reaction failed ``policy.attempts`` times for another reason than an outage."""


def reactions_router(
    topic: str,
    *,
    group_id: str,
    reactions: Mapping[str, Reaction],
    policy: ReactionPolicy = ReactionPolicy(),
    title: str | None = None,
) -> KafkaRouter:
    """A router whose subscriber applies ``reactions`` (by event type) to ``topic``'s events in
    the consumer group ``group_id``; other event types are acknowledged untouched."""
    router = KafkaRouter()

    @router.subscriber(
        topic,
        group_id=group_id,
        auto_offset_reset="earliest",
        ack_policy=AckPolicy.NACK_ON_ERROR,
        title=title or f"{group_id}-{topic}",
    )
    async def on_event(message: KafkaMessage, runtime: RuntimeContext) -> None:
        await handle(runtime, message, group_id=group_id, reactions=reactions, policy=policy)

    return router


async def handle(
    runtime: Runtime,
    message: KafkaMessage,
    *,
    group_id: str,
    reactions: Mapping[str, Reaction],
    policy: ReactionPolicy,
) -> None:
    """Parse, apply once with retries, or dead-letter one message (see the module's docstring)."""
    try:
        event = parse_event(message.body, ignore_unknown_fields=True)
    except ContractError as error:
        await _dead_letter(runtime, message, group_id, code=error.code, reason=error.reason)
        return
    reaction = reactions.get(event.type)
    if reaction is None:
        REACTIONS.labels(group_id, "ignored").inc()
        return
    pool = runtime.require_pool()
    failures = 0

    async def apply_once() -> bool:
        async with pool.acquire() as conn, conn.transaction():
            if not await conn.fetchval(_INBOX_INSERT, group_id, event.id, event.type):
                return False
            await reaction(conn, event)
            return True

    async def count(error: BaseException) -> None:
        nonlocal failures
        if isinstance(error, OUTAGES):  # retried for as long as the outage lasts
            RETRIES.labels(group_id, "outage").inc()
            return
        failures += 1
        RETRIES.labels(group_id, "error").inc()
        if failures >= policy.attempts:
            raise _GiveUp from error

    try:
        applied = await retry(
            apply_once,
            what="reaction",
            backoff=Backoff(policy.initial_s, policy.max_s),
            stopping=runtime.stopping,
            on_failure=count,
            log=logger,
            log_extra={"group": group_id, "event_id": str(event.id), "type": event.type},
        )
    except _GiveUp as given_up:
        cause = given_up.__cause__
        await _dead_letter(
            runtime,
            message,
            group_id,
            code="reaction_failed",
            reason=f"{type(cause).__name__} after {policy.attempts} attempts",
        )
        return
    # RetryStopped (the service stops) propagates: NACKed, delivered again after the restart.
    REACTIONS.labels(group_id, "applied" if applied else "already_applied").inc()
    if applied:
        logger.info(
            "reacted to event",
            extra={"group": group_id, "type": event.type, "event_id": str(event.id)},
        )


_dlq_topics_made: set[str] = set()


async def _dead_letter(
    runtime: Runtime, message: KafkaMessage, group_id: str, *, code: str, reason: str
) -> None:
    """Send the message to ``<service>.dlq`` with why and where from; the caller then acks it."""
    record: Any = message.raw_message  # one ConsumerRecord (a batch subscriber would give a tuple)
    settings = runtime.settings
    topic = f"{settings.service_name}.dlq"
    if topic not in _dlq_topics_made:
        await ensure_topics(
            settings.kafka_bootstrap_servers,
            [topic],
            partitions=settings.kafka_topic_partitions,
            replication_factor=settings.kafka_replication_factor,
        )
        _dlq_topics_made.add(topic)
    headers = dead_letter_headers(
        record.headers,
        reason=reason,
        code=code,
        topic=record.topic,
        partition=record.partition,
        offset=record.offset,
        extra={DLQ_CONSUMER_GROUP_HEADER: group_id},
    )
    await runtime.broker.publish(
        record.value,
        topic,
        key=record.key,
        headers={name: value.decode(errors="replace") for name, value in headers},
    )
    REACTIONS.labels(group_id, "dead_lettered").inc()
    logger.warning(
        "event dead-lettered",
        extra={"group": group_id, "code": code, "reason": reason, "topic": topic},
    )
