"""The analytics API's HTTP handlers, one module per report family (``dashboards``, ``queries``,
``users``) and the report window they share (``window``): parse, take the kit's ``CallerDep`` and
``ClickHouseDep``, call a use case, shape the response; and the console's static page
(``console``)."""

from __future__ import annotations

from fastapi import APIRouter

from lookout_analytics.endpoints import console, dashboards, queries, users

ROUTERS: list[APIRouter] = [dashboards.router, queries.router, users.router, console.router]
