"""What the alert service owns for its process's life beside the kit's runtime, given to the kit as
``components`` (started in this order, stopped in reverse): the engine (settings, secret box, the
datasource service's client, the notifications' HTTP client) and the scheduler, which runs on it."""

from __future__ import annotations

import httpx
from lookout_kit.app import Component

from lookout_alert.service.engine import Engine
from lookout_alert.service.scheduler import Scheduler
from lookout_alert.settings import Settings


def components(
    settings: Settings, datasource_transport: httpx.AsyncBaseTransport | None = None
) -> list[Component]:
    engine = Engine(settings, datasource_transport=datasource_transport)
    return [engine, Scheduler(engine)]
