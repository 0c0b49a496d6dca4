"""The analytics service's app: the kit's app factory plus this service's routers and subscribers."""

from __future__ import annotations

from fastapi import FastAPI
from lookout_kit.app import create_service_app

from lookout_analytics.settings import Settings


def create_app(settings: Settings | None = None) -> FastAPI:
    return create_service_app(
        settings or Settings(),
        service_package="lookout_analytics",
        title="Lookout analytics",
        description="The analytics service: usage, query performance and activity reports from ClickHouse.",
    )
