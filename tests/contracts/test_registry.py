"""The event registry: making events, parsing them back, and every way parsing refuses bytes."""

from __future__ import annotations

import inspect
import json
import re
import uuid
from datetime import UTC, datetime
from typing import Any

import hypothesis
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lookout_contracts import (
    REGISTRY,
    ContractError,
    Envelope,
    EventData,
    EventRegistry,
    EventSpec,
    InvalidEvent,
    UnknownEventType,
    all_event_specs,
    all_event_types,
    data_model,
    envelope_model,
    event_spec,
    event_specs_for_topic,
    latest_version,
    make_event,
    parse_event,
)
from lookout_contracts.catalog import declare
from lookout_contracts.events import alert, dashboard, datasource, identity
from lookout_contracts.events.datasource import QueryExecutedV1
from lookout_contracts.events.identity import TenantCreatedV1, UserCreatedV1, UserLoggedInV1
from lookout_contracts.topics import EVENT_TOPICS
from pydantic import BaseModel, Field

from tests.contracts.strategies import data_dicts, utc_datetimes

# What the open issues name, by publishing service.
ISSUE_EVENT_TYPES = {
    "identity": {
        "tenant.created", "tenant.updated", "tenant.deleted",
        "user.created", "user.updated", "user.deactivated", "user.reactivated", "user.deleted",
        "user.logged_in", "user.logged_out", "user.login_failed",
        "role.created", "role.updated", "role.deleted",
        "permission.granted", "permission.revoked",
        "api_key.created", "api_key.revoked",
        "service_tokens.revoked",  # the kit issue: service tokens revocable
    },
    "dashboard": {
        "dashboard.created", "dashboard.updated", "dashboard.published", "dashboard.unpublished",
        "dashboard.restored", "dashboard.deleted", "dashboard.viewed", "dashboard.shared",
        "dashboard.unshared",
    },
    "datasource": {
        "data_source.created", "data_source.updated", "data_source.deleted", "data_source.tested",
        "data_source.schema_refreshed",
        "saved_query.created", "saved_query.updated", "saved_query.deleted", "query.executed",
    },
    "alert": {
        "alert.created", "alert.updated", "alert.deleted", "alert.triggered", "alert.resolved",
        "alert.notification_sent", "alert.notification_failed", "alert.errored",
    },
}  # fmt: skip

SECRET_WORDS = ("password", "secret", "token", "hash", "credential", "connection_config", "key")


# Factories ---------------------------------------------------------------------------------------


def tenant_created(**overrides: Any) -> Envelope[TenantCreatedV1]:
    fields: dict[str, Any] = {
        "tenant_id": uuid.uuid4(),
        "subject_id": uuid.uuid4(),
        "data": TenantCreatedV1(name="Acme", slug="acme"),
    }
    fields.update(overrides)
    return make_event("tenant.created", **fields)


def query_executed(**overrides: Any) -> QueryExecutedV1:
    fields: dict[str, Any] = {
        "query_id": uuid.uuid4(),
        "data_source_id": uuid.uuid4(),
        "saved_query_id": None,
        "query_text": "SELECT count(*) FROM orders WHERE region = $1",
        "execution_time_ms": 12,
        "rows_returned": 1,
        "bytes_returned": 8,
        "status": "success",
        "error": None,
    }
    fields.update(overrides)
    return QueryExecutedV1(**fields)


def event_dict(event: Envelope[Any]) -> dict[str, Any]:
    value: dict[str, Any] = json.loads(event.to_json())
    return value


def encode(value: dict[str, Any]) -> bytes:
    return json.dumps(value).encode()


def refusal(raw: bytes | str) -> ContractError:
    with pytest.raises(ContractError) as caught:
        parse_event(raw)
    return caught.value


# The table ---------------------------------------------------------------------------------------


def test_every_event_type_the_issues_name_is_registered_by_its_source() -> None:
    registered: dict[str, set[str]] = {}
    for spec in all_event_specs():
        registered.setdefault(spec.source, set()).add(spec.type)
    assert registered == ISSUE_EVENT_TYPES
    assert set(all_event_types()) == set().union(*ISSUE_EVENT_TYPES.values())


def test_every_data_model_in_the_event_modules_is_registered_once() -> None:
    defined = {
        model
        for module in (identity, dashboard, datasource, alert)
        for _, model in inspect.getmembers(module, inspect.isclass)
        if issubclass(model, EventData) and model is not EventData
    }
    registered = [spec.data_model for spec in all_event_specs()]
    assert sorted(m.__name__ for m in defined) == sorted(m.__name__ for m in registered)


@pytest.mark.parametrize("spec", all_event_specs(), ids=lambda spec: spec.tag)
def test_data_models_are_frozen_closed_and_hold_no_secrets(spec: EventSpec) -> None:
    config = spec.data_model.model_config
    assert config.get("extra") == "forbid"
    assert config.get("frozen") is True
    for name in spec.data_model.model_fields:
        assert not any(word in name for word in SECRET_WORDS), name
    assert spec.data_model.__doc__, "the docstring is the event's description"


@pytest.mark.parametrize("spec", all_event_specs(), ids=lambda spec: spec.tag)
def test_each_spec_knows_its_topic_subject_and_typed_envelope(spec: EventSpec) -> None:
    assert spec.topic == f"{spec.source}.events"
    assert spec.topic in EVENT_TOPICS
    assert spec in event_specs_for_topic(spec.topic)
    assert data_model(spec.type, spec.version) is spec.data_model
    assert envelope_model(spec.type, spec.version) is spec.envelope_model
    assert issubclass(spec.envelope_model, Envelope)
    fields = spec.envelope_model.model_fields
    assert fields["data"].annotation is spec.data_model
    assert latest_version(spec.type) >= spec.version
    assert event_spec(spec.type) == event_spec(spec.type, latest_version(spec.type))


def test_query_executed_carries_what_query_metrics_needs() -> None:
    spec = event_spec("query.executed")
    assert spec.subject_type == "query"
    assert set(spec.data_model.model_fields) == {
        "query_id",
        "data_source_id",
        "saved_query_id",
        "query_text",
        "execution_time_ms",
        "rows_returned",
        "bytes_returned",
        "status",
        "error",
    }
    for status in ("success", "failed", "cancelled", "timeout"):
        query_executed(status=status)
    with pytest.raises(ValueError):
        query_executed(status="exploded")
    with pytest.raises(ValueError):
        query_executed(execution_time_ms=2**32)  # a ClickHouse UInt32


def test_logins_and_logouts_must_carry_a_session() -> None:
    assert {spec.type for spec in all_event_specs() if spec.session_required} == {
        "user.logged_in",
        "user.logged_out",
    }


def test_the_table_refuses_gaps_duplicates_and_unknown_sources() -> None:
    with pytest.raises(ValueError, match="without gaps"):
        EventRegistry({"identity": [declare("x.made", 2, TenantCreatedV1, subject="x")]})
    with pytest.raises(ValueError, match="declared twice"):
        EventRegistry(
            {
                "identity": [
                    declare("x.made", 1, TenantCreatedV1, subject="x"),
                    declare("x.other", 1, TenantCreatedV1, subject="x"),
                ]
            }
        )
    with pytest.raises(ValueError, match="unknown topic"):
        EventRegistry({"nowhere": [declare("x.made", 1, TenantCreatedV1, subject="x")]})


# Making events -----------------------------------------------------------------------------------


def test_make_event_fills_the_envelope_from_the_registry() -> None:
    tenant_id, user_id, actor_id = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    data = UserCreatedV1(
        username="ada",
        email="ada@example.org",
        first_name="Ada",
        last_name=None,
        role_id=uuid.uuid4(),
        is_active=True,
    )
    event = make_event(
        "user.created", tenant_id=tenant_id, subject_id=user_id, data=data, actor_id=actor_id
    )
    assert (event.type, event.version, event.source) == ("user.created", 1, "identity")
    assert (event.subject.type, event.subject.id) == ("user", str(user_id))
    assert event.key == str(user_id).encode()
    assert (event.tenant_id, event.actor_id, event.session_id) == (tenant_id, actor_id, None)
    assert event.data is data
    assert event.time.tzinfo is not None
    assert event.time.microsecond % 1000 == 0, "cut to the wire format's milliseconds"
    assert type(event) is envelope_model("user.created")


def test_make_event_keeps_a_given_id_and_time() -> None:
    event_id = uuid.uuid4()
    time = datetime(2026, 11, 25, 10, 0, 0, 123456, tzinfo=UTC)
    event = tenant_created(event_id=event_id, time=time)
    assert event.id == event_id
    assert event.time == time.replace(microsecond=123000)
    assert event_dict(event)["time"] == "2026-11-25T10:00:00.123Z"


def test_make_event_refuses_an_unknown_type_or_version() -> None:
    with pytest.raises(UnknownEventType) as unknown_type:
        make_event(
            "tenant.exploded",
            tenant_id=uuid.uuid4(),
            subject_id=uuid.uuid4(),
            data=TenantCreatedV1(name="Acme", slug="acme"),
        )
    assert unknown_type.value.code == "unknown_event_type"
    with pytest.raises(UnknownEventType) as unknown_version:
        tenant_created(version=7)
    assert unknown_version.value.code == "unknown_version"
    assert unknown_version.value.version == 7


def test_make_event_refuses_the_data_of_another_type() -> None:
    with pytest.raises(InvalidEvent) as caught:
        make_event(
            "tenant.updated",
            tenant_id=uuid.uuid4(),
            subject_id=uuid.uuid4(),
            data=TenantCreatedV1(name="Acme", slug="acme"),
        )
    assert caught.value.code == "invalid_data"
    assert "TenantCreatedV1" in caught.value.reason


def test_make_event_refuses_a_login_without_session_and_a_naive_time() -> None:
    login = UserLoggedInV1(method="password", client_address=None)
    with pytest.raises(InvalidEvent, match="session_id") as caught:
        make_event("user.logged_in", tenant_id=uuid.uuid4(), subject_id=uuid.uuid4(), data=login)
    assert caught.value.code == "invalid_envelope"
    with pytest.raises(InvalidEvent, match="time"):
        tenant_created(time=datetime(2026, 1, 1))


def test_make_event_refuses_a_subject_id_that_is_not_a_uuid() -> None:
    with pytest.raises(InvalidEvent, match=r"subject\.id"):
        tenant_created(subject_id="acme")


def test_data_models_refuse_unknown_fields_and_mutation() -> None:
    with pytest.raises(ValueError, match="Extra inputs"):
        TenantCreatedV1(name="Acme", slug="acme", password="hunter2")  # type: ignore[call-arg]
    data = TenantCreatedV1(name="Acme", slug="acme")
    with pytest.raises(ValueError, match="frozen"):
        data.name = "Other"  # type: ignore[misc]


# Parsing: what comes back ------------------------------------------------------------------------


@pytest.mark.parametrize("spec", all_event_specs(), ids=lambda spec: spec.tag)
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_make_event_to_json_parse_event_is_identity(spec: EventSpec, data: st.DataObject) -> None:
    payload = spec.data_model.model_validate(data.draw(data_dicts(spec), label="data"))
    session = st.text(min_size=1, max_size=128)
    event = make_event(
        spec.type,
        version=spec.version,
        tenant_id=data.draw(st.uuids(), label="tenant_id"),
        subject_id=data.draw(st.uuids(), label="subject_id"),
        actor_id=data.draw(st.none() | st.uuids(), label="actor_id"),
        session_id=data.draw(session if spec.session_required else st.none() | session),
        event_id=data.draw(st.uuids(), label="event_id"),
        time=data.draw(utc_datetimes, label="time"),
        data=payload,
    )
    parsed = parse_event(event.to_json())
    assert parsed == event
    assert type(parsed) is spec.envelope_model
    assert parsed.to_json() == event.to_json()


def test_parse_event_accepts_bytes_bytearray_and_str() -> None:
    event = tenant_created()
    raw = event.to_json()
    assert parse_event(raw) == parse_event(bytearray(raw)) == parse_event(raw.decode()) == event


def test_parse_event_reads_the_documented_example_envelope() -> None:
    raw = {
        "id": "0b0ea3c4-8f5e-4c0e-9b8e-2f1f7d3c6a10",
        "type": "dashboard.viewed",
        "version": 1,
        "source": "dashboard",
        "time": "2026-11-25T10:00:00.123Z",
        "tenant_id": "6c0a1f7e-7c4b-4a43-9d0e-1f2a3b4c5d6e",
        "actor_id": "9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d",
        "session_id": "s-1",
        "subject": {"type": "dashboard", "id": "1d2c3b4a-5e6f-4a7b-8c9d-0e1f2a3b4c5d"},
        "data": {"version": 3},
    }
    event = parse_event(encode(raw))
    assert isinstance(event.data, dashboard.DashboardViewedV1)
    assert event.data.version == 3
    assert event.time == datetime(2026, 11, 25, 10, 0, 0, 123000, tzinfo=UTC)
    assert event_dict(event) == raw


# Parsing: what is refused, and why ---------------------------------------------------------------


@pytest.mark.parametrize(
    "raw",
    [b"", b"{", b'{"type": "tenant.created",}', b"\xff\xfe{}", b"nul", "{'single': 'quotes'}"],
)
def test_bad_json_is_an_invalid_event(raw: bytes | str) -> None:
    error = refusal(raw)
    assert isinstance(error, InvalidEvent)
    assert error.code == "invalid_json"
    assert error.reason.startswith("invalid JSON")


@pytest.mark.parametrize("raw", [b"[]", b"1", b'"tenant.created"', b"null"])
def test_json_that_is_not_an_object_is_an_invalid_envelope(raw: bytes) -> None:
    error = refusal(raw)
    assert isinstance(error, InvalidEvent)
    assert (error.code, error.reason) == (
        "invalid_envelope",
        "invalid envelope: an event must be a JSON object",
    )


@pytest.mark.parametrize("event_type", [None, 1, ["tenant.created"]])
def test_a_missing_or_non_string_type_is_an_invalid_envelope(event_type: Any) -> None:
    raw = event_dict(tenant_created())
    if event_type is None:
        del raw["type"]
    else:
        raw["type"] = event_type
    error = refusal(encode(raw))
    assert isinstance(error, InvalidEvent)
    assert error.code == "invalid_envelope"
    assert "type must be a string" in error.reason


def test_an_unknown_type_is_an_unknown_event_type() -> None:
    raw = event_dict(tenant_created())
    raw["type"] = "tenant.exploded"
    error = refusal(encode(raw))
    assert isinstance(error, UnknownEventType)
    assert (error.code, error.event_type) == ("unknown_event_type", "tenant.exploded")
    assert error.reason == "unknown event type 'tenant.exploded'"


def test_an_unknown_version_is_an_unknown_event_type() -> None:
    raw = event_dict(tenant_created())
    raw["version"] = 2
    error = refusal(encode(raw))
    assert isinstance(error, UnknownEventType)
    assert (error.code, error.event_type, error.version) == ("unknown_version", "tenant.created", 2)
    assert "unknown version 2 of event type 'tenant.created'" in error.reason


@pytest.mark.parametrize("version", ["1", None, [1]])
def test_a_version_that_is_not_an_integer_is_an_invalid_envelope(version: Any) -> None:
    raw = event_dict(tenant_created())
    raw["version"] = version
    error = refusal(encode(raw))
    assert isinstance(error, InvalidEvent)
    assert error.code == "invalid_envelope"
    assert "version" in error.reason


def test_invalid_data_names_the_field_and_rule_but_not_the_value() -> None:
    raw = event_dict(tenant_created())
    raw["data"]["slug"] = "Not A Slug, private words"
    error = refusal(encode(raw))
    assert isinstance(error, InvalidEvent)
    assert (error.code, error.event_type, error.version) == ("invalid_data", "tenant.created", 1)
    assert error.reason.startswith("invalid tenant.created.v1: data.slug: ")
    assert "private words" not in error.reason


def test_missing_and_extra_data_fields_are_invalid_data() -> None:
    raw = event_dict(tenant_created())
    del raw["data"]["name"]
    raw["data"]["password"] = "hunter2"
    error = refusal(encode(raw))
    assert error.code == "invalid_data"
    assert "data.name: Field required" in error.reason
    assert "data.password: Extra inputs are not permitted" in error.reason
    assert "hunter2" not in error.reason


@pytest.mark.parametrize(
    ("field", "value", "expected"),
    [
        ("source", "dashboard", "source: Input should be 'identity'"),
        ("subject", {"type": "user", "id": str(uuid.uuid4())}, "subject.type"),
        ("subject", {"type": "tenant", "id": "ACME"}, "subject.id"),
        ("tenant_id", "not-a-uuid", "tenant_id"),
        ("time", "2026-11-25T10:00:00", "time"),
        ("data", None, "data"),
    ],
)
def test_invalid_envelope_fields_are_an_invalid_envelope(
    field: str, value: Any, expected: str
) -> None:
    raw = event_dict(tenant_created())
    raw[field] = value
    error = refusal(encode(raw))
    assert isinstance(error, InvalidEvent)
    assert error.code == ("invalid_data" if field == "data" else "invalid_envelope")
    assert expected in error.reason


def test_a_missing_data_object_is_an_invalid_envelope() -> None:
    raw = event_dict(tenant_created())
    del raw["data"]
    error = refusal(encode(raw))
    assert error.code == "invalid_envelope"
    assert "data: Field required" in error.reason


def test_a_login_without_session_is_refused() -> None:
    user_id = uuid.uuid4()
    event = make_event(
        "user.logged_in",
        tenant_id=uuid.uuid4(),
        subject_id=user_id,
        actor_id=user_id,
        session_id="session-1",
        data=UserLoggedInV1(method="password", client_address="10.0.0.1"),
    )
    raw = event_dict(event)
    raw["session_id"] = None
    assert refusal(encode(raw)).code == "invalid_envelope"


def test_the_reason_is_short_when_everything_is_wrong() -> None:
    raw = {"type": "query.executed", "version": 1, "data": {"status": 1, "surprise": True}}
    error = refusal(encode(raw))
    assert error.code == "invalid_envelope"
    assert "and " in error.reason and " more" in error.reason
    assert len(error.reason) < 600


def test_unknown_fields_can_be_ignored_for_a_newer_producer() -> None:
    event = tenant_created()
    raw = event_dict(event)
    raw["data"]["added_later"] = "x"
    raw["added_later_too"] = 1
    assert refusal(encode(raw)).code == "invalid_envelope"
    assert parse_event(encode(raw), ignore_unknown_fields=True) == event


# Several versions of one type --------------------------------------------------------------------


class WidgetMadeV1(EventData):
    """A widget was made."""

    name: str = Field(max_length=10)


class WidgetMadeV2(EventData):
    """A widget was made, with its colour."""

    name: str = Field(max_length=10)
    colour: str


@pytest.fixture(scope="module")
def two_versions() -> EventRegistry:
    return EventRegistry(
        {
            "dashboard": [
                declare("widget.made", 1, WidgetMadeV1, subject="widget"),
                declare("widget.made", 2, WidgetMadeV2, subject="widget"),
                declare("dashboard.viewed", 1, dashboard.DashboardViewedV1, subject="dashboard"),
            ]
        }
    )


def make_widget(registry: EventRegistry, data: BaseModel, **overrides: Any) -> Envelope[Any]:
    return registry.make_event(
        "widget.made",
        tenant_id=uuid.uuid4(),
        subject_id=uuid.uuid4(),
        data=data,
        **overrides,
    )


def test_the_version_follows_the_data_model(two_versions: EventRegistry) -> None:
    assert two_versions.latest_version("widget.made") == 2
    old = make_widget(two_versions, WidgetMadeV1(name="w"))
    new = make_widget(two_versions, WidgetMadeV2(name="w", colour="red"))
    assert (old.version, new.version) == (1, 2)
    with pytest.raises(InvalidEvent):
        make_widget(two_versions, WidgetMadeV1(name="w"), version=2)
    with pytest.raises(InvalidEvent, match="needs a WidgetMadeV2"):
        make_widget(two_versions, TenantCreatedV1(name="a", slug="a"))


def test_each_version_parses_to_its_own_model(two_versions: EventRegistry) -> None:
    for data in (WidgetMadeV1(name="w"), WidgetMadeV2(name="w", colour="red")):
        event = make_widget(two_versions, data)
        parsed = two_versions.parse_event(event.to_json())
        assert parsed == event
        assert type(parsed.data) is type(data)


def test_errors_name_the_version_they_are_in(two_versions: EventRegistry) -> None:
    raw = event_dict(make_widget(two_versions, WidgetMadeV2(name="w", colour="red")))
    raw["data"]["name"] = "far too long a name"
    with pytest.raises(InvalidEvent) as invalid:
        two_versions.parse_event(encode(raw))
    assert invalid.value.reason.startswith("invalid widget.made.v2: data.name")
    assert (invalid.value.event_type, invalid.value.version) == ("widget.made", 2)
    raw["version"] = 3
    with pytest.raises(UnknownEventType) as unknown:
        two_versions.parse_event(encode(raw))
    assert unknown.value.code == "unknown_version"
    assert "(known: 1, 2)" in unknown.value.reason
    raw["version"] = "2"
    with pytest.raises(InvalidEvent, match="version must be an integer"):
        two_versions.parse_event(encode(raw))
    del raw["version"]
    with pytest.raises(InvalidEvent, match="version must be an integer"):
        two_versions.parse_event(encode(raw))


def test_the_package_registry_is_the_module_functions_registry() -> None:
    assert REGISTRY.all_event_specs() == all_event_specs()
    assert parse_event.__self__ is REGISTRY  # type: ignore[attr-defined]


# Whatever arrives, parse_event answers with an event or a ContractError ---------------------------

JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=12,
)
ENVELOPE_FIELDS = st.sampled_from(
    ["id", "type", "version", "source", "time", "tenant_id", "actor_id", "session_id",
     "subject", "data"]
)  # fmt: skip


@settings(max_examples=300, deadline=None)
@given(raw=st.binary(max_size=200) | JSON_VALUES.map(lambda value: json.dumps(value).encode()))
def test_any_bytes_give_an_event_or_a_contract_error(raw: bytes) -> None:
    try:
        parse_event(raw)
    except ContractError as error:
        assert error.reason and error.code


# What an event on the wire may go without (id, version and time are always on it; actor_id and
# session_id are optional for tenant.created), and a reading of the values a field may take: the
# rest of a damage must be refused.
MAY_BE_DROPPED = {"actor_id", "session_id"}
SOURCE = re.compile(r"[a-z][a-z0-9_]{0,63}")


def a_time(value: Any) -> bool:
    if not isinstance(value, str):
        return False
    for read in (float, datetime.fromisoformat):
        try:
            read(value)
        except ValueError:
            continue
        return True
    return False


def a_harmless_value(field: str, value: Any) -> bool:
    if field == "version":  # tenant.created has one version; pydantic's lax forms of 1
        return value == 1 or (isinstance(value, str) and value.strip() == "1")
    if field == "source":
        return isinstance(value, str) and SOURCE.fullmatch(value) is not None
    if field == "time":  # a Unix time, as a number or a numeric string, or an ISO 8601 time
        return (isinstance(value, int | float) and not isinstance(value, bool)) or a_time(value)
    if field == "actor_id":
        return value is None
    if field == "session_id":
        return value is None or (isinstance(value, str) and len(value) <= 128)
    return False  # id, type, tenant_id, subject, data: nothing drawn here is one of them


@settings(max_examples=300, deadline=None)
@given(field=ENVELOPE_FIELDS, value=JSON_VALUES, drop=st.booleans())
def test_any_damaged_event_gives_a_contract_error(field: str, value: Any, drop: bool) -> None:
    """A damaged event is refused with a ContractError, unless the damage is harmless: a field
    with a default dropped, or a value the field may take."""
    raw = event_dict(tenant_created())
    if drop:
        del raw[field]
    else:
        raw[field] = value
    try:
        event = parse_event(encode(raw))
    except ContractError as error:
        hypothesis.event(f"refused: {error.code}")
        assert error.reason and error.code
        return
    hypothesis.event(f"accepted: {'dropped' if drop else 'set'} {field}")
    if drop:
        assert field in MAY_BE_DROPPED, f"accepted without {field}: {raw}"
    else:
        assert a_harmless_value(field, value), f"accepted {field}={value!r}: {event}"
