"""Sign-up, login, refresh, logout, machine tokens, and the public keys."""

from __future__ import annotations

import ipaddress
from typing import Any

from fastapi import APIRouter, Request, Response, status
from lookout_kit.auth.conditions import condition_json_schema

from lookout_identity.auth import CurrentCaller
from lookout_identity.components import ComponentsDep
from lookout_identity.schemas import (
    ApiKeyTokenRequest,
    LoginRequest,
    PasswordChange,
    RefreshRequest,
    ServiceTokenRequest,
    SignupRequest,
    SignupResponse,
    TokenResponse,
)
from lookout_identity.service import api_keys, service_tokens, sessions, tenants, users

router = APIRouter(tags=["auth"])


def _address(request: Request) -> str | None:
    """The client's address as uvicorn sees it (after the gateway's ``X-Forwarded-For``), or None
    when it is not an IP address (a test transport, a Unix socket)."""
    host = None if request.client is None else request.client.host
    if host is None:
        return None
    try:
        return str(ipaddress.ip_address(host))
    except ValueError:
        return None


@router.post(
    "/signup",
    status_code=status.HTTP_201_CREATED,
    summary="Create a tenant and its first admin (logged in)",
    responses={409: {"description": "slug, username or email taken"}, 422: {}},
)
async def signup(
    body: SignupRequest, request: Request, components: ComponentsDep
) -> SignupResponse:
    return await tenants.signup(components, body, _address(request))


@router.post(
    "/auth/login",
    summary="Log in by username or email",
    responses={401: {"description": "wrong login or password"}, 429: {"description": "throttled"}},
)
async def login(body: LoginRequest, request: Request, components: ComponentsDep) -> TokenResponse:
    return await sessions.login(components, body.login, body.password, _address(request))


@router.post(
    "/auth/refresh",
    summary="Spend a refresh token for a new token pair (a reused one revokes the session)",
    responses={401: {}},
)
async def refresh(body: RefreshRequest, components: ComponentsDep) -> TokenResponse:
    return await sessions.refresh(components, body.refresh_token)


@router.post(
    "/auth/logout",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="End the caller's session",
    responses={401: {}, 409: {"description": "a token from an API key: it has no session"}},
)
async def logout(caller: CurrentCaller, components: ComponentsDep) -> Response:
    await sessions.logout(components, caller)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post(
    "/me/password",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Change the caller's password (ends the user's other sessions)",
    responses={401: {}, 422: {}},
)
async def change_password(
    body: PasswordChange, caller: CurrentCaller, components: ComponentsDep
) -> Response:
    await users.change_password(components, caller, body)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post(
    "/auth/api-key-token",
    summary="Exchange an API key for a short-lived access token",
    responses={401: {}},
)
async def api_key_token(body: ApiKeyTokenRequest, components: ComponentsDep) -> TokenResponse:
    return await api_keys.api_key_token(components, body.api_key)


@router.post(
    "/auth/service-token",
    summary="A service token for service-to-service calls (client credentials)",
    responses={401: {}},
)
async def service_token(body: ServiceTokenRequest, components: ComponentsDep) -> TokenResponse:
    return await service_tokens.service_token(components, body.service, body.secret, body.tenant_id)


@router.get("/.well-known/jwks.json", summary="The public keys that verify identity's tokens")
async def jwks(components: ComponentsDep) -> dict[str, Any]:
    return await components.keyring.jwks()


@router.get("/condition-schema", summary="JSON Schema of the permission condition language")
async def condition_schema() -> dict[str, Any]:
    return condition_json_schema()
