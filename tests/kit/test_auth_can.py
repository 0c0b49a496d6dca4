"""``can()`` against a model of the rules written from the docs (hypothesis), plus the condition
language's validation."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import event, given, settings
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


def permissions(resource: str) -> st.SearchStrategy[Permission]:
    """Permissions on the resource asked about half the time, ``admin`` a third of the time."""
    return st.builds(
        Permission,
        resource=st.just(resource) | resources,
        action=st.just("admin") | actions,
        conditions=st.none() | conditions(),
    )


def callers(resource: str) -> st.SearchStrategy[Caller]:
    return st.builds(
        Caller,
        tenant_id=st.just(TENANT),
        user_id=st.sampled_from(USERS),
        role_id=st.just(uuid.UUID(int=3)),
        session_id=st.just("s"),
        permissions=st.lists(permissions(resource), max_size=4).map(tuple),
    )


targets = st.none() | st.builds(
    Target,
    tenant_id=st.sampled_from([TENANT, TENANT, TENANT, OTHER_TENANT]),
    id=st.none() | st.sampled_from(IDS) | st.sampled_from(IDS).map(uuid.UUID),
    owner_id=st.none() | st.sampled_from(USERS),
    tags=st.frozensets(st.sampled_from(TAGS), max_size=3),
)


def what_holds(caller: Caller, obj: Target) -> dict[str, Callable[[Any], bool]]:
    """The condition language's table (identity's README), key by key, for this object."""
    return {
        "owner_only": lambda value: value is True and obj.owner_id == caller.user_id,
        "ids": lambda listed: obj.id is not None and str(obj.id) in listed,
        "tags_any": lambda listed: bool(obj.tags & set(listed)),
    }


def allowed_actions(caller: Caller, resource: str, obj: Target | None) -> set[str]:
    """The model, from the rules as written in the docs (architecture.md "Identity, access and
    tenancy"; identity's README "Permissions and the condition language"):

    - another tenant's object: nothing (it answers 404);
    - a permission applies to ``obj`` when its ``conditions`` document is null, or when there is an
      object and every key of the document holds for it;
    - each permission that applies grants its action; ``admin`` grants every action on its resource.
    """
    if obj is not None and obj.tenant_id != caller.tenant_id:
        return set()
    granted: set[str] = set()
    for permission in caller.permissions:
        if permission.resource != resource:
            continue
        document = None if permission.conditions is None else permission.conditions.to_document()
        if document is not None:
            if obj is None:
                continue
            holds = what_holds(caller, obj)
            if not all(holds[key](value) for key, value in document.items()):
                continue
        granted |= set(ACTIONS) if permission.action == "admin" else {permission.action}
    return granted


@st.composite
def questions(draw: st.DrawFn) -> tuple[Caller, str, str, Target | None]:
    """A caller, and a question about a resource its permissions often name, and an action they
    often grant."""
    resource = draw(resources)
    caller = draw(callers(resource))
    named = sorted({p.action for p in caller.permissions if p.action != "admin"})
    action = draw(actions | st.sampled_from(named)) if named else draw(actions)
    return caller, action, resource, draw(targets)


def decided_by(caller: Caller, action: str, resource: str, obj: Target | None) -> str:
    allowed = allowed_actions(caller, resource, obj)
    if action not in allowed:
        return "refused"
    plain = Caller(
        **{
            **caller.__dict__,
            "permissions": tuple(p for p in caller.permissions if p.action != "admin"),
        }
    )
    return (
        "allowed" if action in allowed_actions(plain, resource, obj) else "allowed by admin alone"
    )


def test_can_matches_the_model_written_from_the_docs() -> None:
    """``can()`` agrees with the model on 1,200 questions, of which a fair share are answered by an
    ``admin`` permission alone, and both answers are common."""
    decisions: list[str] = []

    @settings(max_examples=1_200, deadline=None)
    @given(question=questions())
    def agrees(question: tuple[Caller, str, str, Target | None]) -> None:
        caller, action, resource, obj = question
        decision = decided_by(caller, action, resource, obj)
        event(decision)
        decisions.append(decision)
        assert can(caller, action, resource, obj) == (decision != "refused")

    agrees()
    share = {decision: decisions.count(decision) / len(decisions) for decision in set(decisions)}
    assert share.get("allowed by admin alone", 0) >= 0.1, share
    assert share.get("allowed", 0) >= 0.05 and share.get("refused", 0) >= 0.3, share


@given(question=questions())
def test_admin_implies_every_action(question: tuple[Caller, str, str, Target | None]) -> None:
    caller, _, resource, obj = question
    if can(caller, "admin", resource, obj):
        assert all(can(caller, action, resource, obj) for action in ACTIONS)


@given(question=questions())
def test_more_permissions_never_allow_less(
    question: tuple[Caller, str, str, Target | None],
) -> None:
    caller, action, resource, obj = question
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
