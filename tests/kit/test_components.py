"""Components: the parts a service owns for its process's life, started with the runtime up and in
order, stopped in reverse before it goes down, reached by handlers through their class."""

from __future__ import annotations

from typing import Annotated

import httpx
import pytest
from fastapi import APIRouter, Depends
from lookout_kit.app import Runtime, create_service_app
from lookout_kit.dependencies import component
from lookout_kit.settings import ServiceSettings
from lookout_testing.servers import Servers


class Part:
    def __init__(self, name: str, journal: list[str]) -> None:
        self.name = name
        self.journal = journal
        self.database: str | None = None

    async def start(self, runtime: Runtime) -> None:
        # The runtime is up: its pool answers.
        self.database = await runtime.require_pool().fetchval("SELECT current_database()")
        self.journal.append(f"start {self.name}")

    async def stop(self) -> None:
        self.journal.append(f"stop {self.name}")


class Engine(Part):
    pass


class Refresher(Part):
    pass


router = APIRouter()


@router.get("/engine")
async def engine_name(engine: Annotated[Engine, Depends(component(Engine))]) -> dict[str, str]:
    return {"name": engine.name, "database": str(engine.database)}


async def test_components_start_in_order_stop_in_reverse_and_are_found_by_class(
    database: str, servers: Servers
) -> None:
    journal: list[str] = []
    settings = ServiceSettings(
        service_name="kitparts", database_url=database, kafka_bootstrap_servers=servers.kafka
    )
    app = create_service_app(
        settings,
        service_package="lookout_kit",
        title="t",
        routers=[router],
        components=[Engine("engine", journal), Refresher("refresher", journal)],
    )
    async with app.router.lifespan_context(app):
        assert journal == ["start engine", "start refresher"]
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            answer = await client.get("/engine")
        assert answer.json() == {"name": "engine", "database": database.rsplit("/", 1)[1]}
    assert journal == ["start engine", "start refresher", "stop refresher", "stop engine"]


def test_two_components_of_one_class_are_refused() -> None:
    with pytest.raises(ValueError, match="one component of each class"):
        create_service_app(
            ServiceSettings(service_name="kitparts"),
            service_package="lookout_kit",
            title="t",
            components=[Engine("a", []), Engine("b", [])],
        )
