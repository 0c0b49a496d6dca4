"""The condition language of permissions: when a conditional permission applies to an object.

A permission's ``conditions`` is either null (the permission applies to every object of its
resource in the tenant) or an object whose keys are conditions; *all* present conditions must hold:

- ``owner_only: true`` — the object's owner is the caller;
- ``ids: [...]`` — the object's id is one of these (at most 1,000);
- ``tags_any: [...]`` — the object carries at least one of these tags (at most 100).

Unknown keys are refused (``extra="forbid"``), so a typo can never widen a permission silently.
The JSON Schema of this model is the published definition (``condition_json_schema()``).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

# No control characters: they have no business in an id or a tag, and PostgreSQL's jsonb refuses NUL.
ConditionTag = Annotated[
    str, StringConstraints(min_length=1, max_length=64, pattern=r"^[^\x00-\x1f\x7f]+$")
]
ObjectId = Annotated[
    str, StringConstraints(min_length=1, max_length=64, pattern=r"^[^\x00-\x1f\x7f]+$")
]


class Conditions(BaseModel):
    """Conditions of one permission; every present condition must hold."""

    model_config = ConfigDict(frozen=True, extra="forbid", title="PermissionConditions")

    owner_only: Literal[True] | None = Field(
        default=None, description="Only objects the caller owns"
    )
    ids: tuple[ObjectId, ...] | None = Field(
        default=None, min_length=1, max_length=1_000, description="Only objects with these ids"
    )
    tags_any: tuple[ConditionTag, ...] | None = Field(
        default=None,
        min_length=1,
        max_length=100,
        description="Only objects carrying at least one of these tags",
    )

    @model_validator(mode="after")
    def _not_empty(self) -> Conditions:
        # An empty object would read as "no restriction" while looking like one: say null instead.
        if self.owner_only is None and self.ids is None and self.tags_any is None:
            raise ValueError("conditions must name at least one condition (or be null)")
        return self

    def to_document(self) -> dict[str, Any]:
        """The JSON document form (only the present conditions)."""
        return self.model_dump(mode="json", exclude_none=True)


def condition_json_schema() -> dict[str, Any]:
    """The JSON Schema of the condition language (as published in identity's docs)."""
    schema = Conditions.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["minProperties"] = 1
    return schema


def parse_conditions(document: Any) -> Conditions | None:
    """Validate a conditions document (``None`` = unconditional); raises pydantic's ValidationError."""
    if document is None:
        return None
    return Conditions.model_validate(document)
