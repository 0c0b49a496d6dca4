"""The base class of every event's ``data`` and the small field types the event modules share."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints


class EventData(BaseModel):
    """The ``data`` of one event type at one version.

    Frozen and closed (``extra="forbid"``): a producer cannot send a field the contract does not
    name, and a consumer can rely on exactly the fields it sees here. Event data never carries a
    secret: no password, password hash, token, API key, connection password or webhook secret.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")


Name = Annotated[str, StringConstraints(min_length=1, max_length=255)]
"""A display name (dashboard, data source, saved query, alert, tenant, username)."""

ShortName = Annotated[str, StringConstraints(min_length=1, max_length=100)]
"""A short name (role, API key, person's first or last name)."""

Description = Annotated[str, StringConstraints(max_length=10_000)]
"""Free text written by a user."""

ErrorMessage = Annotated[str, StringConstraints(max_length=4_000)]
"""A human-readable error, truncated by the producer; never contains credentials."""

Tag = Annotated[str, StringConstraints(min_length=1, max_length=64)]

Version = Annotated[int, Field(ge=1, le=2**31 - 1)]
"""A version number of a versioned object (a dashboard's ``version``)."""
