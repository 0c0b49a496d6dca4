"""Reactions to identity's events (FastStream subscribers): parse, then apply the use case of
``service.reactions`` in one transaction. One consumer group (``identity_consumer_group``, default
``dashboard``), so replicas share the work; redelivery is harmless."""

from __future__ import annotations

import logging
from uuid import UUID

from faststream import AckPolicy
from faststream.kafka import KafkaMessage, KafkaRouter
from lookout_contracts import parse_event
from lookout_contracts.errors import ContractError
from lookout_kit.dependencies import RuntimeContext

from lookout_dashboard.service import reactions
from lookout_dashboard.settings import Settings

logger = logging.getLogger("lookout.dashboard.subscribers")


def identity_events(settings: Settings) -> KafkaRouter:
    """The subscriber of identity's events, on the topic and group ``settings`` name."""
    router = KafkaRouter()

    # Committed only after the reaction's transaction: a failure (database down) redelivers it.
    @router.subscriber(
        settings.identity_events_topic,
        group_id=settings.identity_consumer_group,
        auto_offset_reset="earliest",
        ack_policy=AckPolicy.NACK_ON_ERROR,
        title="dashboard-identity",
    )
    async def on_identity_event(message: KafkaMessage, runtime: RuntimeContext) -> None:
        try:
            event = parse_event(message.body, ignore_unknown_fields=True)
        except ContractError as error:
            logger.warning("unreadable identity event skipped", extra={"code": error.code})
            return
        if event.type not in ("tenant.deleted", "user.deleted", "role.deleted"):
            return
        subject = UUID(event.subject.id)
        async with runtime.require_pool().acquire() as conn, conn.transaction():
            if event.type == "tenant.deleted":
                await reactions.on_tenant_deleted(conn, subject)
            elif event.type == "user.deleted":
                await reactions.on_user_deleted(
                    conn, event.tenant_id, subject, event.data.successor_id
                )
            else:
                await reactions.on_role_deleted(conn, event.tenant_id, subject)
        logger.info(
            "reacted to identity event", extra={"type": event.type, "event_id": str(event.id)}
        )

    return router
