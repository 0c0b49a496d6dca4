"""Settings of the identity service: every knob, from ``LOOKOUT_IDENTITY_*`` environment variables."""

from __future__ import annotations

from lookout_kit.settings import ServiceSettings
from pydantic import PostgresDsn
from pydantic_settings import SettingsConfigDict


class Settings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="LOOKOUT_IDENTITY_", extra="ignore", frozen=True)

    service_name: str = "identity"
    port: int = 8101
    root_path: str = "/api/identity"
    database_url: PostgresDsn | None = PostgresDsn(
        "postgresql://postgres@127.0.0.1:5432/lookout_identity"
    )
