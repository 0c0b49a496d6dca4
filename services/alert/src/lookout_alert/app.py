"""The alert service's app: the kit's app factory with this service's routers, subscribers and
components."""

from __future__ import annotations

import httpx
from fastapi import FastAPI
from lookout_kit.app import create_service_app
from lookout_kit.auth import Authenticator

from lookout_alert import subscribers
from lookout_alert.components import components
from lookout_alert.endpoints import ROUTERS
from lookout_alert.settings import Settings


def create_app(
    settings: Settings | None = None,
    authenticator: Authenticator | None = None,
    datasource_transport: httpx.AsyncBaseTransport | None = None,
) -> FastAPI:
    """``authenticator``: tests' keys instead of identity's JWKS; ``datasource_transport``: tests'
    way to the datasource service in-process."""
    settings = settings or Settings()
    return create_service_app(
        settings,
        service_package="lookout_alert",
        title="Lookout alert",
        description="The alert service: scheduled alerts on saved queries and their notifications.",
        routers=ROUTERS,
        subscribers=subscribers.routers(settings),
        auth=authenticator or True,
        components=components(settings, datasource_transport),
    )
