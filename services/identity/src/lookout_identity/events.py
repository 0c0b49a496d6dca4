"""Publishing identity's events through the outbox, in the caller's transaction."""

from __future__ import annotations

from uuid import UUID

import asyncpg
from lookout_contracts import make_event
from lookout_contracts.events.base import EventData
from lookout_kit.outbox import publish_in_tx

from lookout_identity.settings import Settings


async def publish(
    conn: asyncpg.Connection,
    settings: Settings,
    event_type: str,
    *,
    tenant_id: UUID,
    subject_id: UUID,
    data: EventData,
    actor_id: UUID | None = None,
    session_id: str | None = None,
) -> None:
    event = make_event(
        event_type,
        tenant_id=tenant_id,
        subject_id=subject_id,
        data=data,
        actor_id=actor_id,
        session_id=session_id,
    )
    await publish_in_tx(conn, event, topic=settings.events_topic)
