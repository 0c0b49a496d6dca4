"""Typed dependencies every service's handlers and subscribers take from the kit.

```python
@router.get("/things/{thing_id}")
async def get_thing(thing_id: UUID, caller: CallerDep, pool: PoolDep) -> Thing: ...

@router.subscriber(topic, group_id=...)            # a FastStream KafkaRouter
async def on_event(message: KafkaMessage, runtime: RuntimeContext) -> None: ...
```

The FastAPI dependencies are ``async`` on purpose: FastAPI runs a plain ``def`` dependency in a
thread pool, a hop per request for what is an attribute read.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, TypeVar

import asyncpg
from fastapi import Depends, Request
from faststream import Context

from lookout_kit.app import RUNTIME_CONTEXT_KEY, Runtime
from lookout_kit.auth.caller import Caller, ServiceCaller
from lookout_kit.auth.dependencies import current_caller, current_service
from lookout_kit.clickhouse import ClickHouse


async def runtime_of(request: Request) -> Runtime:
    """The running service's runtime (set by the kit's lifespan)."""
    runtime: Runtime = request.app.state.runtime
    return runtime


async def pool_of(request: Request) -> asyncpg.Pool:
    """The service's PostgreSQL pool."""
    runtime: Runtime = request.app.state.runtime
    return runtime.require_pool()


async def events_pool_of(request: Request) -> asyncpg.Pool:
    """The pool for events that report no state change (``publish_standalone``)."""
    runtime: Runtime = request.app.state.runtime
    return runtime.require_events_pool()


async def clickhouse_of(request: Request) -> ClickHouse:
    """The service's ClickHouse client (its settings name a ``clickhouse_url``)."""
    runtime: Runtime = request.app.state.runtime
    if runtime.clickhouse is None:
        raise RuntimeError("this service has no ClickHouse (no clickhouse_url, or not started)")
    return runtime.clickhouse


T = TypeVar("T")


def component(kind: type[T]) -> Callable[[Request], Awaitable[T]]:
    """A dependency giving the service's component of class ``kind`` (``create_service_app``'s
    ``components``): ``EngineDep = Annotated[Engine, Depends(component(Engine))]``."""

    async def component_of(request: Request) -> T:
        found: T = request.app.state.components[kind]
        return found

    component_of.__name__ = f"{kind.__name__.lower()}_of"
    return component_of


RuntimeDep = Annotated[Runtime, Depends(runtime_of)]
PoolDep = Annotated[asyncpg.Pool, Depends(pool_of)]
EventsPoolDep = Annotated[asyncpg.Pool, Depends(events_pool_of)]
ClickHouseDep = Annotated[ClickHouse, Depends(clickhouse_of)]
CallerDep = Annotated[Caller, Depends(current_caller)]
"""The verified user (or API key) of the request; 401 without a valid, unrevoked token."""
ServiceCallerDep = Annotated[ServiceCaller, Depends(current_service)]
"""The verified calling service (a service token); 401 otherwise."""

RuntimeContext = Annotated[Runtime, Context(RUNTIME_CONTEXT_KEY)]
"""A FastStream subscriber's parameter: the runtime, from the broker's context."""
