"""What evaluations and deliveries run on, owned for the process's life (a kit component): the
settings, the secret box, the datasource service's client (``None`` without service credentials:
evaluations then fail as errors), the egress policy and the HTTP client of webhooks and Slack
(which sends only where the policy allows), and the database pool.

Handlers reach it as ``EngineDep``."""

from __future__ import annotations

from typing import Annotated

import asyncpg
import httpx
from fastapi import Depends
from lookout_kit.app import Runtime
from lookout_kit.dependencies import component
from lookout_kit.egress import EgressPolicy, EgressTransport
from lookout_kit.lease import new_owner
from lookout_kit.service_client import ServiceClient

from lookout_alert.settings import Settings


class Engine:
    def __init__(
        self, settings: Settings, *, datasource_transport: httpx.AsyncBaseTransport | None = None
    ) -> None:
        """``datasource_transport``: tests' way to the datasource service (and identity's token
        endpoint) in-process."""
        self.settings = settings
        self.box = settings.secret_box()
        self.datasource = ServiceClient.from_settings(
            settings, base_url=str(settings.datasource_url), transport=datasource_transport
        )
        self.egress = EgressPolicy.from_settings(settings)
        # No proxy from the environment: a proxy would connect where the policy never looked.
        self.http = httpx.AsyncClient(
            transport=EgressTransport(self.egress),
            timeout=httpx.Timeout(settings.notification_timeout_s),
            follow_redirects=False,
            trust_env=False,
        )
        self.owner = new_owner("alert-evaluation")
        self._runtime: Runtime | None = None

    @property
    def runtime(self) -> Runtime:
        if self._runtime is None:
            raise RuntimeError("the alert engine is not started")
        return self._runtime

    @property
    def pool(self) -> asyncpg.Pool:
        return self.runtime.require_pool()

    async def start(self, runtime: Runtime) -> None:
        self._runtime = runtime

    async def stop(self) -> None:
        await self.http.aclose()
        if self.datasource is not None:
            await self.datasource.aclose()


EngineDep = Annotated[Engine, Depends(component(Engine))]
