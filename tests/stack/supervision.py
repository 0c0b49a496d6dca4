"""The running local stack's supervisord (``make up``): its programs as stack tests stop and start
them. Where it listens is in the stack's state file (``<data dir>/stack.json``, the data dir
``LOOKOUT_DATA_DIR`` or the repo's ``.data``)."""

from __future__ import annotations

import json
import os
import xmlrpc.client
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
from lookout_testing.waiting import wait_until
from supervisor.xmlrpc import SupervisorTransport

REPO = Path(__file__).resolve().parents[2]


def stack_state() -> dict[str, Any]:
    data_dir = Path(os.environ.get("LOOKOUT_DATA_DIR") or REPO / ".data")
    state: dict[str, Any] = json.loads((data_dir / "stack.json").read_text())
    return state


def supervisor() -> Any:
    """supervisord's XML-RPC ``supervisor`` namespace (``stopProcess``, ``startProcess``, ...)."""
    transport = SupervisorTransport(None, None, f"unix://{stack_state()['supervisor_socket']}")
    return xmlrpc.client.ServerProxy("http://127.0.0.1", transport=transport).supervisor


def programs_of(service: str) -> list[str]:
    """The service's programs in the running stack: ``<service>-0`` and one per more replica."""
    return [f"{service}-{index}" for index in range(len(stack_state()["services"][service]))]


@asynccontextmanager
async def stopped(service: str, gateway: str) -> AsyncIterator[None]:
    """Every replica of ``service`` stopped while the block runs; started again after it, however
    it ends, and ready through the gateway before the block's end returns."""
    programs = programs_of(service)
    control = supervisor()
    for program in programs:
        control.stopProcess(program)
    try:
        yield
    finally:
        for program in programs:
            if control.getProcessInfo(program)["statename"] != "RUNNING":
                control.startProcess(program)
        async with httpx.AsyncClient(base_url=gateway, timeout=5) as http:

            async def ready() -> bool:
                try:
                    return (await http.get(f"/api/{service}/readyz")).status_code == 200
                except httpx.HTTPError:
                    return False

            await wait_until(ready, timeout=60, interval=0.2, message=f"{service} to be back")
