"""The access matrix: for every route of a service, what each kind of caller gets from it.

**Where.** A service's matrix is ``MATRIX`` in ``tests/<service>/test_access_matrix.py``;
``tests/testing/test_access_matrix_complete.py`` fails while a route of the service's app has no
row (or a row names no route). Only ``PUBLIC_ROUTES`` (health, metrics, docs) go without rows.

**Format.** ::

    ACTORS = ("owner", "granted", "same tenant", "other tenant", NO_TOKEN)
    MATRIX = Matrix(
        "dashboard",
        ACTORS,
        #                                         owner granted same other none
        Row("GET", "/dashboards/{dashboard_id}", (200,  200,    404,  404,  401)),
        Row("GET", "/dashboards", (SEES, SEES, HIDDEN, HIDDEN, 401), lists="dashboard_id"),
        Row("DELETE", "/dashboards/{dashboard_id}", (204, 403, 404, 404, 401), fresh=True),
    )

- ``method`` and ``path`` are the route's, exactly as the app declares it (the template with its
  ``{parameters}``); the expectations give, for every actor in the matrix's order, the HTTP status
  that caller gets, or for a list (``lists="<parameter>"``) ``SEES`` / ``HIDDEN``: a 200 whose
  body does / does not hold the id the cell's ``params[<parameter>]`` names.
- ``request(cell)`` builds httpx's keyword arguments (``json``, ``params``, ``headers``) from the
  arranged cell: a unique name per call, the target's version, an id to reference.
- ``fresh=True``: the call deletes its object or changes what later cells would meet (a logout,
  a restore): each actor then gets objects of its own instead of the module's shared ones.
- ``outcome(response)``: the observed value when the HTTP status is not it (a batch answers 200 with
  one status per item).
- ``case``: a label, when a route needs more than one row.

**Actors and objects.** The test module supplies ``arrange(actor, fresh) -> Cell``: the caller's
headers (none for ``NO_TOKEN``), the ids of real objects made through the API (``params``: the
route's path parameters and any other id a request or a list refers to), and ``facts`` for the
request builders. ``check_row`` then
calls the route once per actor and compares the whole row at once. Every answer of 400 or more must
be the kit's error model (``{"error": {"code", "message"}}``); one that is not is reported as such.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx
from fastapi import FastAPI
from fastapi.routing import iter_route_contexts

NO_TOKEN = "no token"
SEES = "200, listed"
HIDDEN = "200, not listed"

Outcome = int | str

PUBLIC_ROUTES: frozenset[tuple[str, str]] = frozenset(
    {
        ("GET", "/livez"),
        ("GET", "/readyz"),
        ("GET", "/metrics"),
        ("GET", "/openapi.json"),
        ("GET", "/asyncapi.json"),
        ("GET", "/docs"),
        ("GET", "/docs/oauth2-redirect"),
        ("GET", "/redoc"),
    }
)
"""Every service's health, metrics and documentation: answered without a token (``/metrics`` to a
client inside ``metrics_allow_ips``; production also turns the docs off), and the only routes
without rows in a matrix."""


@dataclass(frozen=True)
class Cell:
    """One actor facing the objects of one row: what the request is made of."""

    headers: Mapping[str, str]
    params: Mapping[str, str] = field(default_factory=dict)
    facts: Mapping[str, Any] = field(default_factory=dict)


Arrange = Callable[[str, bool], Awaitable[Cell]]


@dataclass(frozen=True)
class Row:
    method: str
    path: str
    expected: tuple[Outcome, ...]
    request: Callable[[Cell], dict[str, Any]] | None = None
    fresh: bool = False
    lists: str | None = None
    outcome: Callable[[httpx.Response], Outcome] | None = None
    case: str = ""

    @property
    def route(self) -> tuple[str, str]:
        return (self.method, self.path)

    @property
    def name(self) -> str:
        return f"{self.method} {self.path}" + (f" ({self.case})" if self.case else "")


@dataclass(frozen=True, init=False)
class Matrix:
    service: str
    actors: tuple[str, ...]
    rows: tuple[Row, ...]

    def __init__(self, service: str, actors: Iterable[str], *rows: Row) -> None:
        object.__setattr__(self, "service", service)
        object.__setattr__(self, "actors", tuple(actors))
        object.__setattr__(self, "rows", rows)
        names = [row.name for row in rows]
        duplicates = {name for name in names if names.count(name) > 1}
        if duplicates:
            raise ValueError(f"{service}: rows named twice (give a case): {sorted(duplicates)}")
        for row in rows:
            if len(row.expected) != len(self.actors):
                raise ValueError(
                    f"{service} {row.name}: {len(row.expected)} expectations for "
                    f"{len(self.actors)} actors {self.actors}"
                )

    def routes(self) -> set[tuple[str, str]]:
        return {row.route for row in self.rows}

    def expected(self, row: Row) -> dict[str, Outcome]:
        return dict(zip(self.actors, row.expected, strict=True))

    @property
    def ids(self) -> list[str]:
        return [row.name for row in self.rows]


def routes_of(app: FastAPI) -> set[tuple[str, str]]:
    """Every (method, path) the app answers, included routers too (``HEAD`` of a ``GET`` aside)."""
    found: set[tuple[str, str]] = set()
    for route in iter_route_contexts(app.routes):
        path = route.path
        if path is None:
            continue
        for method in route.methods or ():
            if method != "HEAD":
                found.add((method, path))
    return found


def _is_error_model(response: httpx.Response) -> bool:
    try:
        error = response.json()["error"]
    except (json.JSONDecodeError, KeyError, TypeError):
        return False
    return isinstance(error, dict) and {"code", "message"} <= set(error)


def observed_outcome(row: Row, cell: Cell, response: httpx.Response) -> Outcome:
    if response.status_code >= 400 and not _is_error_model(response):
        return f"{response.status_code} (not the error model: {response.text[:120]!r})"
    if row.outcome is not None:
        return row.outcome(response)
    if row.lists is not None and response.status_code == 200:
        return SEES if cell.params[row.lists] in response.text else HIDDEN
    return response.status_code


async def observe_row(
    http: httpx.AsyncClient, matrix: Matrix, row: Row, arrange: Arrange
) -> dict[str, Outcome]:
    """What each actor of ``matrix`` gets from ``row``'s route (one call each)."""
    observed: dict[str, Outcome] = {}
    for actor in matrix.actors:
        cell = await arrange(actor, row.fresh)
        kwargs = row.request(cell) if row.request is not None else {}
        headers = {**cell.headers, **kwargs.pop("headers", {})}
        response = await http.request(
            row.method, row.path.format(**cell.params), headers=headers, **kwargs
        )
        observed[actor] = observed_outcome(row, cell, response)
    return observed


async def check_row(http: httpx.AsyncClient, matrix: Matrix, row: Row, arrange: Arrange) -> None:
    """Fail, naming every differing actor, unless each actor gets what the row expects."""
    observed = await observe_row(http, matrix, row, arrange)
    expected = matrix.expected(row)
    wrong = {
        actor: f"expected {expected[actor]}, got {observed[actor]}"
        for actor in matrix.actors
        if observed[actor] != expected[actor]
    }
    assert not wrong, f"{matrix.service} {row.name}: {wrong}"


async def check_public_routes(http: httpx.AsyncClient, app_routes: set[tuple[str, str]]) -> None:
    """Each of ``PUBLIC_ROUTES`` the app has answers 200 without a token."""
    refused = {}
    for method, path in sorted(app_routes & PUBLIC_ROUTES):
        response = await http.request(method, path)
        if response.status_code != 200:
            refused[f"{method} {path}"] = response.status_code
    assert not refused, f"public routes that did not answer without a token: {refused}"
