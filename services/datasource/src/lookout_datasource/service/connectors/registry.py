"""The connector kinds: kind name → its config model and its connector."""

from __future__ import annotations

from lookout_datasource.service.connectors.base import (
    ClickhouseConfig,
    ConnectionConfig,
    Connector,
    MysqlConfig,
    PostgresqlConfig,
)
from lookout_datasource.service.egress import EgressPolicy

KINDS: tuple[str, ...] = ("postgresql", "clickhouse", "mysql")

_CONFIGS: dict[str, type[ConnectionConfig]] = {
    "postgresql": PostgresqlConfig,
    "clickhouse": ClickhouseConfig,
    "mysql": MysqlConfig,
}


def config_model(kind: str) -> type[ConnectionConfig]:
    """The ``connection_config`` model of ``kind`` (``KeyError`` for an unknown kind)."""
    return _CONFIGS[kind]


def connector(kind: str, egress: EgressPolicy | None = None) -> Connector:
    """The connector of ``kind``, connecting only where ``egress`` allows (by default: public
    addresses only; the service passes the policy its settings describe)."""
    policy = egress or EgressPolicy()
    if kind == "postgresql":
        from lookout_datasource.service.connectors.postgresql import PostgresqlConnector

        return PostgresqlConnector(policy)
    if kind == "clickhouse":
        from lookout_datasource.service.connectors.clickhouse import ClickhouseConnector

        return ClickhouseConnector(policy)
    if kind == "mysql":
        from lookout_datasource.service.connectors.mysql import MysqlConnector

        return MysqlConnector(policy)
    raise KeyError(kind)
