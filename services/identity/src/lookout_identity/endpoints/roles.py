"""Roles of the caller's tenant and their permissions."""

from __future__ import annotations

from uuid import UUID

from fastapi import APIRouter, Response, status

from lookout_identity.auth import CurrentCaller
from lookout_identity.components import ComponentsDep
from lookout_identity.schemas import PermissionIn, PermissionOut, RoleCreate, RoleOut, RoleUpdate
from lookout_identity.service import roles

router = APIRouter(tags=["roles"], responses={401: {}, 403: {}})


@router.get("/roles", summary="Roles of the tenant with their permissions")
async def list_roles(caller: CurrentCaller, components: ComponentsDep) -> list[RoleOut]:
    return await roles.list_roles(components, caller)


@router.post(
    "/roles",
    status_code=status.HTTP_201_CREATED,
    summary="Create a custom role",
    responses={409: {}, 422: {"description": "e.g. an unknown condition"}},
)
async def create_role(
    body: RoleCreate, caller: CurrentCaller, components: ComponentsDep
) -> RoleOut:
    return await roles.create_role(components, caller, body)


@router.get("/roles/{role_id}", summary="A role", responses={404: {}})
async def get_role(role_id: UUID, caller: CurrentCaller, components: ComponentsDep) -> RoleOut:
    return await roles.get_role(components, caller, role_id)


@router.patch("/roles/{role_id}", summary="Rename or describe a role", responses={404: {}, 409: {}})
async def update_role(
    role_id: UUID, body: RoleUpdate, caller: CurrentCaller, components: ComponentsDep
) -> RoleOut:
    return await roles.update_role(components, caller, role_id, body)


@router.delete(
    "/roles/{role_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Delete a custom role without users",
    responses={404: {}, 409: {}},
)
async def delete_role(role_id: UUID, caller: CurrentCaller, components: ComponentsDep) -> Response:
    await roles.delete_role(components, caller, role_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post(
    "/roles/{role_id}/permissions",
    status_code=status.HTTP_201_CREATED,
    summary="Grant a permission to a role",
    responses={404: {}, 409: {}, 422: {"description": "e.g. an unknown condition"}},
)
async def grant_permission(
    role_id: UUID, body: PermissionIn, caller: CurrentCaller, components: ComponentsDep
) -> PermissionOut:
    return await roles.grant_permission(components, caller, role_id, body)


@router.delete(
    "/roles/{role_id}/permissions/{permission_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Revoke a permission from a role",
    responses={404: {}, 409: {}},
)
async def revoke_permission(
    role_id: UUID, permission_id: UUID, caller: CurrentCaller, components: ComponentsDep
) -> Response:
    await roles.revoke_permission(components, caller, role_id, permission_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
