"""HTTP bodies of executions: a saved query's run, an ad hoc query, a batch, and their results."""

from __future__ import annotations

import builtins
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, model_validator

from lookout_datasource.schemas.parameters import ParameterName
from lookout_datasource.schemas.saved_queries import Parameters, QueryText

if TYPE_CHECKING:
    from lookout_datasource.repository.executions import ExecutionRow

MAX_BATCH = 50
Values = Annotated[
    dict[ParameterName, Any],
    Field(max_length=100, description="A value per parameter name (JSON of the parameter's type)"),
]
Status = Literal["running", "success", "failed", "timeout", "cancelled"]


class _Options(BaseModel):
    model_config = ConfigDict(extra="forbid")

    row_limit: int | None = Field(
        default=None,
        ge=1,
        le=1_000_000,
        description="At most this many rows (the service's limit caps it); `truncated` says more existed",
    )
    timeout_s: float | None = Field(
        default=None,
        gt=0,
        le=3_600,
        description="Stop the query on the server after this long (the service's timeout caps it)",
    )
    max_age_s: int | None = Field(
        default=None,
        ge=0,
        le=86_400,
        description="Accept a cached result up to this old (seconds); absent or 0: run the query",
    )


class ExecuteSavedQuery(_Options):
    values: Values = Field(default_factory=dict)


class ExecuteAdHoc(_Options):
    query_text: QueryText
    parameters: Parameters = Field(
        default_factory=list, description="Typed parameters, as a saved query's"
    )
    values: Values = Field(default_factory=dict)


class BatchItem(_Options):
    """A saved query (``saved_query_id`` and ``values``) or an ad hoc query (``data_source_id``,
    ``query_text``, ``parameters``, ``values``)."""

    saved_query_id: UUID | None = None
    data_source_id: UUID | None = None
    query_text: QueryText | None = None
    parameters: Parameters | None = None
    values: Values = Field(default_factory=dict)

    @model_validator(mode="after")
    def _one_kind(self) -> BatchItem:
        if self.saved_query_id is not None:
            if any(v is not None for v in (self.data_source_id, self.query_text, self.parameters)):
                raise ValueError("a saved query's item takes saved_query_id and values only")
        elif self.data_source_id is None or self.query_text is None:
            raise ValueError(
                "an item needs saved_query_id, or data_source_id and query_text (ad hoc)"
            )
        return self


class ExecuteBatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    items: list[BatchItem] = Field(min_length=1, max_length=MAX_BATCH)
    user_access_token: str | None = Field(
        default=None,
        min_length=1,
        max_length=16_384,
        description=(
            "Only from a service token with a tenant: the access token of the user the service "
            "acts for; the batch runs with that user's rights"
        ),
    )


class ResultColumn(BaseModel):
    name: str
    type: str


class ExecutionResult(BaseModel):
    _rows_json: builtins.bytes | None = PrivateAttr(default=None)

    execution_id: UUID = Field(
        description="The execution that computed it (cached: an earlier one)"
    )
    data_source_id: UUID
    saved_query_id: UUID | None
    status: Literal["success"] = "success"
    columns: list[ResultColumn]
    rows: list[list[Any]]
    row_count: int
    bytes: int
    duration_ms: int
    truncated: bool
    cached: bool = False
    cache_age_s: float | None = Field(default=None, description="How old a cached result is")

    @property
    def rows_json(self) -> builtins.bytes | None:
        """The rows already encoded as JSON by the connector, when it did (``rows`` is then
        left empty: ``to_json`` is how such a result is written)."""
        return self._rows_json

    @rows_json.setter
    def rows_json(self, encoded: builtins.bytes | None) -> None:
        self._rows_json = encoded

    def to_json(self) -> builtins.bytes:
        """The result as JSON, its rows spliced in as the connector encoded them (one encoding
        of 10,000 rows instead of two)."""
        if self._rows_json is None:
            return self.model_dump_json().encode()
        head = self.model_dump_json(exclude={"rows"}).encode()
        return head[:-1] + b',"rows":' + self._rows_json + b"}"


class ItemError(BaseModel):
    code: str
    message: str
    status: int = Field(description="The HTTP status the same error has on its own")
    execution_id: UUID | None = None
    details: Any = None


class BatchItemOutcome(BaseModel):
    ok: bool
    result: ExecutionResult | None = None
    error: ItemError | None = None


class BatchResult(BaseModel):
    items: list[BatchItemOutcome] = Field(description="One per item, in the request's order")

    def to_json(self) -> builtins.bytes:
        """The batch as JSON, each result's rows spliced in as encoded once (``to_json``)."""
        parts = []
        for item in self.items:
            if item.result is not None and item.result.rows_json is not None:
                error = b"null" if item.error is None else item.error.model_dump_json().encode()
                parts.append(
                    b'{"ok":'
                    + (b"true" if item.ok else b"false")
                    + b',"result":'
                    + item.result.to_json()
                    + b',"error":'
                    + error
                    + b"}"
                )
            else:
                parts.append(item.model_dump_json().encode())
        return b'{"items":[' + b",".join(parts) + b"]}"


class Execution(BaseModel):
    """An execution's record (no rows: those are in the response that ran it)."""

    id: UUID
    data_source_id: UUID
    saved_query_id: UUID | None
    user_id: UUID
    status: Status
    started_at: datetime
    finished_at: datetime | None
    row_count: int | None
    duration_ms: int | None
    error_code: str | None

    @classmethod
    def from_row(cls, row: ExecutionRow) -> Execution:
        return cls.model_validate(row, from_attributes=True)


class CancelOutcome(BaseModel):
    execution_id: UUID
    cancelled: bool = Field(description="Whether a running query was stopped on the server")
    status: Status
