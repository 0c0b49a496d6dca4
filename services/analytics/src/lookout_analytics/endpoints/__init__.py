"""The analytics API's HTTP handlers, one module per resource (none yet; to come: `usage.py`,
`query_performance.py`, `activity.py`): parse, take the kit's ``CallerDep`` and ``PoolDep``, call a
use case, shape the response."""

from __future__ import annotations

from fastapi import APIRouter

ROUTERS: list[APIRouter] = []
