"""The opaque cursor of a list sorted by name then id: where the next page starts."""

from __future__ import annotations

import base64
import json
import uuid
from uuid import UUID

from lookout_kit.errors import Invalid


def encode_cursor(name: str, last_id: UUID) -> str:
    payload = json.dumps({"n": name, "id": str(last_id)}).encode()
    return base64.urlsafe_b64encode(payload).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[str, UUID]:
    """(name, id) of the last item of the previous page; 422 ``invalid_cursor`` otherwise."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        payload = json.loads(base64.urlsafe_b64decode(padded.encode()))
        name = payload["n"]
        if not isinstance(name, str) or "\x00" in name:
            raise ValueError("bad cursor name")
        return name, uuid.UUID(payload["id"])
    except (ValueError, KeyError, TypeError, json.JSONDecodeError, UnicodeDecodeError) as error:
        raise Invalid(
            "invalid cursor: pass back next_cursor unchanged", code="invalid_cursor"
        ) from error
