"""Which rows of a table a caller may see, as SQL: the same rule as ``lookout_kit.auth.policy.can``
for the role permissions that make an object visible, plus what the service adds (the owner's own
rows, public rows)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from uuid import UUID

from lookout_kit.auth.conditions import Conditions


@dataclass(frozen=True)
class Visibility:
    """The caller sees every row (``everything``), or a row for which any of ``clauses`` holds
    (each clause's conditions all hold), or — where the table has them — its own rows
    (``owner_sees``) and public ones (``public_column``)."""

    user_id: UUID
    everything: bool = False
    clauses: tuple[Conditions, ...] = ()
    owner_sees: bool = False


def visible_sql(
    visibility: Visibility,
    params: list[Any],
    *,
    owner_column: str,
    public_column: str | None = None,
) -> str:
    """A SQL condition for the rows ``visibility`` lets the caller see; its values are appended to
    ``params`` (as ``$n``). Column names are the caller's constants, never input."""
    if visibility.everything:
        return "TRUE"

    def param(value: Any) -> str:
        params.append(value)
        return f"${len(params)}"

    seen: list[str] = []
    user_param: list[str] = []

    def user() -> str:  # bound once, and only when used (an unused $n is an error)
        if not user_param:
            user_param.append(param(visibility.user_id))
        return user_param[0]

    if visibility.owner_sees:
        seen.append(f"{owner_column} = {user()}")
    if public_column is not None:
        seen.append(public_column)
    for clause in visibility.clauses:
        if clause.tags_any is not None:
            continue  # these objects carry no tags: a tags condition never holds for them
        parts = []
        if clause.owner_only:
            parts.append(f"{owner_column} = {user()}")
        if clause.ids is not None:
            parts.append(f"id::text = ANY({param(list(clause.ids))}::text[])")
        seen.append("(" + " AND ".join(parts) + ")")
    return "(" + " OR ".join(seen) + ")" if seen else "FALSE"
