"""The dashboard service's app: the kit's app factory plus this service's routers and subscribers."""

from __future__ import annotations

import asyncpg
from fastapi import FastAPI
from lookout_kit.app import Runtime, create_service_app
from lookout_kit.auth import Authenticator
from lookout_kit.kafka import create_broker

from lookout_dashboard.endpoints import router
from lookout_dashboard.settings import Settings
from lookout_dashboard.subscribers import subscribe_identity_events


def create_app(
    settings: Settings | None = None, authenticator: Authenticator | None = None
) -> FastAPI:
    settings = settings or Settings()
    broker = create_broker(settings.kafka_bootstrap_servers)
    auth = authenticator or Authenticator.from_jwks_url(
        settings.identity_jwks_url, issuer=settings.jwt_issuer, audience=settings.jwt_audience
    )
    auth.subscribe(broker, topic=settings.identity_events_topic)
    runtimes: list[Runtime] = []

    def pool() -> asyncpg.Pool:
        assert runtimes and runtimes[0].pool is not None, "the app has not started"
        return runtimes[0].pool

    async def remember(runtime: Runtime) -> None:
        runtimes[:] = [runtime]

    subscribe_identity_events(
        broker,
        pool,
        topic=settings.identity_events_topic,
        group_id=settings.identity_consumer_group,
    )
    return create_service_app(
        settings,
        service_package="lookout_dashboard",
        title="Lookout dashboard",
        description="The dashboard service: dashboards, their versions, publishing and sharing.",
        routers=[router],
        broker=broker,
        on_startup=[remember, auth.on_startup],
    )
