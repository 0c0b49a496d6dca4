"""The identity service's app: the kit's app factory plus this service's routers and subscribers."""

from __future__ import annotations

from fastapi import FastAPI
from lookout_kit.app import Runtime, create_service_app

from lookout_identity.components import EXTRAS_KEY, Components
from lookout_identity.endpoints import ROUTERS
from lookout_identity.settings import Settings


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()

    async def start_identity(runtime: Runtime) -> None:
        assert runtime.pool is not None, "identity needs its PostgreSQL database"
        components = Components.build(settings, runtime.pool)
        # A signing key exists before the first request (the first replica creates it).
        await components.keyring.active()
        runtime.extras[EXTRAS_KEY] = components

    return create_service_app(
        settings,
        service_package="lookout_identity",
        title="Lookout identity",
        description="The identity service: tenants, users, roles, permissions and the tokens every service trusts.",
        routers=ROUTERS,
        on_startup=[start_identity],
    )
