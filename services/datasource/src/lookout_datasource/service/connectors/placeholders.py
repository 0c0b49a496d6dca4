"""``{{ name }}`` placeholders → a driver's own bound parameters (see ``base``'s docstring).

``expand`` walks the query once, calling ``placeholder(value)`` for each value (a list gives one
call per item, joined by commas; an empty list gives ``NULL``) and keeps the rest of the text as
is, passed through ``text`` (MySQL doubles its ``%``). Every placeholder needs a value and every
value a placeholder: else ``QueryError``.

A placeholder inside a quoted string, a quoted name or a comment is refused: where the driver
binds on the client (MySQL, ClickHouse), the value's own quotes would end the author's string and
put the value's text into the SQL. Write ``'%' || {{ q }} || '%'`` (``concat('%', {{ q }}, '%')``)
rather than ``'%{{ q }}%'``. The quoting rules are the dialect's: ``backslash_escapes`` (a
backslash escapes the next character in a string: ClickHouse, MySQL unless
``NO_BACKSLASH_ESCAPES``) and ``hash_comments`` (MySQL's ``#`` comments); an unterminated string or
comment runs to the end of the text.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from datetime import date, datetime
from decimal import Decimal
from functools import cache
from typing import Any

from lookout_datasource.service.connectors.base import QueryError

PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")
SCALARS = (str, int, float, Decimal, date, datetime, bool)


def placeholder_names(sql: str) -> list[str]:
    """The names of the query's placeholders, in order of first use."""
    return list(dict.fromkeys(found.group(1) for found in PLACEHOLDER.finditer(sql)))


@cache
def _scanner(backslash_escapes: bool, hash_comments: bool) -> re.Pattern[str]:
    def quoted(quote: str) -> str:
        if backslash_escapes:
            return rf"{quote}(?:[^{quote}\\]|\\.|\\\Z)*(?:{quote}|\Z)"
        return rf"{quote}[^{quote}]*(?:{quote}|\Z)"

    regions = [quoted("'"), quoted('"'), quoted("`"), r"--[^\n]*", r"/\*.*?(?:\*/|\Z)"]
    if hash_comments:
        regions.append(r"#[^\n]*")
    return re.compile(rf"(?P<region>{'|'.join(regions)})|{PLACEHOLDER.pattern}", re.DOTALL)


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
    backslash_escapes: bool = True,
    hash_comments: bool = False,
) -> str:
    """``sql`` with every placeholder replaced by ``placeholder(value)``'s text."""
    parts: list[str] = []
    used: set[str] = set()
    position = 0
    for found in _scanner(backslash_escapes, hash_comments).finditer(sql):
        if found.group("region") is not None:
            inside = PLACEHOLDER.search(found.group("region"))
            if inside:
                raise QueryError(
                    f"the placeholder {inside.group(0)} is inside a quoted string or a comment:"
                    " put it outside the quotes (e.g. '%' || {{ q }} || '%')"
                )
            continue
        name = found.group(2)  # the placeholder's own group, after "region"
        if name not in parameters:
            raise QueryError(f"no value for parameter {name}")
        used.add(name)
        parts.append(text(sql[position : found.start()]))
        position = found.end()
        value = parameters[name]
        if isinstance(value, list | tuple):
            for item in value:
                _check_scalar(name, item)
            parts.append(", ".join(placeholder(item) for item in value) if value else "NULL")
        else:
            _check_scalar(name, value)
            parts.append(placeholder(value))
    parts.append(text(sql[position:]))
    unused = sorted(set(parameters) - used)
    if unused:
        raise QueryError(f"parameters not in the query: {', '.join(unused)}")
    return "".join(parts)
