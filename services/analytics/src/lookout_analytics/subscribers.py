"""Reactions to other services' events, as FastStream ``KafkaRouter``s on the topics and groups the
settings name: none, and none planned: analytics reads what ingestion stores in ClickHouse. The room
is kept so that the service has the same shape as the others."""

from __future__ import annotations

from faststream.kafka import KafkaRouter

from lookout_analytics.settings import Settings


def routers(settings: Settings) -> list[KafkaRouter]:
    """The service's subscribers, on the topics and groups ``settings`` name (for ``app.py``)."""
    return []
