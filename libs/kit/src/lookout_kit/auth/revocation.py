"""What identity has revoked since tokens were issued, fed by ``identity.events``.

Access tokens live minutes; identity's events make a revocation effective everywhere within
seconds: a token is refused when its session was ended, or when it was issued (``iat``) before its
user was deactivated/deleted/changed, before its role's permissions changed, or before its tenant
was deleted; a service token, when issued before its service's tokens were revoked
(``service_tokens.revoked``) or before the tenant it acts for was deleted. Entries older than the longest token lifetime can no longer match a valid token and
are pruned.

Every replica must see every revocation, so the subscriber reads without a consumer group, from
the start of the topic: a replica that starts after a revocation still learns of it (events older
than the retention are skipped cheaply). Until it has read the topic up to the ends the log had when
the process started (``ReplayProgress``; ``learn_replay_targets`` reads them), the cache may still
miss such a revocation: the service is not ready meanwhile (the kit's ``/readyz`` says
``revocations``).
"""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import datetime
from typing import Any, TypeVar
from uuid import UUID

from aiokafka import AIOKafkaClient, AIOKafkaConsumer, ConsumerRecord, TopicPartition
from faststream.kafka import KafkaBroker, KafkaMessage
from lookout_contracts import ContractError, parse_event
from lookout_contracts.envelope import Envelope
from lookout_contracts.topics import events_topic

from lookout_kit.auth.caller import Caller, ServiceCaller
from lookout_kit.partition_logs import exact_log_ends
from lookout_kit.retry import Backoff, RetryStopped, retry

logger = logging.getLogger("lookout.auth.revocation")

KeyT = TypeVar("KeyT")

_USER_REVOKING = {"user.deactivated", "user.deleted"}
_ROLE_CHANGING = {"role.updated", "role.deleted", "permission.granted", "permission.revoked"}
_SESSION_ENDING = {"user.logged_out", "api_key.revoked"}

REPLAY_TARGETS_BACKOFF = Backoff(initial_s=0.2, max_s=5.0)
REPLAY_BATCH_RECORDS = 1_000


class ReplayProgress:
    """How far the subscriber has read identity's events, against the ends the log had at start.

    Not required (done) until ``subscribe_revocations`` asks for it; then not done until the
    targets are known and every partition was read up to its target."""

    def __init__(self) -> None:
        self.required = False
        self.targets: dict[int, int] | None = None
        self._next: dict[int, int] = {}

    def read(self, partition: int, offset: int) -> None:
        """The subscriber has applied the record at ``offset`` of ``partition``."""
        if offset + 1 > self._next.get(partition, 0):
            self._next[partition] = offset + 1

    @property
    def done(self) -> bool:
        if not self.required:
            return True
        if self.targets is None:
            return False
        return all(self._next.get(partition, 0) >= end for partition, end in self.targets.items())


class ReplayIncomplete(RuntimeError):
    """Some partition of identity's events did not tell its end in time."""


class RevocationCache:
    """Revocations by session, user, role and tenant, with the time each took effect."""

    def __init__(self, *, retention_s: float = 3_600.0) -> None:
        self.retention_s = retention_s
        self.replay = ReplayProgress()
        self._sessions: dict[str, float] = {}
        self._users: dict[UUID, float] = {}
        self._roles: dict[UUID, float] = {}
        self._tenants: dict[UUID, float] = {}
        self._services: dict[str, float] = {}
        self._last_prune = time.time()
        self.events_seen = 0

    def revoke_session(self, session_id: str, at: float) -> None:
        self._sessions[session_id] = max(at, self._sessions.get(session_id, at))

    def revoke_user(self, user_id: UUID, at: float) -> None:
        self._users[user_id] = max(at, self._users.get(user_id, at))

    def change_role(self, role_id: UUID, at: float) -> None:
        self._roles[role_id] = max(at, self._roles.get(role_id, at))

    def revoke_tenant(self, tenant_id: UUID, at: float) -> None:
        self._tenants[tenant_id] = max(at, self._tenants.get(tenant_id, at))

    def is_revoked(self, caller: Caller) -> bool:
        """Is the caller's token revoked (its session ended, or issued before a revocation)?"""
        if caller.session_id in self._sessions:
            return True
        issued = caller.issued_at
        return (
            issued < self._users.get(caller.user_id, float("-inf"))
            or issued < self._roles.get(caller.role_id, float("-inf"))
            or issued < self._tenants.get(caller.tenant_id, float("-inf"))
        )

    def revoke_service(self, service: str, at: float) -> None:
        self._services[service] = max(at, self._services.get(service, at))

    def is_service_revoked(self, caller: ServiceCaller) -> bool:
        """Was the service token issued before its service's tokens were revoked, or before the
        tenant it acts for was deleted?"""
        issued = caller.issued_at
        if issued < self._services.get(caller.service, float("-inf")):
            return True
        tenant = caller.tenant_id
        return tenant is not None and issued < self._tenants.get(tenant, float("-inf"))

    def apply(self, event: Envelope[Any]) -> None:
        """Record what ``event`` revokes, if anything."""
        at = _epoch(event.time)
        if time.time() - at > self.retention_s:
            return  # no token issued before this can still be valid
        self.events_seen += 1
        subject_id = event.subject.id
        if event.type in _USER_REVOKING:
            self.revoke_user(UUID(subject_id), at)
        elif event.type == "user.updated" and (
            {"role_id", "password"} & set(event.data.changed_fields)
        ):
            # A new role means new permissions; a new password ends what the old one started.
            self.revoke_user(UUID(subject_id), at)
        elif event.type in _SESSION_ENDING:
            session = event.session_id if event.type == "user.logged_out" else subject_id
            if session:
                self.revoke_session(session, at)
        elif event.type in _ROLE_CHANGING:
            self.change_role(UUID(subject_id), at)
        elif event.type == "tenant.deleted":
            self.revoke_tenant(UUID(subject_id), at)
        elif event.type == "service_tokens.revoked":
            self.revoke_service(event.data.service, at)
        self._prune_now_and_then()

    def _prune_now_and_then(self) -> None:
        now = time.time()
        if now - self._last_prune < 60:
            return
        self._last_prune = now
        horizon = now - self.retention_s
        self._sessions = _recent(self._sessions, horizon)
        self._users = _recent(self._users, horizon)
        self._roles = _recent(self._roles, horizon)
        self._tenants = _recent(self._tenants, horizon)
        self._services = _recent(self._services, horizon)


def _recent(table: dict[KeyT, float], horizon: float) -> dict[KeyT, float]:
    return {key: at for key, at in table.items() if at >= horizon}


def _epoch(moment: datetime) -> float:
    return moment.timestamp()


async def _log_starts(
    bootstrap_servers: str, partitions: list[TopicPartition]
) -> dict[TopicPartition, int]:
    if not partitions:
        return {}
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap_servers, enable_auto_commit=False)
    await consumer.start()
    try:
        starts: dict[TopicPartition, int] = await consumer.beginning_offsets(partitions)
        return starts
    finally:
        await consumer.stop()


def subscribe_revocations(
    broker: KafkaBroker,
    cache: RevocationCache,
    *,
    topic: str | None = None,
    from_beginning: bool = True,
) -> None:
    """Register on ``broker`` the subscriber that feeds ``cache`` from identity's events.

    Call before the app starts (the kit's factory starts the broker and creates the topic). From
    now on ``cache.replay`` is done only once the topic was read up to its targets.
    """
    cache.replay.required = True

    @broker.subscriber(
        topic or events_topic("identity"),
        auto_offset_reset="earliest" if from_beginning else "latest",
        title="auth-revocations",
        # In batches: a new replica reads the whole topic before it is ready, and one message at a
        # time costs the framework's overhead per event.
        batch=True,
        max_records=REPLAY_BATCH_RECORDS,
    )
    async def on_identity_events(message: KafkaMessage) -> None:
        records = message.raw_message
        horizon_ms = (time.time() - cache.retention_s) * 1000
        for record in (records,) if isinstance(records, ConsumerRecord) else records:
            if 0 < record.timestamp < horizon_ms:
                # Produced before the retention: its event is older still, so it revokes nothing
                # (apply would say so after parsing it; a replay of a long topic skips the parse).
                cache.replay.read(record.partition, record.offset)
                continue
            try:
                event = parse_event(record.value, ignore_unknown_fields=True)
            except ContractError as error:
                # Not ours to dead-letter (ingestion does); a bad event revokes nothing.
                logger.warning("unreadable identity event", extra={"code": error.code})
            else:
                cache.apply(event)
            cache.replay.read(record.partition, record.offset)


async def learn_replay_targets(
    cache: RevocationCache,
    *,
    bootstrap_servers: str,
    topic: str | None = None,
    stopping: asyncio.Event,
    backoff: Backoff = REPLAY_TARGETS_BACKOFF,
) -> None:
    """Set ``cache.replay.targets`` to the ends of identity's events now (exact: ListOffsets may
    understate them), retrying while Kafka does not answer; returns early when ``stopping`` is set."""
    name = topic or events_topic("identity")

    async def ends() -> dict[int, int]:
        client = AIOKafkaClient(bootstrap_servers=bootstrap_servers)
        try:
            await client.bootstrap()
            metadata = await client.fetch_all_metadata()
        finally:
            await client.close()
        partitions = [
            TopicPartition(name, p) for p in sorted(metadata.partitions_for_topic(name) or ())
        ]
        found = await exact_log_ends(bootstrap_servers, partitions)
        if len(found) < len(partitions):
            raise ReplayIncomplete(f"no end known for {len(partitions) - len(found)} partition(s)")
        starts = await _log_starts(bootstrap_servers, partitions)
        # A partition whose records all left with the retention has nothing to read.
        return {
            partition.partition: end if starts.get(partition, 0) < end else 0
            for partition, end in found.items()
        }

    try:
        cache.replay.targets = await retry(
            ends,
            what="reading the ends of identity's events",
            backoff=backoff,
            stopping=stopping,
            log=logger,
        )
    except RetryStopped:
        return
    logger.info("revocation replay targets known", extra={"targets": cache.replay.targets})
