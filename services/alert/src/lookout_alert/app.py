"""The alert service's app: the kit's app factory plus this service's routers and subscribers."""

from __future__ import annotations

from fastapi import FastAPI
from lookout_kit.app import create_service_app

from lookout_alert.settings import Settings


def create_app(settings: Settings | None = None) -> FastAPI:
    return create_service_app(
        settings or Settings(),
        service_package="lookout_alert",
        title="Lookout alert",
        description="The alert service: scheduled alerts on saved queries and their notifications.",
    )
