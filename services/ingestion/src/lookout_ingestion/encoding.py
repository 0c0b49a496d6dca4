"""Encode step: rows → ClickHouse RowBinary, the cheapest insert format to produce in Python
(fixed-width numbers by ``struct``, strings length-prefixed: no escaping, no text conversion).

RowBinary layout: integers little-endian; ``DateTime`` a UInt32 of seconds; ``String`` a LEB128
length then the bytes; ``UUID`` two little-endian UInt64 halves, the high half first.
"""

from __future__ import annotations

import struct
import uuid
from collections.abc import Callable
from typing import Final

from lookout_ingestion.mapping import Row, Table

_U32: Final = struct.Struct("<I").pack
_U64: Final = struct.Struct("<Q").pack
_U32_U64: Final = struct.Struct("<IQ").pack
_U32_U64_U64_U32: Final = struct.Struct("<IQQI").pack


def encode_uuid(value: uuid.UUID) -> bytes:
    raw = value.bytes
    return raw[7::-1] + raw[:7:-1]


def encode_string(value: str | bytes) -> bytes:
    raw = value.encode() if isinstance(value, str) else value
    length = len(raw)
    if length < 0x80:
        return bytes((length,)) + raw
    prefix = bytearray()
    while length >= 0x80:
        prefix.append((length & 0x7F) | 0x80)
        length >>= 7
    prefix.append(length)
    return bytes(prefix) + raw


def encode_origin(topic: str, partition: int, offset: int) -> bytes:
    """The ``_topic, _partition, _offset`` columns every row ends with."""
    return encode_string(topic) + _U32_U64(partition, offset)


def _dashboard_event(row: Row) -> bytes:
    event_id, dashboard_id, user_id, tenant_id, event_type, event_data, timestamp = row
    return b"".join(
        (
            encode_uuid(event_id),
            encode_uuid(dashboard_id),
            encode_uuid(user_id),
            encode_uuid(tenant_id),
            encode_string(event_type),
            encode_string(event_data),
            _U32(timestamp),
        )
    )


def _query_metric(row: Row) -> bytes:
    (
        query_id,
        user_id,
        tenant_id,
        data_source_id,
        query_text,
        execution_time_ms,
        rows_returned,
        bytes_returned,
        timestamp,
        status,
    ) = row
    return b"".join(
        (
            encode_uuid(query_id),
            encode_uuid(user_id),
            encode_uuid(tenant_id),
            encode_uuid(data_source_id),
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
    return b"".join(
        (
            encode_uuid(activity_id),
            encode_uuid(user_id),
            encode_uuid(tenant_id),
            encode_string(session_id),
            encode_string(activity_type),
            encode_string(resource_type),
            encode_string(resource_id),
            _U32(timestamp),
        )
    )


ENCODERS: Final[dict[Table, Callable[[Row], bytes]]] = {
    "dashboard_events": _dashboard_event,
    "query_metrics": _query_metric,
    "user_activity": _user_activity,
}


def encode_row(table: Table, row: Row, origin: bytes) -> bytes:
    """One row of ``table`` in RowBinary, its origin columns (``encode_origin``) appended."""
    return ENCODERS[table](row) + origin
