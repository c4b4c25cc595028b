"""kill -9 of the library's owner at many points of one indexing run, while a door follows it.

A real `photocomic index` (the door) indexes 240 real JPEG files into a real Milvus Lite store
through the engine that owns the data folder. The engine is killed with SIGKILL as it starts,
while the store opens and the model loads, just as the first rows reach Milvus Lite's
write-ahead log, at 50 % and 80 % of the library and after the last batch (final upsert and
flush), each point found by watching the door's progress bar on a pseudo-terminal or the
store's files. With batches of 8 the indexer writes rows every 64 photos and at the end, so the
kills land at the same points of the work on a fast machine and a slow one. After every kill
the door's next call starts a new engine, which takes the locks a dead one left (nobody deletes
anything) and resumes the run under the same job. The door finishes with every photo stored
exactly once, and search finds a photo as its own nearest match.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable
from pathlib import Path

from conftest import scene
from reliability_support import (
    WatchedRun,
    engine_pid,
    flock_is_free,
    run_json,
    store_contents,
)

PHOTOS = 240
FAKE_KEY = "sk-proj-RELIABILITY-0d1e2a3d4b5e6e7f-NEVER-SHOWN"
Condition = Callable[[], bool]


def small_library(folder: Path, count: int) -> list[Path]:
    folder.mkdir(parents=True)
    paths = []
    for n in range(count):
        sub = folder / f"roll{n % 4}"
        sub.mkdir(exist_ok=True)
        path = sub / f"img_{n:04d}.jpg"
        scene(5000 + n, (480, 360)).save(path, "JPEG", quality=88)
        paths.append(path)
    return paths


def kill_engine(data: Path, pid: int) -> bool:
    """SIGKILL, then wait until the dead engine's lock is free or taken by the next one (the
    door, not this test, is its parent: it may stay a zombie for a while)."""
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        return False
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and engine_pid(data) == pid:
        time.sleep(0.01)
    return True


def test_owner_killed_at_many_points_the_door_finishes_the_run_with_every_photo_once(
    tmp_path: Path, isolated_env: Path
) -> None:
    library = tmp_path / "library"
    photos = small_library(library, PHOTOS)
    data = isolated_env
    env = {
        **os.environ, "PHOTOCOMIC_BATCH_SIZE": "8", "PHOTOCOMIC_WORKERS": "1",
        "OPENAI_API_KEY": FAKE_KEY,
    }  # fmt: skip
    wal = data / "photos.db" / "collections" / "photos" / "wal"
    run = WatchedRun(["index", str(library), "--json"], env)
    killed: list[tuple[str, int]] = []

    def owner() -> int | None:
        pid = engine_pid(data)
        return pid if pid is not None and pid not in [p for _, p in killed] else None

    def global_done() -> int:
        if run.progress is None:
            return 0
        done, total = run.progress
        return PHOTOS - total + done

    points: list[tuple[str, Condition]] = [
        ("start-up (before it serves)", lambda: owner() is not None),
        ("store open, model loading", lambda: owner() is not None and run.progress is None
         and (data / "photos.db").exists()),
        ("first rows being written",
         lambda: owner() is not None and wal.is_dir()
         and any(f.stat().st_size > 0 for f in wal.iterdir())),
        ("50 % embedded", lambda: owner() is not None and global_done() >= 0.5 * PHOTOS),
        ("80 % embedded", lambda: owner() is not None and global_done() >= 0.8 * PHOTOS),
        ("last batch embedded: final upsert and flush",
         lambda: owner() is not None and run.progress is not None
         and run.progress[0] >= run.progress[1]),
    ]  # fmt: skip
    for name, condition in points:
        if not run.wait_for(condition, timeout=240):
            break  # the run finished before this point
        pid = owner()
        if pid is not None and kill_engine(data, pid):
            killed.append((name, pid))
            run.progress = None  # the next engine's run draws its own bar
    assert run.finish(timeout=600) == 0, run.text()[-3000:]
    assert len(killed) >= 5, f"only {len(killed)} kills hit a running engine: {killed}"
    summary = run.summary()
    assert summary["failed"] == []
    assert summary["added"] + summary["updated"] + summary["unchanged"] == PHOTOS
    assert summary["removed"] == 0
    assert FAKE_KEY not in run.text() and "Traceback" not in run.text()
    # The dead engines' locks were taken over by the next one without anybody's help.
    assert engine_pid(data) not in [p for _, p in killed]

    status, results, err = run_json("search", str(photos[0]), str(photos[-1]), "--limit", "3")
    assert status == 0, err
    assert isinstance(results, list)
    for query, result in zip((photos[0], photos[-1]), results, strict=True):
        top = result["hits"][0]
        assert top["path"] == str(query.resolve()) and top["score"] >= 0.99

    contents = store_contents(data)  # the engine is asked to leave; the test opens the store
    assert contents.count == PHOTOS
    assert len(contents.paths) == len(set(contents.paths)) == PHOTOS, "a path appears twice"
    assert len(set(contents.ids)) == PHOTOS
    assert set(contents.paths) == {str(p.resolve()) for p in photos}
    assert flock_is_free(data / "photos.db.lock") and flock_is_free(data / "engine.lock")
    log = (data / "engine.log").read_text()
    assert FAKE_KEY not in log
    assert log.count("resuming index job") >= 3, "the run was resumed by the next engines"
