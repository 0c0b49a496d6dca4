"""The alert service's app: the kit's app factory with this service's routers and subscribers."""

from __future__ import annotations

from fastapi import FastAPI
from lookout_kit.app import create_service_app

from lookout_alert import subscribers
from lookout_alert.endpoints import ROUTERS
from lookout_alert.settings import Settings


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    return create_service_app(
        settings,
        service_package="lookout_alert",
        title="Lookout alert",
        description="The alert service: scheduled alerts on saved queries and their notifications.",
        routers=ROUTERS,
        subscribers=subscribers.routers(settings),
        auth=True,
    )
