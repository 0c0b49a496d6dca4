"""What the dashboard service owns for its process's life beside the kit's runtime: its client of
the datasource service (a dashboard's data runs there). Given to the kit as ``components``."""

from __future__ import annotations

from lookout_kit.app import Component, Runtime
from lookout_kit.service_client import ServiceClient

from lookout_dashboard.settings import Settings


class DatasourceClient:
    """The datasource service's API as this service; ``client`` is None without service
    credentials (``ServiceClientSettings``): a dashboard's data then answers 503."""

    def __init__(self, settings: Settings) -> None:
        self.client = ServiceClient.from_settings(settings, base_url=str(settings.datasource_url))

    async def start(self, runtime: Runtime) -> None:
        """Nothing to open: the client connects on its first call."""

    async def stop(self) -> None:
        if self.client is not None:
            await self.client.aclose()


def components(settings: Settings) -> list[Component]:
    return [DatasourceClient(settings)]
