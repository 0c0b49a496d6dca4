"""Per-test MySQL/MariaDB databases on the real server: each test gets its own database and a
user of its own (random password, every privilege on that database only), dropped afterwards."""

from __future__ import annotations

import secrets
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlsplit

import asyncmy


@dataclass(frozen=True)
class MysqlDatabase:
    host: str
    port: int
    database: str
    user: str
    password: str


def _admin_parameters(url: str) -> dict[str, Any]:
    parts = urlsplit(url)
    return {
        "host": parts.hostname or "127.0.0.1",
        "port": parts.port or 3306,
        "user": unquote(parts.username or "root"),
        "password": unquote(parts.password or ""),
        "autocommit": True,
        "connect_timeout": 5,
    }


async def admin_execute(url: str, *statements: str) -> None:
    """Run ``statements`` as the server's admin (``url``: ``mysql://user[:password]@host:port``)."""
    connection = await asyncmy.connect(**_admin_parameters(url))
    try:
        async with connection.cursor() as cursor:
            for statement in statements:
                await cursor.execute(statement)
    finally:
        connection.close()


@asynccontextmanager
async def temporary_mysql_database(url: str, prefix: str = "test") -> AsyncIterator[MysqlDatabase]:
    """Create a database and its user; yield where they are; drop both on exit."""
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    password = secrets.token_urlsafe(18)
    admin = _admin_parameters(url)
    account = f"'{name}'@'{admin['host']}'"
    await admin_execute(
        url,
        f"CREATE DATABASE `{name}`",
        f"CREATE USER {account} IDENTIFIED BY '{password}'",
        f"GRANT ALL PRIVILEGES ON `{name}`.* TO {account}",
    )
    try:
        yield MysqlDatabase(str(admin["host"]), int(admin["port"]), name, name, password)
    finally:
        await admin_execute(
            url, f"DROP DATABASE IF EXISTS `{name}`", f"DROP USER IF EXISTS {account}"
        )
