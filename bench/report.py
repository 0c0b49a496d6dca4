"""Write a benchmark's figures in the project's format (see BENCH.md) and print them as a table."""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).parent / "results"


def figure(value: float, unit: str, better: str, target: float | None = None) -> dict[str, Any]:
    entry: dict[str, Any] = {"value": round(value, 3), "unit": unit, "better": better}
    if target is not None:
        entry["target"] = target
    return entry


def median(values: list[float]) -> float:
    return statistics.median(values)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


def _clickhouse_version() -> str:
    try:
        out = subprocess.run(
            ["clickhouse-client", "--version"],
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        ).stdout
        return out.strip().split()[-1].rstrip(".")
    except (OSError, subprocess.TimeoutExpired, IndexError):
        return "unknown"


def _broker_version() -> str:
    try:
        from lookout_testing.broker import tansu_binary

        out = subprocess.run(
            [str(tansu_binary()), "--version"],
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        ).stdout
        return out.strip() or "unknown"
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"


def machine() -> dict[str, Any]:
    memory_gib = round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30)
    return {
        "cores": os.cpu_count(),
        "memory_gib": memory_gib,
        "python": platform.python_version(),
        "clickhouse": _clickhouse_version(),
        "broker": _broker_version(),
    }


def write(name: str, params: dict[str, Any], figures: dict[str, dict[str, Any]]) -> Path:
    document = {
        "bench": name,
        "when": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "machine": machine(),
        "params": params,
        "figures": figures,
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps(document, indent=2) + "\n")
    print(f"\n{name}")
    print(f"{'figure':<28}{'value':>14}  {'unit':<10}{'target':>10}  better")
    for key, entry in figures.items():
        target = entry.get("target", "")
        print(
            f"{key:<28}{entry['value']:>14}  {entry['unit']:<10}{target!s:>10}  {entry['better']}"
        )
    print(f"written to {path}")
    return path
