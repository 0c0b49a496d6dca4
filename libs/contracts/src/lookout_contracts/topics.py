"""Kafka topic names: a ``<service>.events`` topic per publishing service, and the ingestion DLQ."""

from __future__ import annotations

from typing import Final

IDENTITY_EVENTS: Final = "identity.events"
DASHBOARD_EVENTS: Final = "dashboard.events"
DATASOURCE_EVENTS: Final = "datasource.events"
ALERT_EVENTS: Final = "alert.events"
INGESTION_DLQ: Final = "ingestion.dlq"

EVENT_TOPICS: Final = (IDENTITY_EVENTS, DASHBOARD_EVENTS, DATASOURCE_EVENTS, ALERT_EVENTS)
EVENT_TOPIC_PATTERN: Final = r"^[a-z][a-z0-9_]*\.events$"


def events_topic(source: str) -> str:
    """The topic a service named ``source`` publishes its domain events to."""
    return f"{source}.events"
