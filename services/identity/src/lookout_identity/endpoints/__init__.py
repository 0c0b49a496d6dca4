"""Identity's HTTP handlers, one module per resource: parse, authorise, call a use case."""

from __future__ import annotations

from fastapi import APIRouter, Depends

from lookout_identity.endpoints import api_keys, auth, roles, tenants, users
from lookout_identity.open_limits import limit_open_endpoints

# The open endpoints (sign-up, login, refresh, machine tokens) are auth's: a limit per address.
_limited_auth = APIRouter(
    dependencies=[Depends(limit_open_endpoints)],
    responses={
        429: {"description": "too many requests from this address (Retry-After)"},
        503: {"description": "busy: too many password hashes at once (Retry-After)"},
    },
)
_limited_auth.include_router(auth.router)

ROUTERS: list[APIRouter] = [
    _limited_auth,
    users.router,
    tenants.router,
    roles.router,
    api_keys.router,
]
