"""A saved query's typed parameters: what each one is, its default, and the values it accepts.

A query names a parameter ``{{ name }}``; its value is bound by the driver, never spliced into the
text. Types: ``text`` (a string), ``number`` (an integer or a finite float), ``date`` (ISO
``YYYY-MM-DD``), ``datetime`` (ISO 8601, with or without an offset), ``enum`` (one of ``options``)
and ``list`` (a list of strings or numbers; each one of ``options`` when they are given).
``Parameter.coerce`` turns a JSON value into the Python value a connector binds (``date``,
``datetime``, ``int``/``float``, ``str``, ``list``), or raises ``ValueError`` saying why not.
"""

from __future__ import annotations

import math
from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

ParameterType = Literal["text", "number", "date", "datetime", "enum", "list"]
ParameterName = Annotated[
    str,
    StringConstraints(pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,62}$"),
    Field(description="An identifier: letters, digits and _, not starting with a digit"),
]
MAX_TEXT = 10_000
MAX_LIST = 1_000


def _number(value: Any) -> int | float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError("must be a number")
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError("must be a finite number")
    return value


def _text(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError("must be a string")
    if len(value) > MAX_TEXT:
        raise ValueError(f"must be at most {MAX_TEXT} characters")
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    return value


def _date(value: Any) -> date:
    if isinstance(value, datetime) or not isinstance(value, str | date):
        raise ValueError("must be a date, YYYY-MM-DD")
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise ValueError("must be a date, YYYY-MM-DD") from None


def _datetime(value: Any) -> datetime:
    if isinstance(value, datetime):
        return value
    if not isinstance(value, str):
        raise ValueError("must be an ISO 8601 date and time")
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        raise ValueError("must be an ISO 8601 date and time") from None


def _scalar(value: Any) -> str | int | float:
    """A string or a number (an enum's value, a list's item, an option)."""
    if isinstance(value, str):
        return _text(value)
    try:
        return _number(value)
    except ValueError:
        raise ValueError("must be a string or a number") from None


class Parameter(BaseModel):
    """One parameter of a saved query."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: ParameterName
    type: ParameterType
    title: Annotated[str, StringConstraints(max_length=255, pattern=r"^[^\x00]*$")] | None = None
    required: bool = False
    default: Any = Field(default=None, description="A value of the parameter's type, or null")
    options: list[Any] | None = Field(
        default=None,
        max_length=MAX_LIST,
        description="The choices of an enum (required) or a list (optional); no other type has any",
    )

    @model_validator(mode="after")
    def _consistent(self) -> Parameter:
        if self.type == "enum" and not self.options:
            raise ValueError(f"parameter {self.name}: an enum needs options")
        if self.options is not None:
            if self.type not in ("enum", "list"):
                raise ValueError(f"parameter {self.name}: only enum and list take options")
            try:
                options = [_scalar(option) for option in self.options]
            except ValueError as error:
                raise ValueError(f"parameter {self.name}: each option {error}") from None
            if len({(isinstance(o, str), o) for o in options}) != len(options):
                raise ValueError(f"parameter {self.name}: options must be unique")
        if self.default is not None:
            try:
                self.coerce(self.default)
            except ValueError as error:
                raise ValueError(f"parameter {self.name}: the default {error}") from None
        return self

    def coerce(self, value: Any) -> Any:
        """``value`` (JSON) as the Python value bound for this parameter; ``ValueError`` says why
        it is not one."""
        match self.type:
            case "text":
                return _text(value)
            case "number":
                return _number(value)
            case "date":
                return _date(value)
            case "datetime":
                return _datetime(value)
            case "enum":
                return self._option(_scalar(value))
            case "list":
                if not isinstance(value, list):
                    raise ValueError("must be a list")
                if len(value) > MAX_LIST:
                    raise ValueError(f"must have at most {MAX_LIST} items")
                return [self._option(_scalar(item)) for item in value]
        raise AssertionError(self.type)  # pragma: no cover - the Literal is exhaustive

    def _option(self, value: str | int | float) -> str | int | float:
        if self.options is not None and not any(
            isinstance(value, str) == isinstance(option, str) and value == option
            for option in self.options
        ):
            raise ValueError("must be one of the options")
        return value


def check_unique_names(parameters: list[Parameter]) -> list[Parameter]:
    seen: set[str] = set()
    for parameter in parameters:
        if parameter.name in seen:
            raise ValueError(f"parameter names must be unique: {parameter.name} is there twice")
        seen.add(parameter.name)
    return parameters
