"""An alert's condition and schedule, as stored (``condition_config``, ``schedule``) and published as
JSON Schema (``GET /schemas/condition``).

- **value**: what is read of the query's result: a column of the first row, the row count, or an
  aggregate (min, max, sum, avg) of a column over the rows;
- **change** (optional): compare the change of that value since the previous evaluation instead,
  as a percentage or an absolute difference;
- **threshold**: the operator and value the (changed) value is compared with;
- **no_data**: what an empty result (or a null value) means: ``ok``, ``trigger``, or ``keep`` (the
  previous outcome);
- **on_error**: what a failed query means: ``error`` (state ``error``, no notification),
  ``trigger``, or ``keep``.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, FiniteFloat

Column = Annotated[str, Field(min_length=1, max_length=255)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ColumnValue(_Model):
    """The value of ``column`` in the first row."""

    kind: Literal["column"]
    column: Column


class RowCount(_Model):
    """How many rows the query returned."""

    kind: Literal["row_count"]


class Aggregate(_Model):
    """``function`` of ``column`` over every row (nulls ignored)."""

    kind: Literal["aggregate"]
    function: Literal["min", "max", "sum", "avg"]
    column: Column


Value = Annotated[ColumnValue | RowCount | Aggregate, Field(discriminator="kind")]
Operator = Literal[">", ">=", "<", "<=", "==", "!="]


class Threshold(_Model):
    op: Operator
    value: FiniteFloat


class Change(_Model):
    """Compare the change since the previous evaluation's value, not the value itself (no previous
    value, or a percentage of a previous 0: the outcome is kept)."""

    kind: Literal["percent", "absolute"]


class Condition(_Model):
    value: Value
    threshold: Threshold
    change: Change | None = None
    no_data: Literal["ok", "trigger", "keep"] = "ok"
    on_error: Literal["error", "trigger", "keep"] = "error"


class IntervalSchedule(_Model):
    """Every ``seconds`` (at least the service's ``min_interval_s``)."""

    kind: Literal["interval"]
    seconds: int = Field(ge=1, le=31 * 86_400)


class CronSchedule(_Model):
    """At the times a five-field cron ``expression`` names, in UTC."""

    kind: Literal["cron"]
    expression: str = Field(min_length=9, max_length=100)


Schedule = Annotated[IntervalSchedule | CronSchedule, Field(discriminator="kind")]


def condition_json_schema() -> dict[str, Any]:
    return Condition.model_json_schema()
