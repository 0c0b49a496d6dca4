"""The identity service's public keys (JWKS), cached; refetched on an unknown ``kid``.

Every ``refresh_interval_s`` the keys are refetched in the background: the request that finds them
stale is answered from the cache (a key identity retired is refused from the end of that fetch
on), so no request waits for identity except one carrying a ``kid`` not in the cache.

Fetches happen at most once per ``min_refetch_interval_s`` (a request with an unknown kid waits for
the next slot), so that a flood of tokens with made-up kids cannot turn into a flood of requests to
identity. When identity is unreachable the
cached keys keep working and an unknown kid is refused.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any, Protocol

import httpx
import jwt

logger = logging.getLogger("lookout.auth.jwks")

ALGORITHM = "EdDSA"


class KeySource(Protocol):
    """Where the JWKS document comes from."""

    async def fetch(self) -> dict[str, Any]: ...


class HttpKeySource:
    """Fetches the JWKS document over HTTP (identity's ``/.well-known/jwks.json``)."""

    def __init__(
        self, url: str, *, client: httpx.AsyncClient | None = None, timeout_s: float = 3.0
    ) -> None:
        self._url = url
        self._client = client
        self._timeout_s = timeout_s

    async def fetch(self) -> dict[str, Any]:
        if self._client is None:
            # One client for the process's life: a new one per fetch costs a TLS context (ms of
            # CPU in the event loop that serves requests).
            self._client = httpx.AsyncClient(timeout=self._timeout_s)
        response = await self._client.get(self._url, timeout=self._timeout_s)
        response.raise_for_status()
        document = response.json()
        if not isinstance(document, dict):
            raise ValueError("the JWKS document is not an object")
        return document


class JwksCache:
    """Public keys by ``kid``, refreshed every ``refresh_interval_s`` and on an unknown kid."""

    def __init__(
        self,
        source: KeySource,
        *,
        refresh_interval_s: float = 300.0,
        min_refetch_interval_s: float = 1.0,
    ) -> None:
        self._source = source
        self._refresh_interval_s = refresh_interval_s
        self._min_refetch_interval_s = min_refetch_interval_s
        self._keys: dict[str, jwt.PyJWK] = {}
        self._fetched_at = float("-inf")
        self._lock = asyncio.Lock()
        self._background: asyncio.Task[None] | None = None

    async def key(self, kid: str) -> jwt.PyJWK | None:
        """The public key ``kid``, or None when identity does not publish it."""
        now = time.monotonic()
        key = self._keys.get(kid)
        if key is None:
            await self._refresh(now)
            return self._keys.get(kid)
        if now - self._fetched_at > self._refresh_interval_s and (
            self._background is None or self._background.done()
        ):
            self._background = asyncio.create_task(self._refresh(now))
        return key

    async def _refresh(self, requested_at: float) -> None:
        async with self._lock:
            # Another request refreshed while this one waited for the lock: use its result.
            if self._fetched_at >= requested_at:
                return
            # At most one fetch per interval: a request with an unknown kid waits for the next
            # slot instead of being refused, so a key that just appeared is found.
            wait_s = self._min_refetch_interval_s - (time.monotonic() - self._fetched_at)
            if wait_s > 0:
                await asyncio.sleep(wait_s)
            self._fetched_at = time.monotonic()
            try:
                document = await self._source.fetch()
            except (httpx.HTTPError, ValueError) as error:
                logger.warning(
                    "JWKS fetch failed; keeping cached keys", extra={"error": repr(error)}
                )
                return
            self._keys = _parse_jwks(document)

    def known_kids(self) -> list[str]:
        return sorted(self._keys)


def _parse_jwks(document: dict[str, Any]) -> dict[str, jwt.PyJWK]:
    keys: dict[str, jwt.PyJWK] = {}
    for entry in document.get("keys", []):
        if not isinstance(entry, dict) or not isinstance(entry.get("kid"), str):
            continue
        try:
            keys[entry["kid"]] = jwt.PyJWK(entry, algorithm=ALGORITHM)
        except jwt.PyJWTError as error:
            logger.warning("ignoring an unusable JWKS entry", extra={"error": repr(error)})
    return keys
