"""The identity service's app: the kit's app factory plus this service's routers and startup."""

from __future__ import annotations

from fastapi import FastAPI
from lookout_kit.app import Runtime, create_service_app

from lookout_identity.components import Components
from lookout_identity.endpoints import ROUTERS
from lookout_identity.settings import Settings


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()

    async def start_identity(runtime: Runtime) -> None:
        components = Components.build(settings, runtime.require_pool())
        # A signing key exists before the first request (the first replica creates it).
        await components.keyring.active()
        app.state.identity = components

    app = create_service_app(
        settings,
        service_package="lookout_identity",
        title="Lookout identity",
        description="The identity service: tenants, users, roles, permissions and the tokens every service trusts.",
        routers=ROUTERS,
        on_startup=[start_identity],
    )
    return app
