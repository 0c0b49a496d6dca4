"""The ingestion service's app: the kit's app factory, with the consumer as a background task."""

from __future__ import annotations

from fastapi import FastAPI
from lookout_kit.app import create_service_app

from lookout_ingestion.endpoints import ROUTERS
from lookout_ingestion.runner import BackgroundConsumer
from lookout_ingestion.settings import Settings


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    consumer = BackgroundConsumer(settings)
    return create_service_app(
        settings,
        service_package="lookout_ingestion",
        title="Lookout ingestion",
        description="The ingestion service: domain events into ClickHouse, in batches, effectively once.",
        routers=ROUTERS,
        on_startup=[consumer.start],
        on_shutdown=[consumer.stop],
    )
