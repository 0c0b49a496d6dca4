"""The datasource service's app: the kit's app factory with this service's routers and subscribers."""

from __future__ import annotations

from fastapi import FastAPI
from lookout_kit.app import Runtime, create_service_app
from lookout_kit.auth import Authenticator

from lookout_datasource import subscribers
from lookout_datasource.endpoints import ROUTERS
from lookout_datasource.service.engine import Engine
from lookout_datasource.service.schema_refresher import SchemaRefresher
from lookout_datasource.settings import Settings


def create_app(
    settings: Settings | None = None, authenticator: Authenticator | None = None
) -> FastAPI:
    """``authenticator``: tests' keys instead of identity's JWKS."""
    settings = settings or Settings()
    engine = Engine.from_settings(settings)

    async def start_engine(runtime: Runtime) -> None:
        engine.start(runtime.require_pool())

    async def close_engine(_: Runtime) -> None:
        await engine.close()

    refresher: SchemaRefresher | None = None

    async def start_schema_refresh(runtime: Runtime) -> None:
        nonlocal refresher
        if settings.schema_refresh_enabled:
            refresher = SchemaRefresher.from_settings(settings, runtime.require_pool(), engine)
            refresher.start()

    async def stop_schema_refresh(_: Runtime) -> None:
        if refresher is not None:
            await refresher.stop()

    app = create_service_app(
        settings,
        service_package="lookout_datasource",
        title="Lookout datasource",
        description="The datasource service: data sources, schema introspection, saved queries and their execution.",
        routers=ROUTERS,
        subscribers=subscribers.routers(settings),
        auth=authenticator or True,
        on_startup=[start_engine, start_schema_refresh],
        on_shutdown=[close_engine, stop_schema_refresh],  # run in reverse: the refresh stops first
    )
    app.state.engine = engine
    return app
