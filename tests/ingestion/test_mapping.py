"""The pure steps: mapping (every event type, by hypothesis), decoding and RowBinary encoding."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from lookout_contracts import all_event_specs, make_event
from lookout_contracts.events.dashboard import DashboardViewedV1
from lookout_contracts.events.datasource import QueryExecutedV1
from lookout_contracts.fast import FastParser
from lookout_ingestion.decode import Rejected, decode
from lookout_ingestion.encoding import encode_origin, encode_row, encode_string, encode_topic
from lookout_ingestion.mapping import (
    AD_HOC,
    COLUMNS,
    NO_USER,
    ORIGIN_COLUMNS,
    Unmappable,
    map_event,
)

from tests.contracts.strategies import data_dicts

SPECS = all_event_specs()
PARSER = FastParser()


@st.composite
def events(draw: st.DrawFn) -> Any:
    spec = draw(st.sampled_from(SPECS))
    data = spec.data_model.model_validate(draw(data_dicts(spec)))
    subject = draw(st.uuids())
    if spec.type == "query.executed":
        subject = data.query_id  # type: ignore[attr-defined]
    session = draw(st.text(min_size=1, max_size=20)) if spec.session_required else None
    return make_event(
        spec.type,
        version=spec.version,
        tenant_id=draw(st.uuids()),
        subject_id=subject,
        actor_id=draw(st.none() | st.uuids()),
        session_id=session,
        data=data,
        time=draw(
            st.datetimes(
                min_value=datetime(1970, 1, 2),
                max_value=datetime(2100, 1, 1),
                timezones=st.just(UTC),
            )
        ),
    )


LOG = uuid.UUID("00112233-4455-6677-8899-aabbccddeeff")
OFFSET = 2**40 + 5
# The origin columns (_topic String, _log UUID, _partition UInt32, _offset UInt64) in RowBinary,
# written out apart from the encoder: a LEB128 length and the name, the log as two little-endian
# halves, then partition 3 and the offset, little-endian.
ORIGIN = (
    b"\x08t.events"
    + bytes.fromhex("7766554433221100ffeeddccbbaa9988")
    + b"\x03\x00\x00\x00"
    + b"\x05\x00\x00\x00\x00\x01\x00\x00"
)


def test_the_origin_columns_are_rowbinary() -> None:
    assert encode_origin(encode_topic("t.events", LOG), 3, OFFSET) == ORIGIN
    assert encode_origin("t.events", 3, OFFSET) == b"\x08t.events" + bytes(16) + ORIGIN[-12:]


@given(events())
@settings(max_examples=300, deadline=None)
def test_mapping_follows_the_table(event: Any) -> None:
    rows = dict(map_event(event))
    expected = set()
    if event.subject.type == "dashboard":
        expected.add("dashboard_events")
    if event.type == "query.executed":
        expected.add("query_metrics")
    if event.actor_id is not None:
        expected.add("user_activity")
    assert set(rows) == expected
    fast = PARSER.decode(event.to_json())  # ingestion's usual kind of event: the same rows
    if fast is not None:
        assert map_event(fast) == map_event(event)
    for table, row in rows.items():
        assert len(row) == len(COLUMNS[table]) - len(ORIGIN_COLUMNS)  # they come from the encoder
        columns = COLUMNS[table][: len(row)]
        assert row[columns.index("timestamp")] == int(event.time.timestamp())
        encoded = encode_row(table, row, encode_origin(encode_topic("t.events", LOG), 3, OFFSET))
        assert encoded.endswith(ORIGIN)
    if "dashboard_events" in rows:
        event_id, dashboard_id, user_id, tenant_id, event_type, event_data, _ = rows[
            "dashboard_events"
        ]
        assert (event_id, str(dashboard_id), tenant_id, event_type) == (
            event.id,
            event.subject.id,
            event.tenant_id,
            event.type,
        )
        assert user_id == (event.actor_id or NO_USER)
        assert event_data == event.data.model_dump_json()
    if "query_metrics" in rows:
        row = dict(zip(COLUMNS["query_metrics"], rows["query_metrics"], strict=False))
        assert (row["query_id"], row["data_source_id"], row["query_text"]) == (
            event.data.query_id,
            event.data.data_source_id,
            event.data.query_text,
        )
        assert row["saved_query_id"] == (event.data.saved_query_id or AD_HOC)
        assert (row["execution_time_ms"], row["rows_returned"], row["bytes_returned"]) == (
            event.data.execution_time_ms,
            event.data.rows_returned,
            event.data.bytes_returned,
        )
        assert row["status"] == event.data.status
    if "user_activity" in rows:
        assert rows["user_activity"][:7] == (
            event.id,
            event.actor_id,
            event.tenant_id,
            event.session_id or "",
            event.type,
            event.subject.type,
            event.subject.id,
        )


def test_an_event_beyond_datetime_is_unmappable() -> None:
    event = make_event(
        "dashboard.viewed",
        tenant_id=uuid.uuid4(),
        subject_id=uuid.uuid4(),
        actor_id=uuid.uuid4(),
        session_id="s",
        data=DashboardViewedV1(version=1),
        time=datetime(2200, 1, 1, tzinfo=UTC),
    )
    with pytest.raises(Unmappable):
        map_event(event)


@pytest.mark.parametrize(
    ("value", "code"),
    [
        (None, "empty"),
        (b"", "empty"),
        (b"{", "invalid_json"),
        (b"[]", "invalid_envelope"),
        (b'{"type": "no.such_thing"}', "unknown_event_type"),
    ],
)
def test_decode_rejects_with_a_code(value: bytes | None, code: str) -> None:
    rejected = decode(value)
    assert isinstance(rejected, Rejected) and rejected.code == code and rejected.reason


def rowbinary_uuid(value: uuid.UUID) -> bytes:
    """ClickHouse's RowBinary UUID, written apart from the encoders: two little-endian halves."""
    raw = value.bytes
    return raw[7::-1] + raw[:7:-1]


def test_rowbinary_uuid_is_two_little_endian_halves() -> None:
    value = uuid.UUID("00112233-4455-6677-8899-aabbccddeeff")
    assert rowbinary_uuid(value) == bytes.fromhex("7766554433221100ffeeddccbbaa9988")


@given(st.uuids())
def test_uuid_columns_encode_alike_from_a_uuid_and_from_its_text(value: uuid.UUID) -> None:
    # dashboard_id is the subject id's canonical text; the other three are UUID objects
    row = (value, str(value), value, value, "dashboard.viewed", "{}", 0)
    assert encode_row("dashboard_events", row, b"")[:64] == rowbinary_uuid(value) * 4


@pytest.mark.parametrize("saved_query", [uuid.UUID(int=7 << 64 | 9), None])
def test_a_query_metric_is_rowbinary_in_its_columns_order(saved_query: uuid.UUID | None) -> None:
    # query_id, user_id, tenant_id, data_source_id, saved_query_id (zero for an ad hoc query),
    # then query_text, execution_time_ms UInt32, rows_returned and bytes_returned UInt64,
    # timestamp UInt32, status; written out apart from the encoder.
    ids = [uuid.UUID(int=n) for n in (1, 2, 3, 4)]
    data = QueryExecutedV1(
        query_id=ids[0],
        data_source_id=ids[3],
        saved_query_id=saved_query,
        query_text="SELECT 1",
        execution_time_ms=300,
        rows_returned=2,
        bytes_returned=2**33,
        status="failed",
        error="boom",
    )
    event = make_event(
        "query.executed",
        tenant_id=ids[2],
        subject_id=ids[0],
        actor_id=ids[1],
        data=data,
        time=datetime.fromtimestamp(1_700_000_000, UTC),
    )
    rows = dict(map_event(event))
    saved = saved_query or uuid.UUID(int=0)
    assert encode_row("query_metrics", rows["query_metrics"], b"") == (
        b"".join(map(rowbinary_uuid, (*ids, saved)))
        + b"\x08SELECT 1"
        + (300).to_bytes(4, "little")
        + (2).to_bytes(8, "little")
        + (2**33).to_bytes(8, "little")
        + (1_700_000_000).to_bytes(4, "little")
        + b"\x06failed"
    )


@pytest.mark.parametrize("length", [0, 1, 127, 128, 300, 16_384, 100_000])
def test_rowbinary_string_has_a_leb128_length(length: int) -> None:
    encoded = encode_string("x" * length)
    prefix = encoded[: len(encoded) - length]
    decoded, shift = 0, 0
    for byte in prefix:
        decoded |= (byte & 0x7F) << shift
        shift += 7
    assert decoded == length and all(byte & 0x80 for byte in prefix[:-1])
    assert not prefix[-1] & 0x80


@pytest.mark.parametrize("session", ["", "s", "é" * 63, "x" * 127, "x" * 128, "é" * 100])
def test_user_activity_strings_are_length_prefixed_whatever_their_length(session: str) -> None:
    ids = [uuid.UUID(int=n) for n in (1, 2, 3)]
    row = (*ids, session, "dashboard.viewed", "dashboard", "a" * 200, 7)
    encoded = encode_row("user_activity", row, b"")
    strings = b"".join(
        encode_string(text) for text in (session, "dashboard.viewed", "dashboard", "a" * 200)
    )
    assert encoded == b"".join(map(rowbinary_uuid, ids)) + strings + (7).to_bytes(4, "little")
