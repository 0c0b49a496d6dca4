"""Wiring the token checks into a service: the ``Authenticator`` and FastAPI dependencies.

```python
auth = Authenticator.from_jwks_url(settings.identity_jwks_url, issuer=..., audience=...)
auth.subscribe(broker)  # revocations from identity.events
app = create_service_app(settings, ..., broker=broker, on_startup=[auth.on_startup])

@router.get("/things/{thing_id}")
async def get_thing(caller: Annotated[Caller, Depends(current_caller)]) -> ...:
```
"""

from __future__ import annotations

from typing import Annotated, Any

import httpx
from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from faststream.kafka import KafkaBroker

from lookout_kit.auth.caller import Caller, ServiceCaller
from lookout_kit.auth.jwks import HttpKeySource, JwksCache, KeySource
from lookout_kit.auth.revocation import RevocationCache, subscribe_revocations
from lookout_kit.auth.verify import TokenVerifier
from lookout_kit.errors import Unauthorized

EXTRAS_KEY = "authenticator"

bearer_scheme = HTTPBearer(auto_error=False, description="An access token from identity")


class Authenticator:
    """A service's token verifier and revocation cache; placed in the runtime at startup."""

    def __init__(
        self,
        source: KeySource,
        *,
        issuer: str,
        audience: str,
        revocation_retention_s: float = 3_600.0,
        jwks_refresh_interval_s: float = 300.0,
        jwks_min_refetch_interval_s: float = 1.0,
    ) -> None:
        self.revocations = RevocationCache(retention_s=revocation_retention_s)
        self.jwks = JwksCache(
            source,
            refresh_interval_s=jwks_refresh_interval_s,
            min_refetch_interval_s=jwks_min_refetch_interval_s,
        )
        self.verifier = TokenVerifier(
            self.jwks, issuer=issuer, audience=audience, revocations=self.revocations
        )

    @classmethod
    def from_jwks_url(
        cls,
        url: str,
        *,
        issuer: str,
        audience: str,
        client: httpx.AsyncClient | None = None,
        **options: Any,
    ) -> Authenticator:
        return cls(HttpKeySource(url, client=client), issuer=issuer, audience=audience, **options)

    def subscribe(self, broker: KafkaBroker, *, topic: str | None = None) -> None:
        """Feed the revocation cache from identity's events (call before the app starts)."""
        subscribe_revocations(broker, self.revocations, topic=topic)

    async def on_startup(self, runtime: Any) -> None:
        """A ``create_service_app`` startup hook: makes this the app's authenticator."""
        runtime.extras[EXTRAS_KEY] = self


def authenticator_of(request: Request) -> Authenticator:
    found = request.app.state.runtime.extras.get(EXTRAS_KEY)
    if not isinstance(found, Authenticator):
        raise RuntimeError("no Authenticator installed: add auth.on_startup to on_startup")
    return found


def _token(credentials: HTTPAuthorizationCredentials | None) -> str:
    if credentials is None:
        raise Unauthorized("a bearer access token is required", code="missing_token")
    return credentials.credentials


async def current_caller(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)],
) -> Caller:
    """The verified caller of this request (401 when the token is missing, invalid or revoked)."""
    return await authenticator_of(request).verifier.verify_access(_token(credentials))


async def current_service(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)],
) -> ServiceCaller:
    """The verified calling service (a service token), or 401."""
    return await authenticator_of(request).verifier.verify_service(_token(credentials))
