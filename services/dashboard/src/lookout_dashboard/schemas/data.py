"""A dashboard's data (``GET /dashboards/{id}/data``): one result or one error per query component,
as the datasource service answered it for the caller."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field


class ResultColumn(BaseModel):
    model_config = ConfigDict(extra="ignore")

    name: str
    type: str


class QueryResult(BaseModel):
    model_config = ConfigDict(extra="ignore")

    execution_id: UUID = Field(
        description="The execution that computed it (cached: an earlier one)"
    )
    columns: list[ResultColumn]
    rows: list[list[Any]]
    row_count: int
    truncated: bool
    duration_ms: int
    cached: bool = False


class ComponentError(BaseModel):
    model_config = ConfigDict(extra="ignore")

    code: str = Field(description="Stable: the datasource service's error code")
    message: str


class ComponentData(BaseModel):
    component_id: str
    saved_query_id: UUID
    ok: bool
    result: QueryResult | None = None
    error: ComponentError | None = None

    @classmethod
    def of(cls, component_id: str, saved_query_id: UUID, outcome: Any) -> ComponentData:
        """From one item of the datasource batch's answer."""
        if not isinstance(outcome, dict):
            outcome = {}
        if outcome.get("ok") and isinstance(outcome.get("result"), dict):
            return cls(
                component_id=component_id,
                saved_query_id=saved_query_id,
                ok=True,
                result=QueryResult.model_validate(outcome["result"]),
            )
        error = outcome.get("error") if isinstance(outcome.get("error"), dict) else {}
        return cls(
            component_id=component_id,
            saved_query_id=saved_query_id,
            ok=False,
            error=ComponentError(
                code=str(error.get("code", "datasource_error")),
                message=str(error.get("message", "the query did not run")),
            ),
        )


class DashboardData(BaseModel):
    dashboard_id: UUID
    version: int = Field(description="The dashboard version whose components were run")
    components: list[ComponentData] = Field(
        description="One per component with a saved query, in the dashboard's order"
    )
