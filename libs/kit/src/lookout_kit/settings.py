"""Settings base: every knob of a service, from the environment, with defaults that work locally."""

from __future__ import annotations

from typing import Any

from lookout_contracts.topics import IDENTITY_EVENTS
from pydantic import AnyHttpUrl, Field, PostgresDsn, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

# Kafka's own rule for topic and group names (legal characters, at most 249 of them).
KAFKA_NAME_PATTERN = r"^[A-Za-z0-9._-]{1,249}$"


class ServiceSettings(BaseSettings):
    """Knobs every service shares. Subclasses set ``env_prefix`` (``LOOKOUT_<SERVICE>_``)."""

    model_config = SettingsConfigDict(env_prefix="LOOKOUT_", extra="ignore", frozen=True)

    service_name: str = "lookout"
    host: str = "127.0.0.1"
    port: int = Field(default=8100, ge=1, le=65535)
    root_path: str = Field(
        default="", description="Path prefix the gateway serves this service under"
    )
    log_level: str = Field(default="INFO", pattern="^(DEBUG|INFO|WARNING|ERROR)$")

    # PostgreSQL: empty means the service owns no PostgreSQL database.
    database_url: PostgresDsn | None = None
    database_pool_min: int = Field(default=4, ge=0)
    database_pool_max: int = Field(default=10, ge=1)

    kafka_bootstrap_servers: str = "127.0.0.1:9092"
    kafka_request_timeout_ms: int = Field(default=5_000, ge=100)
    kafka_topic_partitions: int = Field(
        default=6, ge=1, description="Partitions of topics it creates"
    )
    forwarded_allow_ips: str = Field(
        default="127.0.0.1",
        description="Addresses whose X-Forwarded-* headers are trusted (the gateway)",
    )

    clickhouse_url: str | None = None
    clickhouse_user: str = "default"
    clickhouse_password: str = Field(default="", repr=False)
    clickhouse_database: str = "default"

    # Outbox relay
    outbox_relay_enabled: bool = True
    outbox_batch_size: int = Field(default=2_000, ge=1, le=50_000)
    outbox_poll_interval_s: float = Field(default=1.0, gt=0)
    outbox_linger_s: float = Field(
        default=0.05, ge=0, le=1, description="After a wake-up, wait this long to batch commits"
    )
    outbox_retention_hours: float = Field(default=72.0, ge=0)
    outbox_prune_interval_s: float = Field(default=300.0, gt=0)
    inbox_retention_hours: float = Field(
        default=168.0,
        gt=0,
        description="How long a reaction's event id guards against redelivery (inbox)",
    )

    # Telemetry: no endpoint means spans are made (trace context still flows) but not exported.
    otel_exporter_otlp_endpoint: str | None = None
    otel_sample_ratio: float = Field(
        default=0.1, ge=0, le=1, description="Share of new traces recorded (parent-based)"
    )
    access_log: bool = Field(
        default=False, description="uvicorn's per-request log line (the gateway logs every request)"
    )

    @property
    def database_dsn(self) -> str | None:
        return None if self.database_url is None else str(self.database_url)


class AuthSettings(BaseSettings):
    """Knobs of a service that verifies identity's tokens; mixed in before ``ServiceSettings``:

    ``class Settings(AuthSettings, ServiceSettings)``, then ``create_service_app(..., auth=True)``.
    """

    # Identity's public keys, through the gateway so that any identity replica answers.
    identity_jwks_url: AnyHttpUrl = AnyHttpUrl(
        "http://127.0.0.1:8080/api/identity/.well-known/jwks.json"
    )
    jwt_issuer: str = Field(default="lookout-identity", min_length=1)
    jwt_audience: str = Field(default="lookout", min_length=1)
    jwks_refresh_interval_s: float = Field(
        default=300.0, gt=0, description="Keys are refetched this often (and on an unknown kid)"
    )
    jwks_min_refetch_interval_s: float = Field(
        default=1.0, ge=0, description="At most one JWKS fetch per this interval"
    )
    revocation_retention_s: float = Field(
        default=3_600.0,
        ge=60,
        description="How long a revocation is remembered: at least the longest token lifetime",
    )
    identity_events_topic: str = Field(
        default=IDENTITY_EVENTS,
        pattern=KAFKA_NAME_PATTERN,
        description="Where identity's events come from (revocations, reactions); tests override",
    )
    identity_consumer_group: str = Field(
        default="",
        pattern=KAFKA_NAME_PATTERN,
        description="Consumer group of the service's reactions to identity's events "
        "(default: the service's name)",
    )

    @model_validator(mode="before")
    @classmethod
    def _group_defaults_to_service_name(cls, values: Any) -> Any:
        # A group shared by two services would split identity's events between them: each
        # service's own name is the safe default.
        if isinstance(values, dict) and not values.get("identity_consumer_group"):
            service_field = cls.model_fields.get("service_name")
            name = values.get("service_name") or (service_field and service_field.default)
            if isinstance(name, str) and name:
                values = {**values, "identity_consumer_group": name}
        return values


class ServiceClientSettings(BaseSettings):
    """Knobs of a service that calls another service's API as itself (``ServiceClient``), with
    service tokens from identity; mixed in like ``AuthSettings``."""

    # Through the gateway, so that any identity replica answers.
    identity_url: AnyHttpUrl = AnyHttpUrl("http://127.0.0.1:8080/api/identity")
    service_secret: SecretStr | None = Field(
        default=None,
        description="This service's client secret at identity (identity's SERVICE_CLIENTS); "
        "unset: calls to other services are refused with 503 service_calls_unconfigured",
    )
    service_call_timeout_s: float = Field(default=30.0, gt=0, le=600)
