"""Reactions to other services' events: which event types the alert service reacts to, and with
which use case of ``service.reactions``. The kit runs them (``lookout_kit.reactions``): once per
event (inbox), in one transaction each, retried with backoff through outages, dead-lettered to
``alert.dlq`` when one cannot be applied. A consumer group per topic (``identity_consumer_group``,
default ``alert``; ``datasource_consumer_group``), so replicas share the work."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import asyncpg
from faststream.kafka import KafkaRouter
from lookout_contracts.envelope import Envelope
from lookout_kit.reactions import reactions_router

from lookout_alert.service import reactions
from lookout_alert.settings import Settings


async def on_tenant_deleted(conn: asyncpg.Connection, event: Envelope[Any]) -> None:
    await reactions.on_tenant_deleted(conn, UUID(event.subject.id))


async def on_user_deleted(conn: asyncpg.Connection, event: Envelope[Any]) -> None:
    await reactions.on_user_deleted(
        conn, event.tenant_id, UUID(event.subject.id), event.data.successor_id
    )


async def on_saved_query_deleted(conn: asyncpg.Connection, event: Envelope[Any]) -> None:
    await reactions.on_saved_query_deleted(conn, event.tenant_id, UUID(event.subject.id))


def routers(settings: Settings) -> list[KafkaRouter]:
    """Every subscriber of the service (what ``app.py`` hands the kit)."""
    return [
        reactions_router(
            settings.identity_events_topic,
            group_id=settings.identity_consumer_group,
            reactions={"tenant.deleted": on_tenant_deleted, "user.deleted": on_user_deleted},
            title="alert-identity",
        ),
        reactions_router(
            settings.datasource_events_topic,
            group_id=settings.datasource_consumer_group,
            reactions={"saved_query.deleted": on_saved_query_deleted},
            title="alert-datasource",
        ),
    ]
