"""Settings base: every knob of a service, from the environment, with defaults that work locally.

The defaults are the local stack's (loopback addresses, keys committed in this repository), so a
local process needs no settings. ``LOOKOUT_ENV=production`` makes every service refuse them at start
(``production_problems``): each secret must be given a value of its own (a secret's default is in
the repository, or is nothing), and no address the service connects to may be a loopback one.
An address is a field named ``*_url``, ``*_endpoint``, ``*_host`` or ``*_bootstrap_servers`` (a
service's own fields follow the same naming and are checked alike), plus ``forwarded_allow_ips``:
trusting only loopback's forwarded headers means every client has the gateway's address.
"""

from __future__ import annotations

import ipaddress
from typing import Any, Literal, Self, get_args
from urllib.parse import urlsplit

from lookout_contracts.topics import IDENTITY_EVENTS
from pydantic import AnyHttpUrl, Field, PostgresDsn, SecretStr, field_validator, model_validator
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, SettingsConfigDict

# Kafka's own rule for topic and group names (legal characters, at most 249 of them).
KAFKA_NAME_PATTERN = r"^[A-Za-z0-9._-]{1,249}$"

ENVIRONMENT_VARIABLE = "LOOKOUT_ENV"
"""``local`` (the default) or ``production``: one variable for every service of a deployment."""
ADDRESS_SUFFIXES = ("_url", "_endpoint", "_host", "_bootstrap_servers")
LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain", "ip6-localhost"})


def is_loopback(host: str) -> bool:
    """Whether ``host`` (a name or an address, brackets allowed) is this machine's loopback."""
    host = host.strip().strip("[]").rstrip(".").lower()
    if host in LOOPBACK_NAMES or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def networks_of(value: str) -> list[Network]:
    """The networks of a comma-separated list of addresses and CIDR blocks (ValueError if any is
    neither)."""
    return [
        ipaddress.ip_network(part.strip(), strict=False)
        for part in value.split(",")
        if part.strip()
    ]


def in_networks(host: str | None, networks: list[Network]) -> bool:
    """Whether ``host`` (an address; anything else is not) is in one of ``networks``."""
    try:
        address = ipaddress.ip_address(host or "")
    except ValueError:
        return False
    return any(address in network for network in networks)


def hosts_of(value: str) -> list[str]:
    """The hosts in a URL (several in a multi-host DSN), a ``host:port`` list or a bare host."""
    hosts: list[str] = []
    for part in value.split(","):
        part = part.strip()
        if "://" in part:
            netloc = urlsplit(part).netloc
        elif "/" in part:
            netloc = part.split("/", 1)[0]
        else:
            netloc = part
        netloc = netloc.rsplit("@", 1)[-1]
        if netloc.startswith("["):
            hosts.append(netloc[1:].split("]", 1)[0])
        elif netloc.count(":") == 1:
            hosts.append(netloc.split(":", 1)[0])
        elif netloc:
            hosts.append(netloc)
    return hosts


def _secrets_in(value: Any) -> list[str] | None:
    """The secret texts a value holds (a ``SecretStr``, or a mapping or sequence of them); None
    when the value is no secret at all."""
    if isinstance(value, SecretStr):
        return [value.get_secret_value()]
    if isinstance(value, dict):
        values: list[Any] = list(value.values())
    elif isinstance(value, list | tuple):
        values = list(value)
    else:
        return None
    if values and all(isinstance(item, SecretStr) for item in values):
        return [item.get_secret_value() for item in values]
    return None


def _holds_secrets(annotation: Any) -> bool:
    """Whether a field's type is ``SecretStr`` or contains it (optional, a mapping, a list)."""
    if annotation is SecretStr:
        return True
    return any(_holds_secrets(argument) for argument in get_args(annotation))


def _is_secret_field(field: FieldInfo) -> bool:
    return _holds_secrets(field.annotation)


def _normalized_key(text: str) -> str:
    # One key written in base64's two alphabets, with or without padding, is the same key.
    return text.strip().replace("+", "-").replace("/", "_").rstrip("=")


def production_problems(settings: BaseSettings) -> list[str]:
    """Each local default ``settings`` holds, naming its environment variable."""
    fields = type(settings).model_fields
    prefix = str(settings.model_config.get("env_prefix") or "")
    committed = {
        _normalized_key(text)
        for field in fields.values()
        if _is_secret_field(field)
        for text in _secrets_in(field.get_default(call_default_factory=True)) or []
    }
    problems: list[str] = []
    for name, field in fields.items():
        variable = f"{prefix}{name}".upper()
        value = getattr(settings, name)
        if _is_secret_field(field):
            texts = _secrets_in(value)
            if not texts or not all(text.strip() for text in texts):
                problems.append(f"{variable} is not set (production needs a secret of its own)")
            elif any(_normalized_key(text) in committed for text in texts):
                problems.append(f"{variable} holds a key committed in the repository")
        elif value is not None and (
            name.endswith(ADDRESS_SUFFIXES) or name == "forwarded_allow_ips"
        ):
            loopback = [host for host in hosts_of(str(value)) if is_loopback(host)]
            if loopback:
                problems.append(f"{variable} points at loopback ({', '.join(loopback)})")
    return problems


class ServiceSettings(BaseSettings):
    """Knobs every service shares. Subclasses set ``env_prefix`` (``LOOKOUT_<SERVICE>_``)."""

    model_config = SettingsConfigDict(
        env_prefix="LOOKOUT_",
        extra="ignore",
        frozen=True,
        populate_by_name=True,
        # A refused value may be a secret: errors never echo the input.
        hide_input_in_errors=True,
    )

    env: Literal["local", "production"] = Field(
        default="local",
        validation_alias=ENVIRONMENT_VARIABLE,
        description="LOOKOUT_ENV, shared by every service: production refuses the local defaults",
    )
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
    database_pool_idle_s: float = Field(
        default=300.0,
        gt=0,
        description="A pooled connection above the minimum, unused this long, is closed",
    )

    kafka_bootstrap_servers: str = "127.0.0.1:9092"
    kafka_request_timeout_ms: int = Field(default=5_000, ge=100)
    kafka_topic_partitions: int = Field(
        default=6, ge=1, description="Partitions of topics it creates"
    )
    kafka_replication_factor: int = Field(
        default=1,
        ge=1,
        le=7,
        description="Replicas of each topic it creates: 3 on a production cluster, 1 locally",
    )
    kafka_idempotent_producer: bool = Field(
        default=False,
        description="Idempotent producers (a retried send is not written twice): on with Kafka"
        " in production; the local broker (Tansu) refuses it",
    )
    graceful_shutdown_s: float = Field(
        default=10.0,
        gt=0,
        le=600,
        description="On SIGTERM, how long requests in flight and the app's shutdown may take",
    )
    forwarded_allow_ips: str = Field(
        default="127.0.0.1",
        description="Addresses whose X-Forwarded-* headers are trusted (the gateway)",
    )
    metrics_allow_ips: str = Field(
        default="127.0.0.0/8,::1,10.0.0.0/8,172.16.0.0/12,192.168.0.0/16",
        description="Networks /metrics answers (Prometheus inside the cluster); any other client,"
        " a gateway's included (its forwarded address counts), gets 404",
    )
    docs_enabled: bool | None = Field(
        default=None,
        description="/docs, /redoc, /openapi.json and /asyncapi.json; unset: on locally, off in"
        " production",
    )

    @property
    def serves_docs(self) -> bool:
        return self.docs_enabled if self.docs_enabled is not None else self.env == "local"

    @field_validator("metrics_allow_ips")
    @classmethod
    def _networks(cls, value: str) -> str:
        networks_of(value)  # refused here, at start, rather than at the first scrape
        return value

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

    @model_validator(mode="after")
    def _production_refuses_local_defaults(self) -> Self:
        if self.env == "production":
            problems = production_problems(self)
            if problems:
                raise ValueError(
                    f"{ENVIRONMENT_VARIABLE}=production refuses the local defaults: "
                    + "; ".join(problems)
                )
        return self

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
