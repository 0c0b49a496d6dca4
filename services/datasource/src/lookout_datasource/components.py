"""What the datasource service owns for its process's life beside the kit's runtime, given to the
kit as ``components`` (started in this order, stopped in reverse): the execution engine (pools per
source, result cache, secret box) and the periodic schema refresh, which runs on the engine."""

from __future__ import annotations

from lookout_kit.app import Component

from lookout_datasource.service.engine import Engine
from lookout_datasource.service.schema_refresher import ScheduledSchemaRefresh
from lookout_datasource.settings import Settings


def components(settings: Settings) -> list[Component]:
    engine = Engine.from_settings(settings)
    return [engine, ScheduledSchemaRefresh(settings, engine)]
