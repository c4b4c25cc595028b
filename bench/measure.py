"""What the benchmarks share: latency samples and their percentiles, and a stdio door launched
as a desktop client launches it. Imported by the scripts beside it (``python bench/x.py`` puts
this folder on the path)."""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np


def percentiles(samples: Sequence[float]) -> dict[str, float]:
    """p50 and p95 in milliseconds of samples in seconds."""
    ms = np.asarray(samples) * 1000
    return {
        "p50_ms": round(float(np.percentile(ms, 50)), 2),
        "p95_ms": round(float(np.percentile(ms, 95)), 2),
        "n": len(samples),
    }


def timed(fn: Callable[[], Any], count: int, warm_up: int = 5) -> list[float]:
    """Seconds of each of ``count`` calls of ``fn``, after ``warm_up`` calls not counted."""
    for _ in range(warm_up):
        fn()
    out = []
    for _ in range(count):
        started = time.perf_counter()
        fn()
        out.append(time.perf_counter() - started)
    return out


def door_params(root: Path, data: Path) -> Any:
    """``photocomic serve --root ROOT`` over stdio with a clean environment, as a client runs it."""
    from mcp import StdioServerParameters

    keep = ("HOME", "PATH", "LANG", "TMPDIR")
    env = {k: v for k, v in os.environ.items() if k in keep} | {
        "PHOTOCOMIC_DATA_DIR": str(data),
        "HF_HUB_OFFLINE": "1",
        "PYTHONUNBUFFERED": "1",
    }
    return StdioServerParameters(
        command=sys.executable,
        args=["-m", "photocomic.server.cli", "serve", "--root", str(root)],
        env=env,
    )


async def tools_list_seconds(root: Path, data: Path) -> tuple[float, int]:
    """Seconds from launching a door to its answer to tools/list, and how many tools it has."""
    from mcp import Client
    from mcp.client.stdio import stdio_client

    started = time.perf_counter()
    with open(os.devnull, "w") as errlog:
        transport = stdio_client(door_params(root, data), errlog=errlog)
        async with Client(transport, read_timeout_seconds=60) as client:
            tools = await client.list_tools()
            return time.perf_counter() - started, len(tools.tools)


def upsert_in_pages(store: Any, rows: Iterable[Any], page: int = 2000) -> None:
    """Synthetic rows into a store, a page at a time, then one flush."""
    batch: list[Any] = []
    for row in rows:
        batch.append(row)
        if len(batch) == page:
            store.upsert(batch)
            batch = []
    store.upsert(batch)
    store.flush()
