"""A per-address limit on identity's open endpoints (no token needed): sign-up, login, refresh, and
the API-key and service token exchanges.

Keyed by the client's real address: the kit's middleware takes it from the gateway's
``X-Forwarded-For`` when the request comes from a trusted proxy (``forwarded_allow_ips``), so behind
the gateway every client has its own bucket. A token bucket per address in this process
(``open_rate_per_s`` sustained, ``open_burst`` at once); beyond it 429 ``rate_limited`` with
``Retry-After``. Each replica counts for itself: the gateway's ``limit_req`` is the shared bound.
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict
from typing import Annotated

from fastapi import Depends, Request
from lookout_kit.dependencies import component
from lookout_kit.errors import TooManyRequests

OPEN_PATHS = frozenset(
    {"/signup", "/auth/login", "/auth/refresh", "/auth/api-key-token", "/auth/service-token"}
)

# Addresses remembered at most (the least recently seen go first): bounded memory under a flood
# of addresses, each of which then starts with a full bucket.
MAX_ADDRESSES = 100_000


class RateLimited(TooManyRequests):
    code = "rate_limited"


class OpenLimits:
    """Token buckets per client address for the open endpoints; a kit component (nothing to start)."""

    def __init__(self, rate_per_s: float, burst: int) -> None:
        self.rate_per_s = rate_per_s
        self.burst = burst
        # address → (tokens, when they were counted)
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()

    async def start(self, _runtime: object) -> None:
        return None

    async def stop(self) -> None:
        return None

    def take(self, address: str, now: float | None = None) -> float:
        """Take a token of ``address``'s bucket: 0 when there was one, else the seconds until one."""
        now = time.monotonic() if now is None else now
        tokens, then = self._buckets.pop(address, (float(self.burst), now))
        tokens = min(float(self.burst), tokens + (now - then) * self.rate_per_s)
        if tokens >= 1:
            tokens -= 1
            wait = 0.0
        else:
            wait = (1 - tokens) / self.rate_per_s
        self._buckets[address] = (tokens, now)
        if len(self._buckets) > MAX_ADDRESSES:
            self._buckets.popitem(last=False)
        return wait


async def limit_open_endpoints(
    request: Request, limits: Annotated[OpenLimits, Depends(component(OpenLimits))]
) -> None:
    """A router dependency: on an open endpoint, take a token of the caller's address or 429."""
    route = request.scope.get("route")
    if getattr(route, "path", None) not in OPEN_PATHS:
        return
    address = "unknown" if request.client is None else request.client.host
    wait = limits.take(address)
    if wait > 0:
        raise RateLimited(
            "too many requests from this address; retry later",
            details={"retry_after_s": max(1, math.ceil(wait))},
        )
