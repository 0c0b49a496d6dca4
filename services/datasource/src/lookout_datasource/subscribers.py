"""Reactions to other services' events, as FastStream ``KafkaRouter``s on the topics and groups the
settings name: none yet. To come: identity's events (`tenant.deleted`: the tenant's data sources and
saved queries go); each calls a use case of ``service/`` (as ``lookout_dashboard.subscribers``
does)."""

from __future__ import annotations

from faststream.kafka import KafkaRouter

from lookout_datasource.settings import Settings


def routers(settings: Settings) -> list[KafkaRouter]:
    """The service's subscribers, on the topics and groups ``settings`` name (for ``app.py``)."""
    return []
