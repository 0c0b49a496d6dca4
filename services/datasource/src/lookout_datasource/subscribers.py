"""Reactions to identity's events: which event types the datasource service reacts to, and with
which use case of ``service.reactions``. The kit runs them (``lookout_kit.reactions``): once per
event (inbox), in one transaction each, retried with backoff through outages, dead-lettered to
``datasource.dlq`` when one cannot be applied. One consumer group (``identity_consumer_group``,
default ``datasource``), so replicas share the work."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import asyncpg
from faststream.kafka import KafkaRouter
from lookout_contracts.envelope import Envelope
from lookout_kit.reactions import reactions_router

from lookout_datasource.service import reactions
from lookout_datasource.settings import Settings


async def on_tenant_deleted(conn: asyncpg.Connection, event: Envelope[Any]) -> None:
    await reactions.on_tenant_deleted(conn, UUID(event.subject.id))


async def on_user_deleted(conn: asyncpg.Connection, event: Envelope[Any]) -> None:
    await reactions.on_user_deleted(
        conn, event.tenant_id, UUID(event.subject.id), event.data.successor_id
    )


def identity_events(settings: Settings) -> KafkaRouter:
    """The subscriber of identity's events, on the topic and group ``settings`` name."""
    return reactions_router(
        settings.identity_events_topic,
        group_id=settings.identity_consumer_group,
        reactions={"tenant.deleted": on_tenant_deleted, "user.deleted": on_user_deleted},
        title="datasource-identity",
    )


def routers(settings: Settings) -> list[KafkaRouter]:
    """Every subscriber of the service (what ``app.py`` hands the kit)."""
    return [identity_events(settings)]
