"""Settings of the dashboard service: every knob, from ``LOOKOUT_DASHBOARD_*`` environment variables."""

from __future__ import annotations

from lookout_kit.settings import ServiceSettings
from pydantic import Field, PostgresDsn
from pydantic_settings import SettingsConfigDict


class Settings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="LOOKOUT_DASHBOARD_", extra="ignore", frozen=True)

    service_name: str = "dashboard"
    port: int = 8102
    root_path: str = "/api/dashboard"
    database_url: PostgresDsn | None = PostgresDsn(
        "postgresql://postgres@127.0.0.1:5432/lookout_dashboard"
    )

    # Tokens: identity's public keys (through the gateway, so any identity replica answers).
    identity_jwks_url: str = "http://127.0.0.1:8080/api/identity/.well-known/jwks.json"
    jwt_issuer: str = "lookout-identity"
    jwt_audience: str = "lookout"
    identity_events_topic: str = Field(
        default="identity.events", description="Where identity's events come from (tests override)"
    )
    identity_consumer_group: str = Field(
        default="dashboard", description="Consumer group of the reactions to identity's events"
    )
