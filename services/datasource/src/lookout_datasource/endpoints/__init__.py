"""The datasource API's HTTP handlers, one module per resource (`data_sources.py`,
`saved_queries.py`, `executions.py`): parse, take the kit's ``CallerDep`` and ``PoolDep``, call
a use case, shape the response."""

from __future__ import annotations

from fastapi import APIRouter

from lookout_datasource.endpoints import data_sources, executions, saved_queries

ROUTERS: list[APIRouter] = [data_sources.router, saved_queries.router, executions.router]
