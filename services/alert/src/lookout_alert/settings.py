"""Settings of the alert service: every knob, from ``LOOKOUT_ALERT_*`` environment variables."""

from __future__ import annotations

from lookout_kit.settings import AuthSettings, ServiceSettings
from pydantic import PostgresDsn
from pydantic_settings import SettingsConfigDict


class Settings(AuthSettings, ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="LOOKOUT_ALERT_", extra="ignore", frozen=True)

    service_name: str = "alert"
    port: int = 8104
    root_path: str = "/api/alert"
    database_url: PostgresDsn | None = PostgresDsn(
        "postgresql://postgres@127.0.0.1:5432/lookout_alert"
    )
