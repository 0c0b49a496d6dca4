"""Wiring the token checks into a service: the ``Authenticator`` and FastAPI dependencies.

A service does not build this itself: its settings mix in ``AuthSettings`` and
``create_service_app(..., auth=True)`` builds the authenticator, subscribes it to identity's events
(revocations) and installs it in the runtime; handlers take ``lookout_kit.dependencies.CallerDep``.
By hand (what ``auth=True`` does):

```python
auth = Authenticator.from_settings(settings)
auth.subscribe(broker, topic=settings.identity_events_topic)
app = create_service_app(settings, ..., broker=broker, on_startup=[auth.on_startup])
```
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Annotated, Any

import httpx
from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from faststream.kafka import KafkaBroker

from lookout_kit.auth.caller import Caller, ServiceCaller
from lookout_kit.auth.jwks import HttpKeySource, JwksCache, KeySource
from lookout_kit.auth.revocation import (
    RevocationCache,
    learn_replay_targets,
    subscribe_revocations,
)
from lookout_kit.auth.verify import TokenVerifier
from lookout_kit.errors import Unauthorized

if TYPE_CHECKING:
    from lookout_kit.app import Runtime
    from lookout_kit.settings import AuthSettings

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
        self.topic: str | None = None
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

    @classmethod
    def from_settings(
        cls, settings: AuthSettings, *, client: httpx.AsyncClient | None = None
    ) -> Authenticator:
        """The authenticator a service's ``AuthSettings`` describe (identity's JWKS over HTTP)."""
        return cls.from_jwks_url(
            str(settings.identity_jwks_url),
            issuer=settings.jwt_issuer,
            audience=settings.jwt_audience,
            client=client,
            revocation_retention_s=settings.revocation_retention_s,
            jwks_refresh_interval_s=settings.jwks_refresh_interval_s,
            jwks_min_refetch_interval_s=settings.jwks_min_refetch_interval_s,
        )

    def subscribe(self, broker: KafkaBroker, *, topic: str | None = None) -> None:
        """Feed the revocation cache from identity's events (call before the app starts)."""
        subscribe_revocations(broker, self.revocations, topic=topic)
        self.topic = topic

    async def learn_replay_targets(self, bootstrap_servers: str, stopping: asyncio.Event) -> None:
        """Read where identity's events end now: the service is ready once the revocation cache
        has read that far (the kit's app runs this at startup)."""
        await learn_replay_targets(
            self.revocations,
            bootstrap_servers=bootstrap_servers,
            topic=self.topic,
            stopping=stopping,
        )

    @property
    def replayed(self) -> bool:
        """Has the revocation cache read identity's events up to where they ended at start?"""
        return self.revocations.replay.done

    async def on_startup(self, runtime: Runtime) -> None:
        """A ``create_service_app`` startup hook: makes this the app's authenticator (``auth=True``
        installs it without this hook)."""
        runtime.authenticator = self


def authenticator_of(request: Request) -> Authenticator:
    found = request.app.state.runtime.authenticator
    if not isinstance(found, Authenticator):
        raise RuntimeError("no Authenticator installed: build the app with auth=True")
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
