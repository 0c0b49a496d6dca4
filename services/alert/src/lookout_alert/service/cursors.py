"""Keyset cursors of the API's pages: an opaque token of (time, id) a page ends with."""

from __future__ import annotations

import base64
import binascii
from datetime import datetime
from uuid import UUID

from lookout_kit.errors import Invalid


def encode_cursor(when: datetime, row_id: UUID) -> str:
    return base64.urlsafe_b64encode(f"{when.isoformat()}|{row_id}".encode()).decode()


def decode_cursor(cursor: str) -> tuple[datetime, UUID]:
    """The position a cursor names; 422 for anything this API did not give."""
    try:
        when, row_id = base64.urlsafe_b64decode(cursor.encode()).decode().split("|")
        return datetime.fromisoformat(when), UUID(row_id)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise Invalid(
            "cursor is not one this API gave",
            code="invalid_cursor",
            details=[{"loc": ["query", "cursor"], "msg": "unknown cursor", "type": "invalid"}],
        ) from None
