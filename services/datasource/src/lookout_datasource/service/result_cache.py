"""The optional result cache (Redis): a result kept for a time, read back by a request whose
``max_age_s`` accepts its age.

A key is the tenant in clear and a SHA-256 of the source's id and version (a changed source never
hits an older result), the query text as run, the bound values (with their types) and the row
limit: no value, text or setting in clear. The stored value is the result as JSON with the time
it was stored. A cache that cannot be reached is skipped (logged), never an error of the query.
A cached result is not an execution: no ``query_executions`` row and no ``query.executed`` event.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from datetime import date, datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

import redis.asyncio as redis
from redis.exceptions import RedisError

logger = logging.getLogger("lookout.datasource.result_cache")

PREFIX = "lookout:datasource:result"


def _typed(value: Any) -> Any:
    """Values typed in the key, so that the text '1' and the number 1 are different keys."""
    if isinstance(value, datetime | date):
        return {"type": type(value).__name__, "value": value.isoformat()}
    if isinstance(value, Decimal):
        return {"type": "decimal", "value": str(value)}
    raise TypeError(type(value).__name__)


def cache_key(
    tenant_id: UUID,
    data_source_id: UUID,
    version: int,
    query_text: str,
    values: dict[str, Any],
    row_limit: int,
) -> str:
    material = json.dumps(
        [str(data_source_id), version, query_text, values, row_limit],
        sort_keys=True,
        default=_typed,
        separators=(",", ":"),
    )
    return f"{PREFIX}:{tenant_id}:{hashlib.sha256(material.encode()).hexdigest()}"


class ResultCache:
    """Results in Redis for at most ``ttl_s``; one over ``max_bytes`` is not stored."""

    def __init__(self, url: str, *, ttl_s: int, max_bytes: int, timeout_s: float = 0.5) -> None:
        self.ttl_s = ttl_s
        self.max_bytes = max_bytes
        self._redis = redis.Redis.from_url(
            url, socket_timeout=timeout_s, socket_connect_timeout=timeout_s
        )

    async def get(self, key: str, max_age_s: float) -> tuple[dict[str, Any], float] | None:
        """The result stored under ``key`` and its age in seconds, if it is at most ``max_age_s``
        old; None otherwise (or when the cache cannot be reached)."""
        try:
            stored = await self._redis.get(key)
        except (RedisError, OSError) as error:
            logger.warning("result cache unreachable on read", extra={"error": repr(error)})
            return None
        if stored is None:
            return None
        try:
            document = json.loads(stored)
            age = max(0.0, time.time() - float(document["stored_at"]))
            result: dict[str, Any] = document["result"]
        except (ValueError, KeyError, TypeError):
            return None  # not ours, or damaged: run the query
        return (result, age) if age <= max_age_s else None

    async def put(self, key: str, result_json: bytes) -> bool:
        """Store a result (its JSON); whether it was stored."""
        encoded = b'{"stored_at":%r,"result":%b}' % (time.time(), result_json)
        if len(encoded) > self.max_bytes:
            return False
        try:
            await self._redis.set(key, encoded, ex=self.ttl_s)
        except (RedisError, OSError) as error:
            logger.warning("result cache unreachable on write", extra={"error": repr(error)})
            return False
        return True

    async def close(self) -> None:
        await self._redis.aclose()
