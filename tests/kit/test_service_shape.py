"""The services on the kit keep one shape (docs/architecture.md, "One service shape"), and the
skeletons start on it and answer ready against the real servers."""

from __future__ import annotations

import ast
import importlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from lookout_testing.servers import Servers
from lookout_testing.topics import unique_topic
from lookout_testing.waiting import wait_until

SERVICES_DIR = Path(__file__).resolve().parents[2] / "services"
# Services moved onto the shape (ingestion joins when it is moved: issue 19).
ON_THE_SHAPE = ("identity", "dashboard", "datasource", "alert", "analytics")
OWNS_POSTGRES = ("identity", "dashboard", "datasource", "alert")
ROOMS = ("app.py", "settings.py", "endpoints/__init__.py", "subscribers.py")
PACKAGES = ("service", "repository")
MAX_MODULE_LINES = 400
FORBIDDEN_NAMES = {"common", "utils", "helpers", "shaping", "misc"}


def package_of(service: str) -> Path:
    return SERVICES_DIR / service / "src" / f"lookout_{service}"


@pytest.mark.parametrize("service", ON_THE_SHAPE)
def test_every_room_is_there(service: str) -> None:
    package = package_of(service)
    missing = [room for room in ROOMS if not (package / room).is_file()]
    missing += [name for name in PACKAGES if not (package / name / "__init__.py").is_file()]
    if not ((package / "schemas.py").is_file() or (package / "schemas" / "__init__.py").is_file()):
        missing.append("schemas")
    if (package / "migrations").is_dir() != (service in OWNS_POSTGRES):
        missing.append("migrations/ (exactly when the service owns PostgreSQL)")
    if not (SERVICES_DIR / service / "README.md").is_file():
        missing.append("README.md")
    assert not missing, f"{service} lacks {missing}"


@pytest.mark.parametrize("service", ON_THE_SHAPE)
def test_modules_are_small_and_named_for_their_job(service: str) -> None:
    for module in package_of(service).rglob("*.py"):
        lines = len(module.read_text().splitlines())
        assert lines <= MAX_MODULE_LINES, f"{module} has {lines} lines"
        assert module.stem not in FORBIDDEN_NAMES, f"{module}: say what it is for"
        tree = ast.parse(module.read_text())
        assert ast.get_docstring(tree), f"{module} has no docstring saying what it is for"


@pytest.mark.parametrize("service", ON_THE_SHAPE)
def test_app_is_its_routers_and_subscribers(service: str) -> None:
    source = (package_of(service) / "app.py").read_text()
    tree = ast.parse(source)
    (create_app,) = [
        node
        for node in tree.body
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name == "create_app"
    ]
    statements = [
        node
        for node in create_app.body
        if not (isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant))
    ]
    # ``settings = settings or Settings()``, then ``return create_service_app(...)``: nothing else.
    assert len(statements) <= 2, ast.unparse(create_app)
    returned = statements[-1]
    assert isinstance(returned, ast.Return) and isinstance(returned.value, ast.Call)
    assert ast.unparse(returned.value.func) == "create_service_app"
    keywords = {keyword.arg for keyword in returned.value.keywords}
    assert {"routers", "subscribers"} <= keywords, f"{service}: name routers and subscribers"
    for reach_in in ("app.state", "extras", "on_startup"):
        assert reach_in not in source, f"{service}'s app.py reaches into {reach_in}"


@asynccontextmanager
async def started(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://service") as client:

            async def ready() -> bool:
                return (await client.get("/readyz")).status_code == 200

            await wait_until(ready, timeout=30, message="the service to be ready")
            yield client


@pytest.mark.parametrize("service", ("datasource", "alert"))
async def test_postgres_skeleton_starts_ready(
    service: str, database: str, servers: Servers
) -> None:
    settings_class = importlib.import_module(f"lookout_{service}.settings").Settings
    create_app = importlib.import_module(f"lookout_{service}.app").create_app
    settings = settings_class(
        database_url=database,
        kafka_bootstrap_servers=servers.kafka,
        identity_events_topic=unique_topic("identity"),
    )
    app = create_app(settings)
    async with started(app) as client:
        assert (await client.get("/asyncapi.json")).status_code == 200
        # No endpoint of its own yet: the kit's auth is wired all the same.
        assert app.state.runtime.authenticator is not None
        assert app.state.runtime.pool is not None


async def test_analytics_skeleton_starts_ready(servers: Servers) -> None:
    from lookout_analytics.app import create_app
    from lookout_analytics.settings import Settings

    settings = Settings(
        clickhouse_url=servers.clickhouse,
        kafka_bootstrap_servers=servers.kafka,
        identity_events_topic=unique_topic("identity"),
    )
    app = create_app(settings)
    async with started(app):
        assert app.state.runtime.pool is None  # analytics owns no PostgreSQL database
        assert app.state.runtime.clickhouse is not None
        assert app.state.runtime.authenticator is not None
