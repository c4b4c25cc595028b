"""Two processes, one Milvus Lite store: the second gets a clear error naming the holder at
once (no hang, no corruption), whether the holder is photocomic or any other program."""

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
    flock_is_free,
    lock_holder,
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


def test_second_process_is_refused_naming_the_holder_and_the_first_finishes_intact(
    tmp_path: Path, isolated_env: Path
) -> None:
    library = tmp_path / "library"
    photos = write_photos(library, 40, start=900)
    env = {**os.environ, "PHOTOCOMIC_BATCH_SIZE": "4"}
    lock = isolated_env / "photos.db.lock"

    # Two indexers started at the same moment: exactly one may hold the store at a time.
    first = WatchedRun(["index", str(library), "--json"], env)
    second = WatchedRun(["index", str(library), "--json"], env)
    runs = {first.pid: first, second.pid: second}

    def holder_pid() -> int | None:
        text = lock_holder(lock)
        for pid in runs:
            if text.startswith(f"pid {pid}:"):
                return pid
        return None

    deadline = time.monotonic() + 240
    while holder_pid() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    holder = runs[holder_pid() or 0]
    other = second if holder is first else first

    # While it works, every other command is turned away quickly, naming the holder.
    contenders = [
        contend("status", "--json"),
        contend("search", str(photos[0]), "--json"),
        contend("index", str(library), "--json"),
    ]
    assert holder.alive(), "the holder finished before the contenders started"
    for proc, started in contenders:
        out, err = proc.communicate(timeout=BUSY_WITHIN_SECONDS * 3)
        elapsed = time.monotonic() - started
        assert proc.returncode == 1, (out, err)
        assert elapsed < BUSY_WITHIN_SECONDS
        lines = err.strip().splitlines()
        assert len(lines) == 1, err
        assert "is in use by another photocomic process" in lines[0]
        assert f"pid {holder.pid}:" in lines[0]
        assert "index" in lines[0]
        assert out == ""

    assert holder.finish(timeout=300) == 0, holder.text()[-3000:]
    other_status = other.finish(timeout=300)
    if other_status == 1:
        assert f"pid {holder.pid}:" in other.text()
    else:  # it only reached the store after the holder was done: then it found nothing to do
        assert other_status == 0, other.text()[-3000:]
        assert other.summary()["unchanged"] == len(photos)
    assert holder.summary()["added"] == len(photos)
    assert flock_is_free(lock)

    contents = store_contents(isolated_env)
    assert contents.count == len(photos) == len(set(contents.paths))


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
