"""A request's parameter values checked against a query's typed parameters: what the driver binds.

For each ``{{ name }}`` of the text: the value given, else the parameter's default; a required
parameter with neither (or given null) is refused; an optional one binds NULL. A value is coerced
by its parameter's type (``Parameter.coerce``). A value for no parameter, a placeholder with no
parameter, or a value of the wrong type is a 422 ``invalid_parameters`` whose ``details`` give each
problem's ``loc`` (``body.values.<name>``) and reason, never the value.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from lookout_kit.errors import Invalid

from lookout_datasource.schemas.parameters import Parameter
from lookout_datasource.service.connectors.placeholders import placeholder_names


def _problem(location: tuple[str, ...], name: str, message: str, kind: str) -> dict[str, Any]:
    return {"loc": [*location, name], "msg": message, "type": kind}


def bind_values(
    query_text: str,
    parameters: Sequence[Parameter],
    values: dict[str, Any],
    *,
    location: tuple[str, ...] = ("body", "values"),
) -> dict[str, Any]:
    """The values to bind for ``query_text``'s placeholders, or ``Invalid`` listing each problem."""
    defined = {parameter.name: parameter for parameter in parameters}
    problems = [
        _problem(location, name, "no such parameter", "unknown_parameter")
        for name in values
        if name not in defined
    ]
    bound: dict[str, Any] = {}
    for name in placeholder_names(query_text):
        parameter = defined.get(name)
        if parameter is None:
            problems.append(
                _problem(
                    location,
                    name,
                    "the query names it but defines no such parameter",
                    "undefined_parameter",
                )
            )
            continue
        value = values[name] if name in values else parameter.default
        if value is None:
            if parameter.required:
                problems.append(_problem(location, name, "a value is required", "missing"))
            bound[name] = None
            continue
        try:
            bound[name] = parameter.coerce(value)
        except ValueError as error:
            problems.append(_problem(location, name, f"{parameter.type}: {error}", "invalid_value"))
    if problems:
        where = "; ".join(f"{p['loc'][-1]}: {p['msg']}" for p in problems[:5])
        raise Invalid(
            f"invalid parameter values: {where}", code="invalid_parameters", details=problems
        )
    return bound
