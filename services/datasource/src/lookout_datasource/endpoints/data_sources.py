"""Data sources over HTTP: create, list, open, update (partial), delete. Secrets are write-only."""

from __future__ import annotations

import re
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Depends, Header, Query, Response, status
from lookout_kit.dependencies import CallerDep, PoolDep, RuntimeDep
from lookout_kit.errors import Invalid
from lookout_kit.secret_box import SecretBox

from lookout_datasource.schemas.data_sources import (
    DataSource,
    DataSourceCreate,
    DataSourcePage,
    DataSourceUpdate,
)
from lookout_datasource.service import data_sources
from lookout_datasource.settings import Settings

router = APIRouter(tags=["data sources"])
ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"description": "no valid token"},
    404: {"description": "no such data source"},
}
VERSION_TEXT = re.compile(r"^[0-9]{1,9}$")
_boxes: dict[int, tuple[Settings, SecretBox]] = {}


async def secret_box_of(runtime: RuntimeDep) -> SecretBox:
    """The secret box the service's settings describe (built once per settings)."""
    settings = runtime.settings
    assert isinstance(settings, Settings)
    held = _boxes.get(id(settings))
    if held is None or held[0] is not settings:
        held = _boxes[id(settings)] = (settings, settings.secret_box())
    return held[1]


SecretBoxDep = Annotated[SecretBox, Depends(secret_box_of)]


async def if_match_version(
    if_match: Annotated[
        str | None,
        Header(max_length=64, description='The version the update is based on, e.g. "3"'),
    ] = None,
) -> int | None:
    """The version an update is based on (``If-Match: "N"``, optional): 409 if it moved on."""
    if if_match is None:
        return None
    text = if_match.strip().removeprefix("W/").strip('"')
    if not VERSION_TEXT.match(text):  # ASCII digits only: str.isdigit() also takes "²"
        raise Invalid('If-Match must be a version, e.g. "3"', code="invalid_if_match")
    return int(text)


IfMatchDep = Annotated[int | None, Depends(if_match_version)]


@router.post(
    "/data-sources",
    status_code=status.HTTP_201_CREATED,
    summary="Create a data source",
    responses={401: ERRORS[401], 403: {}, 409: {"description": "the name is taken"}},
)
async def create_data_source(
    body: DataSourceCreate, caller: CallerDep, pool: PoolDep, box: SecretBoxDep
) -> DataSource:
    return await data_sources.create_data_source(pool, box, caller, body)


@router.get("/data-sources", summary="The data sources the caller may see, by name, paged")
async def list_data_sources(
    caller: CallerDep,
    pool: PoolDep,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[str | None, Query(max_length=1_000)] = None,
) -> DataSourcePage:
    return await data_sources.list_data_sources(pool, caller, limit=limit, cursor=cursor)


@router.get("/data-sources/{data_source_id}", summary="A data source", responses=ERRORS)
async def get_data_source(data_source_id: UUID, caller: CallerDep, pool: PoolDep) -> DataSource:
    return await data_sources.get_data_source(pool, caller, data_source_id)


@router.patch(
    "/data-sources/{data_source_id}",
    summary="Change a data source's name or connection settings",
    description=(
        "connection_config is merged into the stored settings: a key given replaces, a key "
        "omitted stays, a key set to null goes back to its default. A secret (password) omitted "
        "or sent back masked is kept; null clears it."
    ),
    responses={**ERRORS, 403: {}, 409: {"description": "the name is taken, or a stale If-Match"}},
)
async def update_data_source(
    data_source_id: UUID,
    body: DataSourceUpdate,
    caller: CallerDep,
    pool: PoolDep,
    box: SecretBoxDep,
    version: IfMatchDep,
) -> DataSource:
    return await data_sources.update_data_source(pool, box, caller, data_source_id, body, version)


@router.delete(
    "/data-sources/{data_source_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Delete a data source no saved query uses",
    responses={**ERRORS, 403: {}, 409: {"description": "saved queries use it"}},
)
async def delete_data_source(data_source_id: UUID, caller: CallerDep, pool: PoolDep) -> Response:
    await data_sources.delete_data_source(pool, caller, data_source_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
