"""How soon a new MCP server answers ``tools/list``, and how much of that is photocomic's own.

A desktop client launches its stdio server at start-up and waits for ``tools/list``. Most of
that wait is Python importing the ``mcp`` SDK; this splits the launch into: Python itself
(``python -c pass``), importing the SDK (``import mcp.server.mcpserver``, what any server on it
pays), importing photocomic's front door (the CLI and MCP modules, no torch), and the whole
launch until ``tools/list`` is answered through the real stdio client. photocomic's own part is
the launch minus Python and the SDK. Medians of ``--runs`` fresh processes each.

    python bench/startup.py [--runs 7] [--out results.json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from measure import tools_list_seconds

OWN_PART_TARGET = 0.35  # seconds: what photocomic adds on top of the SDK (about 0.3 s)


def process_seconds(code: str, runs: int) -> float:
    """Median wall time of ``python -c code`` in fresh processes."""
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run([sys.executable, "-c", code], check=True)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    python = process_seconds("pass", args.runs)
    sdk = process_seconds("import mcp.server.mcpserver", args.runs)
    doors = process_seconds("import photocomic.server.cli, photocomic.server.mcp_app", args.runs)
    with tempfile.TemporaryDirectory() as work:
        root = Path(work) / "photos"
        root.mkdir()
        data = Path(work) / "data"
        launches = [asyncio.run(tools_list_seconds(root, data)) for _ in range(args.runs)]
    launch = statistics.median(seconds for seconds, _ in launches)
    own = launch - sdk
    results = {
        "python_seconds": round(python, 3),
        "sdk_import_seconds": round(sdk - python, 3),
        "door_import_seconds": round(doors - python, 3),
        "tools_list_seconds": round(launch, 3),
        "photocomic_own_seconds": round(own, 3),
        "own_part_target_seconds": OWN_PART_TARGET,
        "tools": launches[0][1],
        "runs": args.runs,
    }
    print(json.dumps(results, indent=2))
    if args.out:
        args.out.write_text(json.dumps(results, indent=2) + "\n")
    print(
        f"tools/list after {launch:.2f} s: Python {python:.2f} s, the mcp SDK "
        f"{sdk - python:.2f} s, photocomic's own {own:.2f} s (target < {OWN_PART_TARGET} s)",
        file=sys.stderr,
    )
    return 0 if own < OWN_PART_TARGET else 1


if __name__ == "__main__":
    sys.exit(main())
