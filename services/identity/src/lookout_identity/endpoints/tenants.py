"""The caller's tenant (another tenant's id answers 404)."""

from __future__ import annotations

from uuid import UUID

from fastapi import APIRouter, Response, status

from lookout_identity.auth import CurrentCaller
from lookout_identity.components import ComponentsDep
from lookout_identity.schemas import TenantOut, TenantUpdate
from lookout_identity.service import tenants

router = APIRouter(tags=["tenants"], responses={401: {}, 403: {}, 404: {}})


@router.get("/tenants/{tenant_id}", summary="The tenant")
async def get_tenant(
    tenant_id: UUID, caller: CurrentCaller, components: ComponentsDep
) -> TenantOut:
    return await tenants.get_tenant(components, caller, tenant_id)


@router.patch("/tenants/{tenant_id}", summary="Change the tenant's name or settings")
async def update_tenant(
    tenant_id: UUID, body: TenantUpdate, caller: CurrentCaller, components: ComponentsDep
) -> TenantOut:
    return await tenants.update_tenant(components, caller, tenant_id, body)


@router.delete(
    "/tenants/{tenant_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Delete the tenant and all its data",
)
async def delete_tenant(
    tenant_id: UUID, caller: CurrentCaller, components: ComponentsDep
) -> Response:
    await tenants.delete_tenant(components, caller, tenant_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
