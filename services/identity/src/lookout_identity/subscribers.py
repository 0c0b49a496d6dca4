"""Identity reacts to no other service's events: it is where tenants, users and their tokens
start (its own events go out through the kit's outbox)."""

from __future__ import annotations

from faststream.kafka import KafkaRouter

from lookout_identity.settings import Settings


def routers(settings: Settings) -> list[KafkaRouter]:
    return []
