"""The dashboard service's app: the kit's app factory with this service's routers and subscribers."""

from __future__ import annotations

from fastapi import FastAPI
from lookout_kit.app import Runtime, create_service_app
from lookout_kit.auth import Authenticator
from lookout_kit.service_client import ServiceClient

from lookout_dashboard import subscribers
from lookout_dashboard.endpoints import ROUTERS
from lookout_dashboard.settings import Settings


def create_app(
    settings: Settings | None = None, authenticator: Authenticator | None = None
) -> FastAPI:
    """``authenticator``: tests' keys instead of identity's JWKS."""
    settings = settings or Settings()
    datasource = ServiceClient.from_settings(settings, base_url=str(settings.datasource_url))

    async def close_clients(_: Runtime) -> None:
        if datasource is not None:
            await datasource.aclose()

    app = create_service_app(
        settings,
        service_package="lookout_dashboard",
        title="Lookout dashboard",
        description="The dashboard service: dashboards, their versions, publishing and sharing.",
        routers=ROUTERS,
        subscribers=subscribers.routers(settings),
        auth=authenticator or True,
        on_shutdown=[close_clients],
    )
    app.state.datasource = datasource
    return app
