"""Settings of the dashboard service: every knob, from ``LOOKOUT_DASHBOARD_*`` environment variables."""

from __future__ import annotations

from lookout_kit.settings import AuthSettings, ServiceSettings
from pydantic import PostgresDsn
from pydantic_settings import SettingsConfigDict


class Settings(AuthSettings, ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="LOOKOUT_DASHBOARD_", extra="ignore", frozen=True)

    service_name: str = "dashboard"
    port: int = 8102
    root_path: str = "/api/dashboard"
    database_url: PostgresDsn | None = PostgresDsn(
        "postgresql://postgres@127.0.0.1:5432/lookout_dashboard"
    )
