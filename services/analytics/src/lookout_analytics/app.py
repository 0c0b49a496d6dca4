"""The analytics service's app: the kit's app factory with this service's routers and subscribers."""

from __future__ import annotations

from fastapi import FastAPI
from lookout_kit.app import create_service_app
from lookout_kit.auth import Authenticator

from lookout_analytics import subscribers
from lookout_analytics.endpoints import ROUTERS
from lookout_analytics.settings import Settings


def create_app(
    settings: Settings | None = None, authenticator: Authenticator | None = None
) -> FastAPI:
    """``authenticator``: tests' keys instead of identity's JWKS."""
    settings = settings or Settings()
    return create_service_app(
        settings,
        service_package="lookout_analytics",
        title="Lookout analytics",
        description="The analytics service: usage, query performance and activity reports from ClickHouse.",
        routers=ROUTERS,
        subscribers=subscribers.routers(settings),
        auth=authenticator or True,
    )
