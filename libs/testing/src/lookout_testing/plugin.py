"""Pytest plugin: fixtures for the real servers (PostgreSQL, Kafka protocol, ClickHouse, gateway)."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import AsyncIterator, Generator
from pathlib import Path
from typing import Any

import pytest
from lookout_kit.clickhouse import ClickHouse
from lookout_kit.migrate import apply_migrations

from lookout_testing.broker import PrivateBroker
from lookout_testing.clickhouse import temporary_clickhouse_database
from lookout_testing.databases import temporary_database
from lookout_testing.mysql import MysqlDatabase, temporary_mysql_database
from lookout_testing.postgres import PrivatePostgres
from lookout_testing.servers import Servers, in_ci
from lookout_testing.topics import unique_topic

SKIPPED_IN_CI = "skipped under CI=true, where a missing server or package fails: "


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, Any, None]:
    """Under CI no test is skipped silently, however it skips: the skip is a failure."""
    outcome = yield
    report: pytest.TestReport = outcome.get_result()
    if in_ci() and report.skipped and not hasattr(report, "wasxfail"):
        report.outcome = "failed"
        report.longrepr = SKIPPED_IN_CI + str(report.longrepr)


@pytest.hookimpl(hookwrapper=True)
def pytest_make_collect_report(
    collector: pytest.Collector,
) -> Generator[None, Any, None]:
    """The same for a whole module skipped at import (``pytest.importorskip``)."""
    outcome = yield
    report: pytest.CollectReport = outcome.get_result()
    if in_ci() and report.skipped:
        report.outcome = "failed"
        report.longrepr = SKIPPED_IN_CI + str(report.longrepr)


SERVICES = ("IDENTITY", "DASHBOARD", "DATASOURCE", "ALERT", "INGESTION", "ANALYTICS")


def pytest_configure(config: pytest.Config) -> None:
    """The apps a test starts in-process keep one idle pooled connection, not the default four,
    and close what a burst opened after 5 s (their pools still grow on demand): with the local
    stack's own, a whole run otherwise nears the machine PostgreSQL's 100 clients. A value set in
    the environment is kept."""
    for prefix in ("LOOKOUT_", *(f"LOOKOUT_{service}_" for service in SERVICES)):
        os.environ.setdefault(f"{prefix}DATABASE_POOL_MIN", "1")
        os.environ.setdefault(f"{prefix}DATABASE_POOL_IDLE_S", "5")


@pytest.fixture(scope="session")
def servers() -> Servers:
    return Servers.from_environment()


@pytest.fixture
async def database(servers: Servers) -> AsyncIterator[str]:
    """A fresh, empty PostgreSQL database for this test alone (dropped after it)."""
    async with temporary_database(servers.postgres) as dsn:
        yield dsn


@pytest.fixture
async def outbox_database(database: str) -> str:
    """A fresh database with the kit's migrations (the outbox) applied."""
    await apply_migrations(database, None)
    return database


@pytest.fixture
def topic() -> str:
    """A topic name no other test uses."""
    return unique_topic()


@pytest.fixture
async def private_broker() -> AsyncIterator[PrivateBroker]:
    """A Tansu broker of this test's own, which the test may stop and start."""
    broker = PrivateBroker()
    await broker.start()
    try:
        yield broker
    finally:
        await broker.stop()


@pytest.fixture
async def clickhouse(servers: Servers) -> AsyncIterator[ClickHouse]:
    """A client bound to a fresh ClickHouse database of this test's own (dropped after it)."""
    async with temporary_clickhouse_database(servers.clickhouse) as client:
        yield client


@pytest.fixture
async def mysql_database(servers: Servers) -> AsyncIterator[MysqlDatabase]:
    """A fresh MySQL/MariaDB database and a user of its own with every privilege on it (and no
    other), both dropped after the test."""
    async with temporary_mysql_database(servers.mysql) as database:
        yield database


@pytest.fixture
async def private_postgres() -> AsyncIterator[PrivatePostgres]:
    """A PostgreSQL server of this test's own, which the test may stop and start. Its files are
    outside pytest's private tmp_path: the server runs as the ``postgres`` user under root."""
    home = Path(tempfile.mkdtemp(prefix="lookout-postgres-"))
    server = PrivatePostgres(home)
    try:
        await server.start()
        yield server
    finally:
        await server.stop()
        shutil.rmtree(home, ignore_errors=True)
