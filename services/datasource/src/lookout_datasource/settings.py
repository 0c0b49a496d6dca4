"""Settings of the datasource service: every knob, from ``LOOKOUT_DATASOURCE_*`` environment variables."""

from __future__ import annotations

from lookout_kit.secret_box import SecretBoxSettings
from lookout_kit.settings import AuthSettings, ServiceSettings
from pydantic import PostgresDsn
from pydantic_settings import SettingsConfigDict


class Settings(SecretBoxSettings, AuthSettings, ServiceSettings):
    """``SECRET_KEYS`` / ``SECRET_PRIMARY_KID`` seal the data sources' secrets (the kit's secret box)."""

    model_config = SettingsConfigDict(
        env_prefix="LOOKOUT_DATASOURCE_", extra="ignore", frozen=True, hide_input_in_errors=True
    )

    service_name: str = "datasource"
    port: int = 8103
    root_path: str = "/api/datasource"
    database_url: PostgresDsn | None = PostgresDsn(
        "postgresql://postgres@127.0.0.1:5432/lookout_datasource"
    )
