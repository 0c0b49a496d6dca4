"""Settings of the analytics service: every knob, from ``LOOKOUT_ANALYTICS_*`` environment variables."""

from __future__ import annotations

from lookout_kit.settings import AuthSettings, ServiceSettings
from pydantic import Field
from pydantic_settings import SettingsConfigDict


class Settings(AuthSettings, ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="LOOKOUT_ANALYTICS_", extra="ignore", frozen=True)

    service_name: str = "analytics"
    port: int = 8106
    root_path: str = "/api/analytics"
    clickhouse_url: str | None = "http://127.0.0.1:8123"
    # Reads only: the local stack's read-only user (readonly=2 in its profile).
    clickhouse_user: str = "lookout_reader"
    # The tenant.deleted reaction's mutations (ALTER TABLE … DELETE) need a user that may write.
    clickhouse_mutations_user: str = "default"
    clickhouse_mutations_password: str = Field(default="", repr=False)
    max_range_days: int = Field(default=400, ge=1, description="The longest report range")
    max_buckets: int = Field(
        default=5_000, ge=1, description="The most buckets a series may have (range / granularity)"
    )
