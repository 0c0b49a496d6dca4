"""No route without its access rows: every route of every service's app (``PUBLIC_ROUTES`` aside:
health, metrics, docs) has a row in ``tests/<service>/test_access_matrix.py``'s ``MATRIX``, and
every row names a route the app has. A service with no routes of its own needs no matrix yet; the
day it gets one, this fails until the route's rows are written (format:
``lookout_testing.access``)."""

from __future__ import annotations

import importlib

import pytest
from fastapi import FastAPI
from lookout_testing.access import PUBLIC_ROUTES, Matrix, routes_of

SERVICES = ("identity", "dashboard", "datasource", "alert", "analytics", "ingestion")


def app_of(service: str) -> FastAPI:
    app = importlib.import_module(f"lookout_{service}.app").create_app()
    assert isinstance(app, FastAPI)
    return app


def matrix_of(service: str) -> Matrix | None:
    name = f"tests.{service}.test_access_matrix"
    try:
        module = importlib.import_module(name)
    except ModuleNotFoundError as error:
        if error.name not in (name, f"tests.{service}"):
            raise
        return None
    matrix = module.MATRIX
    assert isinstance(matrix, Matrix) and matrix.service == service
    return matrix


def unmatched(routes: set[tuple[str, str]], matrix: Matrix | None) -> dict[str, list[str]]:
    """Routes without rows, and rows without routes (each as ``METHOD path``)."""
    declared = matrix.routes() if matrix is not None else set()
    guarded = routes - PUBLIC_ROUTES
    return {
        "routes without rows": sorted(f"{m} {p}" for m, p in guarded - declared),
        "rows without routes": sorted(f"{m} {p}" for m, p in declared - guarded),
    }


@pytest.mark.parametrize("service", SERVICES)
def test_every_route_has_its_access_rows(service: str) -> None:
    problems = unmatched(routes_of(app_of(service)), matrix_of(service))
    assert not any(problems.values()), (
        f"{service}: {problems} — add them to MATRIX in tests/{service}/test_access_matrix.py"
    )


def test_a_route_without_rows_is_found() -> None:
    app = app_of("dashboard")

    @app.post("/dashboards/{dashboard_id}/duplicate")
    async def duplicate(dashboard_id: str) -> None: ...

    problems = unmatched(routes_of(app), matrix_of("dashboard"))
    assert problems == {
        "routes without rows": ["POST /dashboards/{dashboard_id}/duplicate"],
        "rows without routes": [],
    }


def test_routes_of_sees_included_routers_and_the_public_ones() -> None:
    routes = routes_of(app_of("identity"))
    assert {("POST", "/roles/{role_id}/permissions"), ("GET", "/livez")} <= routes
    assert PUBLIC_ROUTES <= routes
