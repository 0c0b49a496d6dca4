"""The caller's own API keys."""

from __future__ import annotations

from uuid import UUID

from fastapi import APIRouter, Response, status

from lookout_identity.auth import CurrentCaller
from lookout_identity.components import ComponentsDep
from lookout_identity.schemas import ApiKeyCreate, ApiKeyCreated, ApiKeyOut
from lookout_identity.service import api_keys

router = APIRouter(tags=["api keys"], responses={401: {}})


@router.get("/api-keys", summary="The caller's API keys (never the keys themselves)")
async def list_api_keys(caller: CurrentCaller, components: ComponentsDep) -> list[ApiKeyOut]:
    return await api_keys.list_api_keys(components, caller)


@router.post(
    "/api-keys",
    status_code=status.HTTP_201_CREATED,
    summary="Create an API key (the key is in this response only)",
)
async def create_api_key(
    body: ApiKeyCreate, caller: CurrentCaller, components: ComponentsDep
) -> ApiKeyCreated:
    return await api_keys.create_api_key(components, caller, body)


@router.delete(
    "/api-keys/{api_key_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Revoke an API key",
    responses={404: {}},
)
async def revoke_api_key(
    api_key_id: UUID, caller: CurrentCaller, components: ComponentsDep
) -> Response:
    await api_keys.revoke_api_key(components, caller, api_key_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
