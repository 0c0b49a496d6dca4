"""``{{ name }}`` placeholders → a driver's own bound parameters (see ``base``'s docstring).

``expand`` walks the query once, calling ``placeholder(value)`` for each value (a list gives one
call per item, joined by commas; an empty list gives ``NULL``) and keeps the rest of the text as
is, passed through ``text`` (MySQL doubles its ``%``). Every placeholder needs a value and every
value a placeholder: else ``QueryError``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from lookout_datasource.service.connectors.base import QueryError

PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")
SCALARS = (str, int, float, Decimal, date, datetime, bool)


def placeholder_names(sql: str) -> list[str]:
    """The names of the query's placeholders, in order of first use."""
    return list(dict.fromkeys(found.group(1) for found in PLACEHOLDER.finditer(sql)))


def _check_scalar(name: str, value: Any) -> None:
    if value is not None and not isinstance(value, SCALARS):
        raise QueryError(f"parameter {name}: unsupported value type {type(value).__name__}")
    if isinstance(value, float) and value != value:
        raise QueryError(f"parameter {name}: not a number")


def expand(
    sql: str,
    parameters: Mapping[str, Any],
    placeholder: Callable[[Any], str],
    *,
    text: Callable[[str], str] = lambda part: part,
) -> str:
    """``sql`` with every placeholder replaced by ``placeholder(value)``'s text."""
    missing = [name for name in placeholder_names(sql) if name not in parameters]
    if missing:
        raise QueryError(f"no value for parameter {', '.join(missing)}")
    unused = sorted(set(parameters) - set(placeholder_names(sql)))
    if unused:
        raise QueryError(f"parameters not in the query: {', '.join(unused)}")
    parts: list[str] = []
    position = 0
    for found in PLACEHOLDER.finditer(sql):
        parts.append(text(sql[position : found.start()]))
        position = found.end()
        name, value = found.group(1), parameters[found.group(1)]
        if isinstance(value, list | tuple):
            for item in value:
                _check_scalar(name, item)
            parts.append(", ".join(placeholder(item) for item in value) if value else "NULL")
        else:
            _check_scalar(name, value)
            parts.append(placeholder(value))
    parts.append(text(sql[position:]))
    return "".join(parts)
