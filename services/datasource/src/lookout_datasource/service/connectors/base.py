"""What every connector shares: the connection settings per kind, the ``Connector`` protocol, its
results and its errors.

**Configs.** ``connection_config`` is validated by the kind's ``ConnectionConfig`` subclass
(``extra="forbid"``). ``SECRET_FIELDS`` names the write-only fields (sealed by the secret box,
masked in responses); a connector receives them already opened.

**Parameters.** A query names a value ``{{ name }}`` (Redash's syntax), the same for every kind.
The connector turns each into the driver's own bound parameter (asyncpg ``$n``, MySQL ``%s``,
ClickHouse a typed literal built by the kit's ``bind``), so a value is never SQL text. Values are
Python values, typed by the caller (text ``str``, number ``int``/``float``/``Decimal``, date
``date``, datetime ``datetime``, enum ``str``, list ``list`` of those). A list becomes a
comma-separated sequence of bound values, for ``x IN ({{ ids }})``; an empty list becomes
``NULL`` (matches nothing).

**Results** are JSON, encoded once (``QueryResult.rows_json``): numbers stay numbers (a ``Decimal``
becomes an integer when whole, else a float; a float that is not finite, null), UUIDs strings,
bytes hex, dates and times ISO 8601 (``results.py``).

**Errors** are ``ConnectorError``s with a stable ``code``; their messages never hold the password
(``scrubbed``) nor a stack trace.
"""

from __future__ import annotations

import builtins
import re
from dataclasses import dataclass
from typing import Any, ClassVar, Literal, Protocol
from uuid import UUID

import msgspec
from lookout_kit.errors import DomainError
from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

HOST_PATTERN = re.compile(r"^[A-Za-z0-9._:\-\[\]]+$")


class ConnectionConfig(BaseModel):
    """Where a data source is and how to log in; one subclass per kind."""

    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)

    SECRET_FIELDS: ClassVar[tuple[str, ...]] = ("password",)

    host: str = Field(min_length=1, max_length=253)
    port: int = Field(ge=1, le=65535)
    database: str = Field(min_length=1, max_length=128)
    user: str = Field(min_length=1, max_length=128)
    password: SecretStr | None = Field(default=None, max_length=1024)
    connect_timeout_s: float = Field(default=10.0, gt=0, le=60)

    @field_validator("host")
    @classmethod
    def _host(cls, host: str) -> str:
        if not HOST_PATTERN.match(host):
            raise ValueError("a host name or an IP address")
        return host

    @field_validator("database", "user")
    @classmethod
    def _printable(cls, value: str) -> str:
        if not value.isprintable():
            raise ValueError("printable characters only")
        return value

    def secret(self, name: str = "password") -> str:
        """A secret field's plain value ('' when unset)."""
        value = getattr(self, name)
        if isinstance(value, SecretStr):
            return value.get_secret_value()
        return str(value) if value else ""

    def fingerprint_fields(self) -> dict[str, Any]:
        """Every field with secrets opened (what a pool's key hashes)."""
        fields = self.model_dump()
        for name in self.SECRET_FIELDS:
            fields[name] = self.secret(name)
        return fields


class PostgresqlConfig(ConnectionConfig):
    port: int = Field(default=5432, ge=1, le=65535)
    ssl_mode: Literal["disable", "prefer", "require"] = "prefer"
    """``require`` encrypts without checking the certificate; ``prefer`` tries TLS first."""


class ClickhouseConfig(ConnectionConfig):
    port: int = Field(default=8123, ge=1, le=65535)
    secure: bool = False
    """HTTPS instead of HTTP (ClickHouse's HTTP interface; 8443 usually)."""
    verify: bool = True
    """With ``secure``: check the server's certificate."""


class MysqlConfig(ConnectionConfig):
    port: int = Field(default=3306, ge=1, le=65535)
    ssl: bool = False
    """TLS without checking the certificate."""


@dataclass(frozen=True)
class ServerInfo:
    version: str
    latency_ms: int


@dataclass(frozen=True)
class ColumnInfo:
    schema_name: str
    table_name: str
    column_name: str
    data_type: str
    is_nullable: bool
    column_default: str | None


@dataclass(frozen=True)
class Column:
    name: str
    type: str


@dataclass
class QueryResult:
    columns: list[Column]
    rows_json: builtins.bytes  # (``bytes`` is a field here)
    """The rows as JSON (UTF-8), encoded once: what a response sends; ``bytes`` is its length."""
    row_count: int
    truncated: bool
    bytes: int
    duration_ms: int

    @property
    def rows(self) -> list[list[Any]]:
        """The rows as JSON has them (decoded from ``rows_json`` when asked: nothing on the
        response's path asks)."""
        rows: list[list[Any]] = msgspec.json.decode(self.rows_json)
        return rows


class ConnectorError(DomainError):
    """A connector's failure, with a stable ``code``; the message is safe to show."""

    status_code = 422
    code = "connector_error"

    def __init__(self, message: str, *, secrets: tuple[str, ...] = ()) -> None:
        super().__init__(scrubbed(message, secrets))


class BadCredentials(ConnectorError):
    code = "bad_credentials"


class Unreachable(ConnectorError):
    code = "unreachable"


class QueryTimeout(ConnectorError):
    code = "timeout"


class UnknownDatabase(ConnectorError):
    code = "unknown_database"


class ReadOnlyViolation(ConnectorError):
    code = "read_only_violation"


class QueryError(ConnectorError):
    code = "query_error"


class Cancelled(ConnectorError):
    code = "cancelled"


class EgressRefused(ConnectorError):
    code = "egress_refused"


ERROR_CODES: tuple[str, ...] = tuple(
    error.code
    for error in (
        BadCredentials,
        Unreachable,
        QueryTimeout,
        UnknownDatabase,
        ReadOnlyViolation,
        QueryError,
        Cancelled,
        EgressRefused,
    )
)


def scrubbed(message: str, secrets: tuple[str, ...] = ()) -> str:
    """``message`` without any of ``secrets`` and cut to one short paragraph (no traceback)."""
    for secret in secrets:
        if secret:
            message = message.replace(secret, "***")
    message = message.split("\nTraceback", 1)[0].strip()
    return message[:1000] or "error"


class SourcePool(Protocol):
    """A connector's open connections to one source (see ``pools.ConnectorPools``)."""

    async def close(self) -> None: ...


class Connector(Protocol):
    """One kind of database. Every method takes the source's config with secrets opened; the
    methods that take ``pool`` use it when given, else one connection of their own."""

    kind: str

    async def test(self, config: ConnectionConfig) -> ServerInfo:
        """Connect, ask the server's version; the round trip's latency."""
        ...

    async def introspect(
        self, config: ConnectionConfig, *, pool: SourcePool | None = None
    ) -> list[ColumnInfo]:
        """Every column of every table and view the user may read (system schemas left out)."""
        ...

    async def execute(
        self,
        config: ConnectionConfig,
        sql: str,
        parameters: dict[str, Any],
        *,
        row_limit: int,
        timeout_s: float,
        execution_id: UUID,
        pool: SourcePool | None = None,
    ) -> QueryResult:
        """Run ``sql`` read-only with ``parameters`` bound; at most ``row_limit`` rows
        (``truncated`` when there were more); stopped on the server after ``timeout_s``."""
        ...

    async def cancel(self, config: ConnectionConfig, execution_id: UUID) -> bool:
        """Stop the running execution ``execution_id`` on the server; whether one was running."""
        ...

    async def open_pool(self, config: ConnectionConfig, *, max_size: int) -> SourcePool:
        """Connections to one source for ``execute`` and ``introspect`` (at most ``max_size``)."""
        ...
