"""The identity service's app: the kit's app factory with this service's routers and components."""

from __future__ import annotations

from fastapi import FastAPI
from lookout_kit.app import create_service_app

from lookout_identity import subscribers
from lookout_identity.components import components
from lookout_identity.endpoints import ROUTERS
from lookout_identity.settings import Settings


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    return create_service_app(
        settings,
        service_package="lookout_identity",
        title="Lookout identity",
        description="The identity service: tenants, users, roles, permissions and the tokens every service trusts.",
        routers=ROUTERS,
        subscribers=subscribers.routers(settings),
        components=components(settings),
    )
