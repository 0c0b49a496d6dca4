"""Users of the caller's tenant, and the caller itself (``/me``)."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Query, Response, status

from lookout_identity.auth import CurrentCaller
from lookout_identity.components import ComponentsDep
from lookout_identity.schemas import MeOut, UserCreate, UserOut, UserUpdate
from lookout_identity.service import users

router = APIRouter(tags=["users"], responses={401: {}, 403: {}})


@router.get("/me", summary="The caller: user, tenant, role and permissions")
async def me(caller: CurrentCaller, components: ComponentsDep) -> MeOut:
    return await users.me(components, caller)


@router.get("/users", summary="Users of the tenant")
async def list_users(
    caller: CurrentCaller,
    components: ComponentsDep,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> list[UserOut]:
    return await users.list_users(components, caller, limit=limit, offset=offset)


@router.post(
    "/users",
    status_code=status.HTTP_201_CREATED,
    summary="Create a user",
    responses={409: {}, 422: {}, 503: {"description": "busy: too many password hashes at once"}},
)
async def create_user(
    body: UserCreate, caller: CurrentCaller, components: ComponentsDep
) -> UserOut:
    return await users.create_user(components, caller, body)


@router.get("/users/{user_id}", summary="A user", responses={404: {}})
async def get_user(user_id: UUID, caller: CurrentCaller, components: ComponentsDep) -> UserOut:
    return await users.get_user(components, caller, user_id)


@router.patch("/users/{user_id}", summary="Change a user", responses={404: {}, 409: {}})
async def update_user(
    user_id: UUID, body: UserUpdate, caller: CurrentCaller, components: ComponentsDep
) -> UserOut:
    return await users.update_user(components, caller, user_id, body)


@router.post(
    "/users/{user_id}/deactivate",
    summary="Deactivate a user (its tokens are refused everywhere)",
    responses={404: {}, 409: {}},
)
async def deactivate_user(
    user_id: UUID, caller: CurrentCaller, components: ComponentsDep
) -> UserOut:
    return await users.set_active(components, caller, user_id, active=False)


@router.post("/users/{user_id}/reactivate", summary="Reactivate a user", responses={404: {}})
async def reactivate_user(
    user_id: UUID, caller: CurrentCaller, components: ComponentsDep
) -> UserOut:
    return await users.set_active(components, caller, user_id, active=True)


@router.delete(
    "/users/{user_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Delete a user",
    responses={404: {}, 409: {}},
)
async def delete_user(user_id: UUID, caller: CurrentCaller, components: ComponentsDep) -> Response:
    await users.delete_user(components, caller, user_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
