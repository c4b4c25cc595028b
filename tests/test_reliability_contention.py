"""Many processes, one library: every door works at once through the library's one owner,
nothing is indexed twice, and a store held by a program that is not photocomic is reported
with that program's pid at once (no hang, no corruption)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from conftest import write_photos
from reliability_support import (
    WatchedRun,
    cli_command,
    engine_pid,
    flock_is_free,
    store_contents,
)

BUSY_WITHIN_SECONDS = 60  # start-up of a Python process on a loaded CI machine, not a wait


def contend(*args: str) -> tuple[subprocess.Popen[str], float]:
    return (
        subprocess.Popen(
            cli_command(*args),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        ),
        time.monotonic(),
    )


def test_doors_started_together_share_one_owner_and_index_each_photo_once(
    tmp_path: Path, isolated_env: Path
) -> None:
    """Two `photocomic index` of one folder at the same moment, and other commands meanwhile:
    one engine starts (the racing one leaves), the second index joins the first's run, the
    others answer while it works, and the store holds each photo exactly once."""
    library = tmp_path / "library"
    photos = write_photos(library, 200, start=900, size=(320, 240))
    env = {**os.environ, "PHOTOCOMIC_BATCH_SIZE": "4", "PHOTOCOMIC_WORKERS": "1"}

    racers = [contend("status", "--json"), contend("status", "--json")]  # two engines race
    first = WatchedRun(["index", str(library), "--json"], env)
    assert first.wait_for(lambda: first.progress is not None, timeout=240), first.text()[-3000:]
    second = WatchedRun(["index", str(library), "--json"], env)  # while the run is under way
    owner = engine_pid(isolated_env)
    assert owner is not None and owner not in (first.pid, second.pid)
    for proc, _ in racers:
        assert proc.wait(timeout=120) == 0

    contenders = [
        contend("status", "--json"),
        contend("search", str(photos[0]), "--json"),
        contend("index", str(library), "--json"),
    ]
    for proc, _ in contenders:
        out, err = proc.communicate(timeout=BUSY_WITHIN_SECONDS * 5)
        assert proc.returncode == 0, err
        assert "Traceback" not in err
        assert out.strip().startswith(("{", "["))
    assert first.finish(timeout=300) == 0, first.text()[-3000:]
    assert second.finish(timeout=300) == 0, second.text()[-3000:]
    summaries = [first.summary(), second.summary()]
    # Both report the one run they shared: every photo added once, by one run.
    assert [s["added"] for s in summaries] == [len(photos), len(photos)]
    assert "joining the run" in second.text()
    assert engine_pid(isolated_env) == owner, "one owner for all of them"

    contents = store_contents(isolated_env)
    assert contents.count == len(photos) == len(set(contents.paths))
    assert flock_is_free(isolated_env / "photos.db.lock")


FOREIGN_HOLDER = """
import sys, time
from pymilvus import MilvusClient
client = MilvusClient(sys.argv[1])
print("holding", flush=True)
time.sleep(120)
"""


def test_a_store_held_by_another_program_is_reported_with_its_pid(
    tmp_path: Path, isolated_env: Path
) -> None:
    """Milvus Lite's own lock held by a program that is not photocomic (a notebook, a script)."""
    db = isolated_env / "photos.db"
    isolated_env.mkdir(parents=True, exist_ok=True)
    foreign = subprocess.Popen(
        [sys.executable, "-c", FOREIGN_HOLDER, str(db)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert foreign.stdout is not None
        assert foreign.stdout.readline().strip() == "holding"
        started = time.monotonic()
        done = subprocess.run(
            cli_command("status", "--json"), capture_output=True, text=True, timeout=180
        )
        assert time.monotonic() - started < BUSY_WITHIN_SECONDS
        assert done.returncode == 1
        lines = done.stderr.strip().splitlines()
        assert len(lines) == 1, done.stderr
        assert "in use by another process" in lines[0]
        assert f"pid {foreign.pid}" in lines[0]
        assert "Traceback" not in done.stderr
    finally:
        foreign.kill()
        foreign.wait()
    # Once that program is gone, the store opens normally.
    done = subprocess.run(cli_command("status", "--json"), capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
