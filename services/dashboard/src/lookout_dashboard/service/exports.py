"""Export a dashboard as one portable document, and import such a document as a new dashboard."""

from __future__ import annotations

import uuid
from uuid import UUID

import asyncpg
from lookout_kit.auth.caller import Caller
from lookout_kit.errors import Invalid
from pydantic import ValidationError

from lookout_dashboard.schemas.dashboards import Dashboard, DashboardContent, ExportedDashboard
from lookout_dashboard.service import access
from lookout_dashboard.service.dashboards import check_references, create_dashboard


async def export_dashboard(
    pool: asyncpg.Pool, caller: Caller, dashboard_id: UUID
) -> ExportedDashboard:
    async with pool.acquire() as conn:
        row, _ = await access.load(conn, caller, dashboard_id, "view")
    return ExportedDashboard(dashboard=DashboardContent.from_row(row))


def remap_ids(content: DashboardContent, saved_queries: dict[UUID, UUID]) -> DashboardContent:
    """Fresh component and filter ids (references follow them), saved queries through the map."""
    components = {c.id: f"c{uuid.uuid4().hex[:12]}" for c in content.components}
    filters = {f.id: f"f{uuid.uuid4().hex[:12]}" for f in content.filters}
    document = content.model_dump(mode="json")
    for component in document["components"]:
        component["id"] = components[component["id"]]
        if "filter_id" in component:
            component["filter_id"] = filters.get(component["filter_id"], component["filter_id"])
        if component.get("saved_query_id"):
            old = UUID(component["saved_query_id"])
            component["saved_query_id"] = str(saved_queries.get(old, old))
        if "parameter_bindings" in component:
            component["parameter_bindings"] = {
                name: filters.get(filter_id, filter_id)
                for name, filter_id in component["parameter_bindings"].items()
            }
    for filter_ in document["filters"]:
        filter_["id"] = filters[filter_["id"]]
        filter_["targets"] = [components.get(t, t) for t in filter_["targets"]]
    for item in document["layout"]["items"]:
        item["component_id"] = components.get(item["component_id"], item["component_id"])
    try:
        return DashboardContent.model_validate(document)
    except ValidationError as error:  # cannot happen for a valid input; say so if it does
        raise Invalid("the imported dashboard could not be remapped", details=str(error)) from error


async def import_dashboard(
    pool: asyncpg.Pool, caller: Caller, exported: ExportedDashboard, saved_queries: dict[UUID, UUID]
) -> Dashboard:
    check_references(exported.dashboard, ("body", "dashboard"))
    return await create_dashboard(pool, caller, remap_ids(exported.dashboard, saved_queries))
