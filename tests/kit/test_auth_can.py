"""``can()`` against a straightforward reference model of the rules (hypothesis), plus the
condition language's validation."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from lookout_kit.auth import ACTIONS, RESOURCES, Caller, Conditions, Permission, Target, can
from lookout_kit.auth.conditions import condition_json_schema, parse_conditions
from pydantic import ValidationError

TENANT = uuid.UUID(int=1)
OTHER_TENANT = uuid.UUID(int=2)
USERS = [uuid.UUID(int=10 + n) for n in range(3)]
IDS = [str(uuid.UUID(int=100 + n)) for n in range(4)]
TAGS = ["sales", "ops", "eng", "hr"]

resources = st.sampled_from(RESOURCES)
actions = st.sampled_from(ACTIONS)


@st.composite
def conditions(draw: st.DrawFn) -> Conditions | None:
    parts: dict[str, Any] = {}
    if draw(st.booleans()):
        parts["owner_only"] = True
    if draw(st.booleans()):
        parts["ids"] = draw(st.lists(st.sampled_from(IDS), min_size=1, max_size=3))
    if draw(st.booleans()):
        parts["tags_any"] = draw(st.lists(st.sampled_from(TAGS), min_size=1, max_size=3))
    return Conditions(**parts) if parts else None


permissions = st.builds(Permission, resource=resources, action=actions, conditions=conditions())

callers = st.builds(
    Caller,
    tenant_id=st.just(TENANT),
    user_id=st.sampled_from(USERS),
    role_id=st.just(uuid.UUID(int=3)),
    session_id=st.just("s"),
    permissions=st.lists(permissions, max_size=6).map(tuple),
)

targets = st.none() | st.builds(
    Target,
    tenant_id=st.sampled_from([TENANT, TENANT, TENANT, OTHER_TENANT]),
    id=st.none() | st.sampled_from(IDS),
    owner_id=st.none() | st.sampled_from(USERS),
    tags=st.frozensets(st.sampled_from(TAGS), max_size=3),
)


def reference_can(caller: Caller, action: str, resource: str, obj: Target | None) -> bool:
    """The rules, written out plainly: one permission that matches and whose every condition holds
    for the object; nothing of another tenant; no conditional permission without an object."""
    if obj is not None and obj.tenant_id != caller.tenant_id:
        return False
    for permission in caller.permissions:
        if permission.resource != resource:
            continue
        if permission.action != action and permission.action != "admin":
            continue
        c = permission.conditions
        if c is None:
            return True
        if obj is None:
            continue
        owner_ok = c.owner_only is None or obj.owner_id == caller.user_id
        ids_ok = c.ids is None or (obj.id is not None and obj.id in c.ids)
        tags_ok = c.tags_any is None or any(tag in obj.tags for tag in c.tags_any)
        if owner_ok and ids_ok and tags_ok:
            return True
    return False


@settings(max_examples=2_000)
@given(caller=callers, action=actions, resource=resources, obj=targets)
def test_can_matches_the_reference_model(
    caller: Caller, action: str, resource: str, obj: Target | None
) -> None:
    assert can(caller, action, resource, obj) == reference_can(caller, action, resource, obj)


@given(caller=callers, resource=resources, obj=targets)
def test_admin_implies_every_action(caller: Caller, resource: str, obj: Target | None) -> None:
    if can(caller, "admin", resource, obj):
        assert all(can(caller, action, resource, obj) for action in ACTIONS)


@given(caller=callers, action=actions, resource=resources, obj=targets)
def test_more_permissions_never_allow_less(
    caller: Caller, action: str, resource: str, obj: Target | None
) -> None:
    extra = Permission(resource=resource, action="read")
    wider = Caller(**{**caller.__dict__, "permissions": (*caller.permissions, extra)})
    if can(caller, action, resource, obj):
        assert can(wider, action, resource, obj)


@pytest.mark.parametrize(
    "document",
    [
        {},
        {"colour": "red"},
        {"owner_only": False},
        {"ids": []},
        {"tags_any": "x"},
        {"ids": ["a\u0000"]},
        {"tags_any": ["x" * 65]},
    ],
)
def test_unknown_or_malformed_conditions_are_refused(document: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        parse_conditions(document)


def test_condition_schema_is_closed() -> None:
    schema = condition_json_schema()
    assert schema["additionalProperties"] is False
    assert set(schema["properties"]) == {"owner_only", "ids", "tags_any"}
    assert parse_conditions(None) is None
    assert parse_conditions({"owner_only": True, "tags_any": ["a"]}) == Conditions(
        owner_only=True, tags_any=("a",)
    )
