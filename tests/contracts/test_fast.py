"""The msgspec fast path accepts only what ``parse_event`` accepts, with the same values.

Valid events of every type are generated from the contracts' JSON Schemas, then broken in many
ways (fields removed, added, retyped; lax forms of numbers, times and ids; duplicate keys, odd
escapes, trailing newlines under patterns). Whenever msgspec accepts an input, pydantic must accept
it too and read the same event; what msgspec refuses is ``parse_event``'s to judge.
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import msgspec
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from lookout_contracts import (
    REGISTRY,
    ContractError,
    EventRegistry,
    EventSpec,
    UnknownEventType,
    make_event,
    parse_event,
)
from lookout_contracts.catalog import declare
from lookout_contracts.fast import FastParser, data_json, is_fast
from pydantic import BaseModel

from tests.contracts.strategies import ANY_JSON, aware_datetimes, data_dicts
from tests.contracts.test_registry import WidgetMadeV1, WidgetMadeV2, make_widget, two_versions

__all__ = ["two_versions"]  # the fixture, shared with the registry's tests

PARSER = FastParser()
MIRRORED = [spec for spec in REGISTRY.all_event_specs() if spec.type in PARSER.mirrored]
HOT_TYPES = {"dashboard.viewed", "query.executed", "alert.triggered", "user.logged_in"}


def plain(value: Any) -> Any:
    """A value of either kind of event as plain, comparable Python data."""
    if isinstance(value, BaseModel):
        return {name: plain(getattr(value, name)) for name in type(value).model_fields}
    if isinstance(value, msgspec.Struct):
        fields = {name: plain(getattr(value, name)) for name in value.__struct_fields__}
        if hasattr(type(value), "type") and "type" not in fields:
            fields["type"] = type(value).type  # the tag
        return fields
    if isinstance(value, tuple | list):
        return [plain(item) for item in value]
    if isinstance(value, ipaddress.IPv4Address | ipaddress.IPv6Address):
        return value
    if isinstance(value, datetime):
        return value.timestamp(), value.utcoffset() is not None
    return value


def same_event(fast: Any, slow: Any) -> None:
    expected = plain(slow)
    got = plain(fast)
    # An IP address field keeps its text on the fast path.
    for name, value in got["data"].items():
        if isinstance(expected["data"][name], ipaddress.IPv4Address | ipaddress.IPv6Address):
            got["data"][name] = ipaddress.ip_address(value)
    assert got == expected


def valid_event(spec: EventSpec, draw: Callable[[st.SearchStrategy[Any]], Any]) -> dict[str, Any]:
    payload = spec.data_model.model_validate(draw(data_dicts(spec)))
    session = st.text(min_size=1, max_size=128)
    event = make_event(
        spec.type,
        version=spec.version,
        tenant_id=draw(st.uuids()),
        subject_id=draw(st.uuids()),
        actor_id=draw(st.none() | st.uuids()),
        session_id=draw(session if spec.session_required else st.none() | session),
        time=draw(aware_datetimes),
        data=payload,
    )
    loaded: dict[str, Any] = json.loads(event.to_json())
    return loaded


def check(raw: bytes) -> bool:
    """The property: msgspec accepting means pydantic accepting the same event. Whether the fast
    path took the event (and so whether anything was compared)."""
    fast = PARSER.decode(raw)
    if fast is None:
        return False
    try:
        slow = parse_event(raw)
    except ContractError as error:
        pytest.fail(f"fast path accepted what parse_event refuses ({error.code}: {error}): {raw!r}")
    same_event(fast, slow)
    assert data_json(fast) == data_json(slow)
    return True


def test_the_hot_event_types_are_mirrored() -> None:
    assert HOT_TYPES <= set(PARSER.mirrored)


@pytest.mark.parametrize("spec", REGISTRY.all_event_specs(), ids=lambda spec: spec.tag)
@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_valid_events_parse_alike_by_either_path(spec: EventSpec, data: st.DataObject) -> None:
    """A mirrored type's valid events take the fast path and read as pydantic reads them; an
    unmirrored type's go to pydantic."""
    raw = json.dumps(valid_event(spec, data.draw)).encode()
    fast = PARSER.decode(raw)
    if spec in MIRRORED:
        assert fast is not None and is_fast(fast)
        assert check(raw)
    else:
        assert fast is None
        assert PARSER.parse(raw) == parse_event(raw)
    assert not is_fast(parse_event(raw))


# Breaking valid events ---------------------------------------------------------------------------

TIMES = [
    "2026-11-26T16:01:15Z",
    "2026-11-26t16:01:15z",
    "2026-11-26 16:01:15Z",
    "2026-11-26T16:01:15",
    "2026-11-26T16:01:15.123456789Z",
    "2026-11-26T16:01:15+01:00",
    "2026-11-26T16:01:15+0100",
    "2026-11-26T16:01:15-23:59",
    "2026-11-26T16:01:60Z",
    "2026-02-30T16:01:15Z",
    "2026-11-26",
    "0001-01-01T00:00:00Z",
    "9999-12-31T23:59:59Z",
    1_700_000_000,
    1_700_000_000.5,
    "1700000000",
]
ODD_STRINGS = [
    "",
    " ",
    "\n",
    "\ud800",
    "a\u0000b",
    "\u2028",
    "x" * 129,
    "é" * 64,
    "A",
    "::1",
    "127.0.0.1",
    "127.000.0.1",
    "::ffff:1.2.3.4",
    "fe80::1%eth0",
]


def uuid_forms(value: str) -> list[Any]:
    parsed = UUID(value)
    return [
        value.upper(),
        parsed.hex,
        f"{{{value}}}",
        f"urn:uuid:{value}",
        value + "\n",
        " " + value,
        parsed.int,
        value[:-1],
    ]


def variants(value: Any) -> list[Any]:
    """Things to put where ``value`` was: lax forms of it, and wrong types."""
    out: list[Any] = [None, True, 0, -1, 1.0, 2.5, "", [], {}, [value], 2**64, -(2**63) - 1]
    if isinstance(value, str):
        out += [value + "\n", value.upper(), value + " ", value * 2, *ODD_STRINGS, *TIMES]
        try:
            out += uuid_forms(value)
        except ValueError:
            pass
    if isinstance(value, bool):
        out += [int(value), str(value).lower(), "yes", "1"]
    elif isinstance(value, int):
        out += [float(value), str(value), value + 0.5, value * 10**12, -value, 2**32, 2**63]
    elif isinstance(value, float):
        out += [int(value), str(value), 1e308, 1e309, -1e309]
    if isinstance(value, list):
        out += [tuple(value), value * 60, [*value, None]]
    return out


def paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix] if prefix else []
    if isinstance(value, dict):
        for key, item in value.items():
            found += paths(item, (*prefix, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found += paths(item, (*prefix, index))
    return found


def at(document: Any, path: tuple[Any, ...]) -> Any:
    for step in path:
        document = document[step]
    return document


@st.composite
def broken(draw: st.DrawFn, spec: EventSpec) -> bytes:
    event = valid_event(spec, draw)
    path = draw(st.sampled_from(paths(event)))
    parent, key = at(event, path[:-1]), path[-1]
    how = draw(st.sampled_from(["replace", "remove", "add", "raw"]))
    if how == "replace":
        parent[key] = draw(st.sampled_from(variants(parent[key])) | ANY_JSON)
    elif how == "remove" and isinstance(parent, dict):
        del parent[key]
    elif how == "add" and isinstance(parent, dict):
        parent[draw(st.sampled_from(["extra", "ID", "type", key + "_"]))] = draw(ANY_JSON)
    text = json.dumps(event, ensure_ascii=draw(st.booleans()))
    if how == "raw":
        text = draw(
            st.sampled_from(
                [
                    text + "\n",
                    " " + text,
                    text[:-1] + ', "type": "dashboard.viewed"}',
                    text[:-1] + f', "id": "{UUID(int=1)}"}}',
                    text[:-1] + ', "version": 1}',
                    text.replace('"', "'", 2),
                    text[:-1],
                    text + "{}",
                    json.dumps(event, indent=2),
                ]
            )
        )
    return text.encode("utf-8", "surrogatepass")


@pytest.mark.parametrize("spec", MIRRORED, ids=lambda spec: spec.tag)
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_the_fast_path_accepts_nothing_parse_event_refuses(
    spec: EventSpec, data: st.DataObject
) -> None:
    event("compared" if check(data.draw(broken(spec), label="raw")) else "refused by the fast path")


# Event times: the fast path's own reading of them -------------------------------------------------

DIGIT = st.sampled_from("0123456789") | st.sampled_from("０٣९")  # ASCII, then other Unicode digits


def digits(count: int) -> st.SearchStrategy[str]:
    return st.lists(DIGIT, min_size=count, max_size=count).map("".join)


def two(low: int, high: int) -> st.SearchStrategy[str]:
    return st.integers(low, high).map("{:02d}".format)


@st.composite
def plain_rfc3339(draw: st.DrawFn) -> str:
    """Times of the one shape the fast path reads, ``YYYY-MM-DDTHH:MM:SS[.f{1,6}](Z|±HH:MM)``,
    with ranges a little wider than valid (day 31 of any month, a 7-digit fraction) so that the
    fast path's edges are crossed too."""
    date = f"{draw(st.integers(1, 9999)):04d}-{draw(two(1, 12))}-{draw(two(1, 31))}"
    clock = f"{draw(two(0, 23))}:{draw(two(0, 59))}:{draw(two(0, 59))}"
    fraction = draw(st.just("") | st.integers(1, 7).flatmap(digits_ascii).map(".{}".format))
    offset = draw(
        st.just("Z")
        | st.tuples(st.sampled_from("+-"), two(0, 23), two(0, 59)).map("{0[0]}{0[1]}:{0[2]}".format)
    )
    return f"{date}T{clock}{fraction}{offset}"


def digits_ascii(count: int) -> st.SearchStrategy[str]:
    return st.lists(st.sampled_from("0123456789"), min_size=count, max_size=count).map("".join)


@st.composite
def near_rfc3339(draw: st.DrawFn) -> str:
    """Times near the shape the fast path reads: each part drawn from its forms and near misses."""
    sep = st.sampled_from(["-", ":", ".", "", "T", " "])
    date = draw(
        st.tuples(digits(4), sep, digits(2), sep, digits(2)).map("".join)
        | st.sampled_from(["2026-W48-4", "2026W484", "2026-330", "+2026-11-26", "0000-01-01"])
    )
    clock = draw(
        st.tuples(digits(2), sep, digits(2), sep, digits(2)).map("".join)
        | st.sampled_from(["24:00:00", "23:59:60", "16:01", "16", "160115"])
    )
    fraction = draw(
        st.just("")
        | st.tuples(st.sampled_from([".", ","]), st.integers(0, 10).flatmap(digits)).map("".join)
    )
    offset = draw(
        st.sampled_from(
            ["Z", "z", "", "+00:00", "-00:00", "+01", "+0100", "+01:00:30", "+24:00", "+23:59"]
        )
        | st.tuples(st.sampled_from(["+", "-", "\u2212"]), digits(2), sep, digits(2)).map("".join)
    )
    return date + draw(st.sampled_from(["T", "t", " ", "_", "X"])) + clock + fraction + offset


def with_time(time: str) -> bytes:
    event = json.loads(valid_dashboard_viewed())
    event["time"] = time
    return json.dumps(event, ensure_ascii=False).encode()


def test_the_fast_path_reads_times_as_parse_event_does() -> None:
    """Half the times are of the fast path's shape, half near misses of it; the fast path must
    take (and then read as pydantic does) a fair share of them, or nothing was compared."""
    compared: list[bool] = []

    @settings(max_examples=1500, deadline=None)
    @given(time=plain_rfc3339() | near_rfc3339())
    def reads_alike(time: str) -> None:
        taken = check(with_time(time))
        event("compared" if taken else "refused by the fast path")
        compared.append(taken)

    reads_alike()
    share = sum(compared) / len(compared)
    assert 0.3 <= share <= 0.7, f"{share:.0%} of {len(compared)} times compared"


@pytest.mark.parametrize(
    "time",
    [
        "2026-11-26T16:01:15Z",
        "2026-11-26T16:01:15.1Z",
        "2026-11-26T16:01:15.123456Z",
        "2026-11-26T16:01:15.123456+05:30",
        "2026-11-26T16:01:15-00:00",
        "1970-01-01T00:00:00+23:59",
    ],
)
def test_plain_rfc3339_times_take_the_fast_path(time: str) -> None:
    assert check(with_time(time))


@pytest.mark.parametrize(
    "time",
    [
        "2026-11-26T16:01:15.9999995Z",  # rounded by msgspec's datetime, truncated by pydantic
        "2026-11-26T16:01:15.1234567+01:00",
        "2026-11-26T16:01:15,5Z",
        "2026-11-26T16:01:15.Z",
        "2026-11-26 16:01:15Z",
        "2026-11-26T16:01:15+01",
        "2026-11-26T16:01:15",
    ],
)
def test_other_times_go_to_parse_event(time: str) -> None:
    assert PARSER.decode(with_time(time)) is None


@pytest.mark.parametrize("time", ["0001-01-01T00:00:00+00:01", "9999-12-31T23:59:59-00:01"])
def test_a_time_outside_utcs_range_is_a_contract_error(time: str) -> None:
    assert PARSER.decode(with_time(time)) is None
    with pytest.raises(ContractError):
        parse_event(with_time(time))


def test_what_the_fast_path_refuses_is_explained_by_parse_event() -> None:
    valid = json.dumps(
        {
            **json.loads(valid_dashboard_viewed()),
            "data": {"version": "3"},  # a lax form pydantic reads as 3
        }
    ).encode()
    assert PARSER.decode(valid) is None
    assert not is_fast(PARSER.parse(valid))
    with pytest.raises(ContractError) as refused:
        PARSER.parse(b'{"type": "dashboard.viewed"')
    assert refused.value.code == "invalid_json"


UNMIRRORED = [spec for spec in REGISTRY.all_event_specs() if spec not in MIRRORED]


def test_what_the_generator_cannot_mirror_is_left_to_pydantic() -> None:
    # Times inside data, JSON values, a non-ASCII-simple pattern: each refused, not approximated.
    assert {"dashboard.published", "permission.granted", "user.created"} <= {
        spec.type for spec in UNMIRRORED
    }


def test_a_type_with_several_versions_is_left_to_pydantic(two_versions: EventRegistry) -> None:
    parser = FastParser(two_versions)
    assert set(parser.mirrored) == {"dashboard.viewed"}
    for data in (WidgetMadeV1(name="w"), WidgetMadeV2(name="w", colour="red")):
        raw = make_widget(two_versions, data).to_json()
        assert parser.decode(raw) is None
        assert type(parser.parse(raw).data) is type(data)


def test_a_registry_with_nothing_to_mirror_parses_everything_with_pydantic() -> None:
    published = REGISTRY.event_spec("dashboard.published")
    registry = EventRegistry(
        {
            "dashboard": [
                declare("dashboard.published", 1, published.data_model, subject="dashboard")
            ]
        }
    )
    event = registry.make_event(
        "dashboard.published",
        tenant_id=UUID(int=1),
        subject_id=UUID(int=2),
        data=published.data_model(version=1, published_at=datetime(2026, 1, 1, tzinfo=UTC)),
    )
    parser = FastParser(registry)
    assert parser.mirrored == {}
    assert parser.decode(event.to_json()) is None
    assert parser.parse(event.to_json()) == event
    with pytest.raises(UnknownEventType):
        parser.parse(valid_dashboard_viewed())


def valid_dashboard_viewed() -> bytes:
    return make_event(
        "dashboard.viewed",
        tenant_id=UUID(int=1),
        subject_id=UUID(int=2),
        data=REGISTRY.data_model("dashboard.viewed")(version=3),
    ).to_json()
