"""Calls from one service to another's HTTP API: as this service, on behalf of a tenant.

The exception in an event-driven system (the alert service runs a saved query through the
datasource service), so done one way everywhere:

- **Service tokens** from identity (``POST /auth/service-token``, client credentials: the service's
  name and secret, and the tenant the call acts for — the token carries it, so the callee scopes
  the call to that tenant). Cached per tenant until shortly before they expire; a 401 from the
  callee (a revoked or rotated token) drops the cached one and asks once more.
- **Timeouts** on every request (connect, read, write, pool).
- **Retries** with the kit's backoff (``retry.py``) when the callee cannot be reached or answers
  502/503/504, for idempotent methods only (a POST is retried only when it was never sent).
- **Trace context**: the current ``traceparent`` goes with the request.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import httpx
from opentelemetry import propagate
from pydantic import SecretStr

from lookout_kit.retry import Backoff, retry
from lookout_kit.settings import ServiceClientSettings, ServiceSettings

IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})
RETRIED_STATUSES = frozenset({502, 503, 504})
EXPIRY_MARGIN_S = 30.0
"""A cached token is renewed this long before it expires (or at half its life, if shorter)."""


DEFAULT_BACKOFF = Backoff(0.1, 2.0)


class ServiceUnavailable(Exception):
    """The other service could not be reached or kept answering 502/503/504."""


class ServiceCredentialsRefused(Exception):
    """Identity refused this service's credentials (wrong secret, unknown service)."""


@dataclass
class _Token:
    value: str
    renew_at: float


class _RetryableStatus(Exception):
    def __init__(self, response: httpx.Response) -> None:
        super().__init__(f"HTTP {response.status_code}")
        self.response = response


class ServiceClient:
    """One other service's API (``base_url``), called as ``service`` with tokens from identity."""

    def __init__(
        self,
        *,
        base_url: str,
        identity_url: str,
        service: str,
        secret: SecretStr,
        timeout_s: float = 10.0,
        attempts: int = 3,
        backoff: Backoff = DEFAULT_BACKOFF,
        transport: httpx.AsyncBaseTransport | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._identity_url = identity_url.rstrip("/")
        self._service = service
        self._secret = secret
        self._attempts = attempts
        self._backoff = backoff
        self._http = httpx.AsyncClient(
            base_url=base_url.rstrip("/"),
            timeout=httpx.Timeout(timeout_s),
            transport=transport,
        )
        self._clock = clock
        self._tokens: dict[uuid.UUID, _Token] = {}
        self.tokens_fetched = 0
        """How many tokens this client asked identity for (a cache that works keeps it low)."""

    @classmethod
    def from_settings(
        cls,
        settings: ServiceClientSettings,
        *,
        base_url: str,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> ServiceClient | None:
        """A client of the API at ``base_url`` as the service ``settings`` describe; ``None`` when
        it has no secret at identity (its calls are refused: see ``ServiceClientSettings``)."""
        if settings.service_secret is None:
            return None
        service = settings.service_name if isinstance(settings, ServiceSettings) else ""
        if not service:
            raise ValueError("a service client needs the calling service's name (ServiceSettings)")
        return cls(
            base_url=base_url,
            identity_url=str(settings.identity_url),
            service=service,
            secret=settings.service_secret,
            timeout_s=settings.service_call_timeout_s,
            transport=transport,
        )

    async def aclose(self) -> None:
        await self._http.aclose()

    async def request(
        self,
        method: str,
        path: str,
        *,
        tenant_id: uuid.UUID,
        json: Any = None,
        params: Mapping[str, Any] | None = None,
    ) -> httpx.Response:
        """The callee's response (any status it answered, except 502/503/504 retried away).

        Raises ``ServiceUnavailable`` when it cannot be reached, ``ServiceCredentialsRefused``
        when identity refuses this service's credentials."""
        method = method.upper()
        retried = method in IDEMPOTENT

        async def attempt() -> httpx.Response:
            response = await self._send(method, path, tenant_id, json, params)
            if response.status_code == 401:
                self._tokens.pop(tenant_id, None)  # revoked or expired early: one more token
                response = await self._send(method, path, tenant_id, json, params)
            if retried and response.status_code in RETRIED_STATUSES:
                raise _RetryableStatus(response)
            return response

        retry_on: tuple[type[BaseException], ...] = (
            (httpx.TransportError, _RetryableStatus) if retried else (httpx.ConnectError,)
        )
        try:
            return await retry(
                attempt,
                what=f"call to {self._http.base_url}{path}",
                backoff=self._backoff,
                retry_on=retry_on,
                max_attempts=self._attempts,
            )
        except _RetryableStatus as error:
            if error.response.request.url.path.endswith("/auth/service-token"):
                raise ServiceUnavailable("identity kept answering 502/503/504") from None
            return error.response
        except httpx.TransportError as error:
            raise ServiceUnavailable(f"{method} {path}: {type(error).__name__}") from error

    async def _send(
        self,
        method: str,
        path: str,
        tenant_id: uuid.UUID,
        json: Any,
        params: Mapping[str, Any] | None,
    ) -> httpx.Response:
        headers = {"Authorization": f"Bearer {await self._token(tenant_id)}"}
        propagate.inject(headers)  # traceparent (and tracestate) of the current span
        return await self._http.request(method, path, json=json, params=params, headers=headers)

    async def _token(self, tenant_id: uuid.UUID) -> str:
        cached = self._tokens.get(tenant_id)
        now = self._clock()
        if cached is not None and now < cached.renew_at:
            return cached.value
        response = await self._http.post(
            f"{self._identity_url}/auth/service-token",
            json={
                "service": self._service,
                "secret": self._secret.get_secret_value(),
                "tenant_id": str(tenant_id),
            },
        )
        if response.status_code in (400, 401, 403, 404, 422):
            # 404: no such tenant to act for.
            raise ServiceCredentialsRefused(f"identity answered {response.status_code}")
        if response.status_code in RETRIED_STATUSES:
            raise _RetryableStatus(response)  # identity restarting: retried like the callee
        try:
            response.raise_for_status()
            body = response.json()
            token_value = str(body["access_token"])
            expires_in = body["expires_in"]
        except (httpx.HTTPStatusError, ValueError, KeyError, TypeError) as error:
            raise ServiceUnavailable(f"identity's token answer: {type(error).__name__}") from None
        lifetime = float(expires_in)
        self.tokens_fetched += 1
        token = _Token(
            value=token_value,
            renew_at=now + max(0.0, lifetime - min(EXPIRY_MARGIN_S, lifetime / 2)),
        )
        self._tokens[tenant_id] = token
        return token.value
