"""The JWKS cache: a stale cache answers at once and refreshes behind the request; an unknown kid
waits for a fetch; a key identity retired is refused once the refresh has run."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from jwt.algorithms import OKPAlgorithm
from lookout_kit.auth.jwks import JwksCache


def jwk(kid: str) -> dict[str, Any]:
    public = OKPAlgorithm.to_jwk(Ed25519PrivateKey.generate().public_key(), as_dict=True)
    return {**public, "kid": kid, "alg": "EdDSA", "use": "sig"}


class GatedKeys:
    """Identity's JWKS as a ``KeySource`` whose answers the test releases one at a time."""

    def __init__(self, *kids: str) -> None:
        self.keys = [jwk(kid) for kid in kids]
        self.fetches = 0
        self.gate = asyncio.Event()
        self.gate.set()

    async def fetch(self) -> dict[str, Any]:
        self.fetches += 1
        await self.gate.wait()
        return {"keys": list(self.keys)}


async def test_a_stale_cache_answers_at_once_and_refreshes_behind_the_request() -> None:
    old, new = uuid.uuid4().hex, uuid.uuid4().hex
    source = GatedKeys(old)
    cache = JwksCache(source, refresh_interval_s=0.05, min_refetch_interval_s=0)
    assert await cache.key(old) is not None
    assert source.fetches == 1

    await asyncio.sleep(0.1)  # now stale
    source.gate.clear()  # identity is slow: the refresh hangs until the test lets it go
    source.keys = [jwk(new)]  # and it retired the old key
    # Answered from the cache without waiting for identity (wait_for fails if it waited).
    assert await asyncio.wait_for(cache.key(old), 0.5) is not None
    await asyncio.sleep(0)
    assert source.fetches == 2  # the refresh started behind the request
    # Another request meanwhile starts no second fetch.
    assert await asyncio.wait_for(cache.key(old), 0.5) is not None
    assert source.fetches == 2

    source.gate.set()
    for _ in range(100):
        if cache.known_kids() == [new]:
            break
        await asyncio.sleep(0.01)
    assert cache.known_kids() == [new]
    assert await cache.key(old) is None  # retired: refused from the refresh on


async def test_an_unknown_kid_waits_for_the_fetch() -> None:
    first, later = uuid.uuid4().hex, uuid.uuid4().hex
    source = GatedKeys(first)
    cache = JwksCache(source, refresh_interval_s=300, min_refetch_interval_s=0)
    assert await cache.key(first) is not None
    source.keys.append(jwk(later))
    assert await cache.key(later) is not None
    assert source.fetches == 2
