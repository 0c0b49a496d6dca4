"""The datasource API's HTTP handlers, one module per resource (`data_sources.py`,
`saved_queries.py`, `executions.py`, `schema_browser.py`: test connection and the schema
browser): parse, take the kit's ``CallerDep`` and ``PoolDep``, call
a use case, shape the response."""

from __future__ import annotations

from fastapi import APIRouter

from lookout_datasource.endpoints import data_sources, executions, saved_queries, schema_browser

ROUTERS: list[APIRouter] = [
    data_sources.router,
    saved_queries.router,
    executions.router,
    schema_browser.router,
]
