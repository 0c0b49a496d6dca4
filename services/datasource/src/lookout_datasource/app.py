"""The datasource service's app: the kit's app factory with this service's routers and subscribers."""

from __future__ import annotations

from fastapi import FastAPI
from lookout_kit.app import create_service_app
from lookout_kit.auth import Authenticator

from lookout_datasource import subscribers
from lookout_datasource.components import components
from lookout_datasource.endpoints import ROUTERS
from lookout_datasource.settings import Settings


def create_app(
    settings: Settings | None = None, authenticator: Authenticator | None = None
) -> FastAPI:
    """``authenticator``: tests' keys instead of identity's JWKS."""
    settings = settings or Settings()
    return create_service_app(
        settings,
        service_package="lookout_datasource",
        title="Lookout datasource",
        description="The datasource service: data sources, schema introspection, saved queries and their execution.",
        routers=ROUTERS,
        subscribers=subscribers.routers(settings),
        auth=authenticator or True,
        components=components(settings),
    )
