"""Settings of the datasource service: every knob, from ``LOOKOUT_DATASOURCE_*`` environment variables."""

from __future__ import annotations

from lookout_kit.secret_box import SecretBoxSettings
from lookout_kit.settings import AuthSettings, ServiceSettings
from pydantic import Field, PostgresDsn
from pydantic_settings import SettingsConfigDict

from lookout_datasource.service.connectors.pools import ConnectorSettings


class Settings(ConnectorSettings, SecretBoxSettings, AuthSettings, ServiceSettings):
    """``SECRET_KEYS`` / ``SECRET_PRIMARY_KID`` seal the data sources' secrets (the kit's secret box);
    ``ConnectorSettings``: where a source may point (egress) and its pools (concurrency, idle)."""

    model_config = SettingsConfigDict(
        env_prefix="LOOKOUT_DATASOURCE_", extra="ignore", frozen=True, hide_input_in_errors=True
    )

    service_name: str = "datasource"
    port: int = 8103
    root_path: str = "/api/datasource"
    database_url: PostgresDsn | None = PostgresDsn(
        "postgresql://postgres@127.0.0.1:5432/lookout_datasource"
    )

    # Executions (service/executions.py).
    execution_row_limit: int = Field(default=10_000, ge=1, le=1_000_000)
    """The most rows a result holds (a request may ask for fewer; ``truncated`` says more exist)."""
    execution_timeout_s: float = Field(default=30.0, gt=0, le=3_600)
    """How long a query may run before the server stops it (a request may ask for less)."""
    execution_retention_hours: float = Field(default=168.0, gt=0)
    """How long an execution's record (status, for cancel) is kept."""
    execution_prune_interval_s: float = Field(default=300.0, gt=0)
    """How often one replica deletes old execution records and marks lost ones."""

    acting_services: list[str] = Field(default_factory=lambda: ["dashboard", "alert"])
    """The services whose token may run a batch for a user (with the user's access token)."""
    tenant_services: list[str] = Field(default_factory=lambda: ["alert"])
    """The services whose token (naming a tenant) may run a batch of that tenant's saved queries
    with no user: view rights on every saved query of the tenant, nothing else (no ad hoc query,
    no data source); the events have no actor. The alert service's scheduler runs this way."""

    # The result cache (Redis); None: no cache (a request's max_age is then ignored).
    result_cache_url: str | None = "redis://127.0.0.1:6379/0"
    result_cache_ttl_s: int = Field(default=3_600, ge=1, le=86_400)
    """How long a result stays in the cache at most (a request's max_age reads within it)."""
    result_cache_max_bytes: int = Field(default=8_000_000, ge=1)
    """A result larger than this (serialized) is not cached."""

    # The schema browser (service/schema_browser.py, service/schema_refresher.py).
    schema_refresh_enabled: bool = True
    """Run the periodic refresh in this replica (the on-demand refresh works either way)."""
    schema_refresh_interval_s: float = Field(default=3_600.0, ge=1, le=7 * 86_400)
    """How often each source's tables and columns are read again."""
    schema_refresh_poll_s: float = Field(default=30.0, gt=0, le=3_600)
    """How often a replica looks for sources due (a round with a full batch goes on at once)."""
    schema_refresh_batch: int = Field(default=4, ge=1, le=100)
    """How many due sources a replica leases and refreshes at once."""
    schema_refresh_lease_s: float = Field(default=300.0, ge=10, le=86_400)
    """How long a refresh holds its source: it must outlast the introspection (60 s at most, plus
    the wait for a free connection); a replica that dies holds its sources this long."""
