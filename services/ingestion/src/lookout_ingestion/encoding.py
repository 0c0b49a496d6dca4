"""Encode step: rows → ClickHouse RowBinary, the cheapest insert format to produce in Python
(fixed-width numbers by ``struct``, strings length-prefixed: no escaping, no text conversion).

RowBinary layout: integers little-endian; ``DateTime`` a UInt32 of seconds; ``String`` a LEB128
length then the bytes; ``UUID`` two little-endian UInt64 halves, the high half first.

Each table's leading UUID columns are packed by one precompiled ``struct`` call (two ``Q`` per
UUID, from ``UUID.int``): the per-row cost is a handful of C calls, not one per byte field.
"""

from __future__ import annotations

import struct
import uuid
from collections.abc import Callable
from typing import Final

from lookout_ingestion.mapping import Row, Table

_U32: Final = struct.Struct("<I").pack
_U32_U64: Final = struct.Struct("<IQ").pack
_U32_U64_U64_U32: Final = struct.Struct("<IQQI").pack
_UUIDS_1: Final = struct.Struct("<2Q").pack
_UUIDS_3: Final = struct.Struct("<6Q").pack
_UUIDS_4: Final = struct.Struct("<8Q").pack
_UUIDS_5: Final = struct.Struct("<10Q").pack
_LOW: Final = (1 << 64) - 1
_SHORT_LENGTH: Final = tuple(bytes((length,)) for length in range(0x80))
"""The one-byte LEB128 prefix of every length below 128, prebuilt."""


def _uuid_int(value: uuid.UUID | str) -> int:
    """A UUID's 128-bit value; a ``str`` is a canonical UUID (a subject id, checked by the
    contracts' pattern), read without building a ``uuid.UUID``."""
    if isinstance(value, str):
        return int(value.replace("-", ""), 16)
    return value.int


def encode_string(value: str | bytes) -> bytes:
    raw = value.encode() if isinstance(value, str) else value
    length = len(raw)
    if length < 0x80:
        return _SHORT_LENGTH[length] + raw
    prefix = bytearray()
    while length >= 0x80:
        prefix.append((length & 0x7F) | 0x80)
        length >>= 7
    prefix.append(length)
    return bytes(prefix) + raw


NO_LOG: Final = uuid.UUID(int=0)
"""The ``_log`` of a row whose log incarnation is not known (rows stored before logs were told
apart, and rows encoded without one)."""


def encode_uuid(value: uuid.UUID) -> bytes:
    number = value.int
    return _UUIDS_1(number >> 64, number & _LOW)


def encode_topic(topic: str, log: uuid.UUID = NO_LOG) -> bytes:
    """The ``_topic, _log`` columns: computed once per partition, ``encode_origin`` appends the
    rest. ``log`` names the incarnation of the partition's log the rows come from (``logs.py``)."""
    return encode_string(topic) + encode_uuid(log)


def encode_origin(topic: str | bytes, partition: int, offset: int) -> bytes:
    """The ``_topic, _log, _partition, _offset`` columns every row ends with (``topic`` may be
    given already encoded by ``encode_topic``; a plain name gets ``NO_LOG``)."""
    prefix = topic if isinstance(topic, bytes) else encode_topic(topic)
    return prefix + _U32_U64(partition, offset)


def _dashboard_event(row: Row) -> bytes:
    event_id, dashboard_id, user_id, tenant_id, event_type, event_data, timestamp = row
    event = event_id.int
    dashboard = _uuid_int(dashboard_id)
    user = user_id.int
    tenant = tenant_id.int
    return (
        _UUIDS_4(
            event >> 64,
            event & _LOW,
            dashboard >> 64,
            dashboard & _LOW,
            user >> 64,
            user & _LOW,
            tenant >> 64,
            tenant & _LOW,
        )
        + encode_string(event_type)
        + encode_string(event_data)
        + _U32(timestamp)
    )


def _query_metric(row: Row) -> bytes:
    (
        query_id,
        user_id,
        tenant_id,
        data_source_id,
        saved_query_id,
        query_text,
        execution_time_ms,
        rows_returned,
        bytes_returned,
        timestamp,
        status,
    ) = row
    query = query_id.int
    user = user_id.int
    tenant = tenant_id.int
    data_source = data_source_id.int
    saved_query = saved_query_id.int
    return b"".join(
        (
            _UUIDS_5(
                query >> 64,
                query & _LOW,
                user >> 64,
                user & _LOW,
                tenant >> 64,
                tenant & _LOW,
                data_source >> 64,
                data_source & _LOW,
                saved_query >> 64,
                saved_query & _LOW,
            ),
            encode_string(query_text),
            _U32_U64_U64_U32(execution_time_ms, rows_returned, bytes_returned, timestamp),
            encode_string(status),
        )
    )


def _user_activity(row: Row) -> bytes:
    (
        activity_id,
        user_id,
        tenant_id,
        session_id,
        activity_type,
        resource_type,
        resource_id,
        timestamp,
    ) = row
    activity = activity_id.int
    user = user_id.int
    tenant = tenant_id.int
    session = session_id.encode()
    kind = activity_type.encode()
    resource = resource_type.encode()
    resource_key = resource_id.encode()
    if (
        len(session) < 0x80
        and len(kind) < 0x80
        and len(resource) < 0x80
        and len(resource_key) < 0x80
    ):
        strings = b"".join(
            (
                _SHORT_LENGTH[len(session)],
                session,
                _SHORT_LENGTH[len(kind)],
                kind,
                _SHORT_LENGTH[len(resource)],
                resource,
                _SHORT_LENGTH[len(resource_key)],
                resource_key,
            )
        )
    else:
        strings = b"".join(map(encode_string, (session, kind, resource, resource_key)))
    return (
        _UUIDS_3(
            activity >> 64,
            activity & _LOW,
            user >> 64,
            user & _LOW,
            tenant >> 64,
            tenant & _LOW,
        )
        + strings
        + _U32(timestamp)
    )


ENCODERS: Final[dict[Table, Callable[[Row], bytes]]] = {
    "dashboard_events": _dashboard_event,
    "query_metrics": _query_metric,
    "user_activity": _user_activity,
}


def encode_row(table: Table, row: Row, origin: bytes) -> bytes:
    """One row of ``table`` in RowBinary, its origin columns (``encode_origin``) appended."""
    return ENCODERS[table](row) + origin
