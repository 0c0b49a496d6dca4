"""The consumer's process runs the cyclic garbage collector by the clock (``runner.tune_gc``)."""

from __future__ import annotations

import asyncio
import gc
import weakref

import pytest
from lookout_ingestion import runner


async def test_cyclic_garbage_is_collected_by_the_clock_with_the_automatic_collector_off(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(runner, "GC_YOUNG_EVERY_S", 0.05)

    class Node:
        other: object = None

    runner.tune_gc()  # freezes what exists: the cycle comes after
    node = Node()
    node.other = node  # a cycle: refcounting alone never frees it
    gone = weakref.ref(node)
    stopping = asyncio.Event()
    collector = asyncio.create_task(runner.collect_garbage(stopping))
    try:
        assert not gc.isenabled()
        del node
        await asyncio.sleep(0.02)
        assert gone() is not None  # nothing collects it but the clock
        for _ in range(100):
            if gone() is None:
                break
            await asyncio.sleep(0.02)
        assert gone() is None
    finally:
        stopping.set()
        await collector
        gc.enable()
        gc.unfreeze()
