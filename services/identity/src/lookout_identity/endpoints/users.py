"""Users of the caller's tenant, and the caller itself (``/me``)."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Query, Request, Response, status

from lookout_identity.auth import CurrentCaller
from lookout_identity.components import components_of
from lookout_identity.schemas import MeOut, UserCreate, UserOut, UserUpdate
from lookout_identity.service import users

router = APIRouter(tags=["users"], responses={401: {}, 403: {}})


@router.get("/me", summary="The caller: user, tenant, role and permissions")
async def me(caller: CurrentCaller, request: Request) -> MeOut:
    return await users.me(components_of(request), caller)


@router.get("/users", summary="Users of the tenant")
async def list_users(
    caller: CurrentCaller,
    request: Request,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> list[UserOut]:
    return await users.list_users(components_of(request), caller, limit=limit, offset=offset)


@router.post(
    "/users",
    status_code=status.HTTP_201_CREATED,
    summary="Create a user",
    responses={409: {}, 422: {}},
)
async def create_user(body: UserCreate, caller: CurrentCaller, request: Request) -> UserOut:
    return await users.create_user(components_of(request), caller, body)


@router.get("/users/{user_id}", summary="A user", responses={404: {}})
async def get_user(user_id: UUID, caller: CurrentCaller, request: Request) -> UserOut:
    return await users.get_user(components_of(request), caller, user_id)


@router.patch("/users/{user_id}", summary="Change a user", responses={404: {}, 409: {}})
async def update_user(
    user_id: UUID, body: UserUpdate, caller: CurrentCaller, request: Request
) -> UserOut:
    return await users.update_user(components_of(request), caller, user_id, body)


@router.post(
    "/users/{user_id}/deactivate",
    summary="Deactivate a user (its tokens are refused everywhere)",
    responses={404: {}, 409: {}},
)
async def deactivate_user(user_id: UUID, caller: CurrentCaller, request: Request) -> UserOut:
    return await users.set_active(components_of(request), caller, user_id, active=False)


@router.post("/users/{user_id}/reactivate", summary="Reactivate a user", responses={404: {}})
async def reactivate_user(user_id: UUID, caller: CurrentCaller, request: Request) -> UserOut:
    return await users.set_active(components_of(request), caller, user_id, active=True)


@router.delete(
    "/users/{user_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Delete a user",
    responses={404: {}, 409: {}},
)
async def delete_user(user_id: UUID, caller: CurrentCaller, request: Request) -> Response:
    await users.delete_user(components_of(request), caller, user_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
