"""Settings of the ingestion service: every knob, from ``LOOKOUT_INGESTION_*`` environment variables."""

from __future__ import annotations

from lookout_kit.settings import ServiceSettings
from pydantic_settings import SettingsConfigDict


class Settings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="LOOKOUT_INGESTION_", extra="ignore", frozen=True)

    service_name: str = "ingestion"
    port: int = 8105
    root_path: str = "/api/ingestion"
    clickhouse_url: str | None = "http://127.0.0.1:8123"
