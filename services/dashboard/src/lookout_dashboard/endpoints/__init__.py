"""The dashboard API's HTTP handlers, one module per resource: parse, call a use case, shape the
response (authentication and the pool come from the kit's typed dependencies)."""

from __future__ import annotations

from fastapi import APIRouter

from lookout_dashboard.endpoints import dashboards, data, exports, grants, versions

ROUTERS: list[APIRouter] = [
    dashboards.router,
    versions.router,
    grants.router,
    exports.router,
    data.router,
]
