"""Identity's HTTP handlers, one module per resource: parse, authorise, call a use case."""

from __future__ import annotations

from fastapi import APIRouter

from lookout_identity.endpoints import api_keys, auth, roles, tenants, users

ROUTERS: list[APIRouter] = [
    auth.router,
    users.router,
    tenants.router,
    roles.router,
    api_keys.router,
]
