"""Reactions to identity's events: the references into identity's data kept true by events.

- ``tenant.deleted`` → the tenant's dashboards (with their grants and versions) are deleted;
- ``user.deleted`` → the user's grants are removed and their dashboards move to ``successor_id``;
- ``role.deleted`` → grants to the role are removed.

Each reaction is one transaction that also writes its own events (``dashboard.deleted``,
``dashboard.unshared``, ``dashboard.updated``) to the outbox. All are idempotent: a redelivered event
finds nothing left to do. The subscriber runs in a consumer group, so replicas share the work.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from uuid import UUID

import asyncpg
from faststream import AckPolicy
from faststream.kafka import KafkaBroker, KafkaMessage
from lookout_contracts import make_event, parse_event
from lookout_contracts.errors import ContractError
from lookout_contracts.events.dashboard import DashboardDeletedV1, DashboardUpdatedV1
from lookout_contracts.topics import IDENTITY_EVENTS
from lookout_kit.outbox import publish_many_in_tx

from lookout_dashboard import repository
from lookout_dashboard.service import grant_of, unshared_event

logger = logging.getLogger("lookout.dashboard.subscribers")

CONSUMER_GROUP = "dashboard"


async def on_tenant_deleted(conn: asyncpg.Connection, tenant_id: UUID) -> int:
    deleted = await repository.delete_tenant(conn, tenant_id)
    await publish_many_in_tx(
        conn,
        [
            make_event(
                "dashboard.deleted",
                tenant_id=tenant_id,
                subject_id=dashboard_id,
                data=DashboardDeletedV1(),
            )
            for dashboard_id in deleted
        ],
    )
    return len(deleted)


async def on_user_deleted(
    conn: asyncpg.Connection, tenant_id: UUID, user_id: UUID, successor_id: UUID | None
) -> None:
    removed = await repository.delete_grantee_grants(conn, tenant_id, user_id=user_id)
    events = [unshared_event(None, tenant_id, grant_of(record)) for record in removed]
    if successor_id is not None:
        moved = await repository.move_dashboards(conn, tenant_id, user_id, successor_id)
        events += [
            make_event(
                "dashboard.updated",
                tenant_id=tenant_id,
                subject_id=row.id,
                data=DashboardUpdatedV1(
                    name=row.name,
                    owner_id=row.owner_id,
                    is_public=row.is_public,
                    tags=tuple(row.tags),
                    version=row.version,
                    changed_fields=("owner_id",),
                ),
            )
            for row in moved
        ]
    await publish_many_in_tx(conn, events)


async def on_role_deleted(conn: asyncpg.Connection, tenant_id: UUID, role_id: UUID) -> None:
    removed = await repository.delete_grantee_grants(conn, tenant_id, role_id=role_id)
    await publish_many_in_tx(conn, [unshared_event(None, tenant_id, grant_of(r)) for r in removed])


def subscribe_identity_events(
    broker: KafkaBroker,
    pool_of: Callable[[], asyncpg.Pool],
    *,
    topic: str = IDENTITY_EVENTS,
    group_id: str = CONSUMER_GROUP,
) -> None:
    """Register the reactions on ``broker``; ``pool_of()`` gives the service's pool once started."""

    # Committed only after the reaction's transaction: a failure (database down) redelivers it.
    @broker.subscriber(
        topic,
        group_id=group_id,
        auto_offset_reset="earliest",
        ack_policy=AckPolicy.NACK_ON_ERROR,
        title="dashboard-identity",
    )
    async def on_identity_event(message: KafkaMessage) -> None:
        try:
            event = parse_event(message.body, ignore_unknown_fields=True)
        except ContractError as error:
            logger.warning("unreadable identity event skipped", extra={"code": error.code})
            return
        if event.type not in ("tenant.deleted", "user.deleted", "role.deleted"):
            return
        pool: asyncpg.Pool = pool_of()
        subject = UUID(event.subject.id)
        async with pool.acquire() as conn, conn.transaction():
            if event.type == "tenant.deleted":
                await on_tenant_deleted(conn, subject)
            elif event.type == "user.deleted":
                await on_user_deleted(conn, event.tenant_id, subject, event.data.successor_id)
            else:
                await on_role_deleted(conn, event.tenant_id, subject)
        logger.info(
            "reacted to identity event", extra={"type": event.type, "event_id": str(event.id)}
        )
