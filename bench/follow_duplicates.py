"""find_duplicates through a real MCP client, called as an assistant calls it, on a library
already indexed (``bench/scale.py``'s 100,000 rows: ``--data-dir WORK/lite-100000 --root
WORK/files-100000``): each call's seconds and state until the groups come, the progress
notifications heard and the answer's size. Claude Desktop gives up on a call after about 60 s
and refuses a result over 1 MiB. The library's engine is stopped first, so the check is made
afresh, not answered from a kept report.

    python bench/follow_duplicates.py --data-dir DIR --root FOLDER [--wait-seconds 40]
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path
from typing import Any

import anyio
from measure import door_params
from run import stop_engine


async def follow(root: Path, data: Path, wait: float | None) -> dict[str, Any]:
    from mcp import Client
    from mcp.client.stdio import stdio_client

    heard: list[tuple[float, float, str | None]] = []
    started = time.perf_counter()

    async def on_progress(done: float, total: float | None, message: str | None) -> None:
        heard.append((round(time.perf_counter() - started, 1), done, message))

    calls = []
    arguments = {} if wait is None else {"wait_seconds": wait}
    with open(os.devnull, "w") as errlog:
        transport = stdio_client(door_params(root, data), errlog=errlog)
        async with Client(transport, read_timeout_seconds=300) as client:
            while True:
                asked = time.perf_counter()
                answer = await client.call_tool(
                    "find_duplicates", arguments, progress_callback=on_progress
                )
                found = answer.structured_content or {}
                size = len(json.dumps(found)) + sum(
                    len(getattr(block, "text", "")) for block in answer.content
                )
                calls.append({
                    "seconds": round(time.perf_counter() - asked, 1), "state": found.get("state"),
                    "progress": found.get("progress"), "stage": found.get("stage"),
                    "groups": found.get("total_groups"), "answer_bytes": size,
                })  # fmt: skip
                if answer.is_error or found.get("state") != "running":
                    break
    return {
        "calls": calls,
        "until_groups_seconds": round(time.perf_counter() - started, 1),
        "progress_notifications": len(heard),
        "first_and_last_heard": heard[:1] + heard[-1:],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--root", type=Path, required=True)
    parser.add_argument("--wait-seconds", type=float, default=None, help="default: the tool's")
    args = parser.parse_args()
    stop_engine(args.data_dir)
    try:
        found = anyio.run(follow, args.root, args.data_dir, args.wait_seconds)
    finally:
        stop_engine(args.data_dir)
    print(json.dumps(found, indent=2))


if __name__ == "__main__":
    main()
