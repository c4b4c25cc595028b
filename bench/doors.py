"""Many doors on one library: memory of all photocomic processes, what a door adds to a search,
and how soon a new MCP server answers ``tools/list``.

On a library of photos-1k: two stdio MCP servers held open through the real MCP client (as
Claude Desktop and an IDE agent would), each having searched once (the model is loaded), and a
``photocomic search`` from the command line meanwhile; the resident memory of every photocomic
process is sampled the whole time. Search latency by photo id through a door (this process,
over the engine's socket) is set beside the same search made in-process on the same store.

    python bench/doors.py [--photos DIR] [--out FILE.json]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import anyio
import psutil
from measure import door_params, percentiles, tools_list_seconds

REPO = Path(__file__).resolve().parent.parent
PHOTOS = REPO.parent / "shared" / "datasets" / "photos-1k"
WORK = Path(tempfile.gettempdir()) / "photocomic-bench-doors"


def cli(*args: str, data: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "photocomic.server.cli", *args, "--data-dir", str(data)],
        capture_output=True, text=True, check=True, timeout=1800,
    )  # fmt: skip


def photocomic_rss() -> float:
    """MB resident in every process running photocomic (doors, servers, the engine)."""
    total = 0
    for proc in psutil.process_iter(["cmdline", "memory_info"]):
        cmdline = " ".join(proc.info["cmdline"] or [])
        if "photocomic.server.cli" in cmdline and proc.info["memory_info"]:
            total += proc.info["memory_info"].rss
    return total / 1e6


async def two_servers_and_a_cli(root: Path, data: Path) -> dict[str, Any]:
    from mcp import Client
    from mcp.client.stdio import stdio_client

    params = door_params(root, data)
    peak = 0.0
    stop = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not stop.is_set():
            peak = max(peak, photocomic_rss())
            stop.wait(0.1)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    query = str(sorted(root.iterdir())[0])
    timings = []
    with open(os.devnull, "w") as errlog:
        async with (
            Client(stdio_client(params, errlog=errlog), read_timeout_seconds=300) as first,
            Client(stdio_client(params, errlog=errlog), read_timeout_seconds=300) as second,
        ):
            for client in (first, second):
                started = time.perf_counter()
                await client.call_tool("search_similar", {"image": query, "limit": 5})
                timings.append(time.perf_counter() - started)
            await anyio.to_thread.run_sync(lambda: cli("search", query, "--limit", "5", data=data))
            status = await second.call_tool("library_status", {})
            together = photocomic_rss()
    stop.set()
    sampler.join()
    return {
        "peak_rss_mb_all_photocomic": round(peak, 0),
        "rss_mb_all_open": round(together, 0),
        "first_search_seconds_per_server": [round(t, 2) for t in timings],
        "photos_seen_by_second_server": status.structured_content["photos"],
    }


def door_overhead(data: Path, queries: int = 200) -> dict[str, Any]:
    from photocomic.tools.config import Settings
    from photocomic.tools.find.contract import SimilarRequest
    from photocomic.tools.owner.client import Door
    from photocomic.tools.owner.contract import DoorInfo
    from photocomic.tools.owner.engine import Engine

    settings = Settings(data_dir=data)
    door = Door(settings)
    ids = [
        h.photo_id
        for h in door.call(SimilarRequest(images=[str(next(PHOTOS.iterdir()))], limit=100))
        .results[0]
        .hits
    ]

    def run(call: Any) -> list[float]:
        for n in range(5):
            call(ids[n])
        out = []
        for n in range(queries):
            started = time.perf_counter()
            call(ids[n % len(ids)])
            out.append(time.perf_counter() - started)
        return out

    through = run(lambda i: door.call(SimilarRequest(photo_ids=[i], limit=10)))
    cli("engine", "--stop", data=data)
    engine = Engine(data)  # the same dispatch, in this process: no socket, no door
    here = DoorInfo(door_id="bench", settings=settings.payload())
    body = {"limit": 10}
    try:
        direct = run(lambda i: engine.call(SimilarRequest.op, here, {**body, "photo_ids": [i]}))
    finally:
        engine.close()
    through_p, direct_p = percentiles(through), percentiles(direct)
    return {
        "through_a_door": through_p,
        "in_process": direct_p,
        "door_adds_p50_ms": round(through_p["p50_ms"] - direct_p["p50_ms"], 2),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--photos", type=Path, default=PHOTOS)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    sys.path.insert(0, str(REPO))
    data = WORK / "data"
    data.mkdir(parents=True, exist_ok=True)
    cli("index", str(args.photos), data=data)
    results: dict[str, Any] = {}
    results["memory"] = anyio.run(two_servers_and_a_cli, args.photos, data)
    results["tools_list_seconds"] = sorted(
        anyio.run(tools_list_seconds, args.photos, data)[0] for _ in range(3)
    )[1]
    results["search"] = door_overhead(data)
    print(json.dumps(results, indent=2))
    if args.out:
        args.out.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
