"""Settings of the dashboard service: every knob, from ``LOOKOUT_DASHBOARD_*`` environment variables."""

from __future__ import annotations

from lookout_kit.settings import AuthSettings, ServiceClientSettings, ServiceSettings
from pydantic import AnyHttpUrl, Field, PostgresDsn
from pydantic_settings import SettingsConfigDict


class Settings(AuthSettings, ServiceClientSettings, ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="LOOKOUT_DASHBOARD_", extra="ignore", frozen=True)

    service_name: str = "dashboard"
    port: int = 8102
    root_path: str = "/api/dashboard"
    database_url: PostgresDsn | None = PostgresDsn(
        "postgresql://postgres@127.0.0.1:5432/lookout_dashboard"
    )
    datasource_url: AnyHttpUrl = Field(
        default=AnyHttpUrl("http://127.0.0.1:8080/api/datasource"),
        description="The datasource service's API (a dashboard's data runs there)",
    )
