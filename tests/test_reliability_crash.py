"""kill -9 of ``photocomic index`` at many points of one library's indexing, then a clean finish.

A real child process indexes 120 real JPEG files into a real Milvus Lite store. It is killed
with SIGKILL at start-up, while the store is open and the model loads, just as the first rows
reach Milvus Lite's write-ahead log, at 50 % and 80 % of the library and after the last batch
(final upsert and flush), each time by watching its progress bar on a pseudo-terminal or the
store's files. With batches of 8 the indexer writes rows every 64 photos and at the end, so the
kills land at the same points of the work on a fast machine and a slow one. After every kill
both locks (photocomic's flock and Milvus Lite's own) must be free and the next run must open
the data again. The last run completes: every photo is in the store exactly once and search
finds a photo as its own nearest match.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from conftest import scene
from reliability_support import (
    WatchedRun,
    flock_is_free,
    lock_holder,
    run_json,
    store_contents,
)

PHOTOS = 120
FAKE_KEY = "sk-proj-RELIABILITY-0d1e2a3d4b5e6e7f-NEVER-SHOWN"
Condition = Callable[[], bool]


def small_library(folder: Path, count: int) -> list[Path]:
    folder.mkdir(parents=True)
    paths = []
    for n in range(count):
        sub = folder / f"roll{n % 4}"
        sub.mkdir(exist_ok=True)
        path = sub / f"img_{n:04d}.jpg"
        scene(5000 + n, (192, 144)).save(path, "JPEG", quality=88)
        paths.append(path)
    return paths


def test_kill_9_at_many_points_then_a_run_finishes_with_every_photo_once(
    tmp_path: Path, isolated_env: Path
) -> None:
    library = tmp_path / "library"
    photos = small_library(library, PHOTOS)
    data = isolated_env
    env = {**os.environ, "PHOTOCOMIC_BATCH_SIZE": "8", "OPENAI_API_KEY": FAKE_KEY}
    our_lock = data / "photos.db.lock"
    lite_lock = data / "photos.db" / "LOCK"
    wal = data / "photos.db" / "collections" / "photos" / "wal"

    def global_done(run: WatchedRun) -> int:
        """Photos embedded so far in the whole job: stored by earlier runs + done in this one."""
        if run.progress is None:
            return 0
        done, total = run.progress
        return PHOTOS - total + done

    def at_fraction(run: WatchedRun, fraction: float) -> Condition:
        return lambda: global_done(run) >= fraction * PHOTOS

    def wal_written(run: WatchedRun) -> Condition:
        return lambda: wal.is_dir() and any(f.stat().st_size > 0 for f in wal.iterdir())

    points: list[tuple[str, Callable[[WatchedRun], Condition]]] = [
        ("start-up (imports)", lambda run: lambda: True),
        (
            "store open, model loading",
            lambda run: lambda: f"pid {run.pid}:" in lock_holder(our_lock),
        ),
        ("first rows being written", wal_written),
        ("50 % embedded", lambda run: at_fraction(run, 0.5)),
        ("80 % embedded", lambda run: at_fraction(run, 0.8)),
        (
            "last batch embedded: final upsert and flush",
            lambda run: lambda: run.progress is not None and run.progress[0] >= run.progress[1],
        ),
    ]
    killed: list[str] = []
    outputs: list[str] = []
    stored_after: dict[str, int] = {}
    for name, make_condition in points:
        run = WatchedRun(["index", str(library), "--json"], env)
        reached = run.wait_for(make_condition(run), timeout=240)
        if reached and run.kill9():
            killed.append(name)
        else:  # the run ended before the point: it must have ended well
            assert run.finish() == 0, run.text()[-3000:]
        outputs.append(run.text())
        # The OS released both locks with the process; nothing stale blocks the next run.
        assert flock_is_free(our_lock), f"photocomic's lock still held after kill at {name}"
        assert flock_is_free(lite_lock), f"Milvus Lite's lock still held after kill at {name}"
        kept = store_contents(data)  # Milvus Lite opens again, with its log replayed
        assert kept.count == len(kept.paths) == len(set(kept.paths)), f"duplicates at {name}"
        # Rows a run wrote stay through every later kill: the count never goes down.
        assert kept.count >= max(stored_after.values(), default=0), f"rows lost at {name}"
        stored_after[name] = kept.count
    assert len(killed) >= 5, f"only {len(killed)} kills hit a running process: {killed}"
    assert max(stored_after.values()) > 0, f"no kill left any rows behind: {stored_after}"

    final = WatchedRun(["index", str(library), "--json"], env)
    assert final.finish() == 0, final.text()[-3000:]
    summary = final.summary()
    outputs += [final.text(), final.stdout.decode()]
    assert not [o for o in outputs if FAKE_KEY in o or "Traceback" in o]
    assert summary["failed"] == []
    assert summary["added"] + summary["updated"] + summary["unchanged"] == PHOTOS
    assert summary["unchanged"] >= max(stored_after.values())
    assert summary["removed"] == 0

    contents = store_contents(data)
    assert contents.count == PHOTOS
    assert len(contents.paths) == PHOTOS
    assert len(set(contents.paths)) == PHOTOS, "a path appears twice"
    assert len(set(contents.ids)) == PHOTOS
    assert set(contents.paths) == {str(p.resolve()) for p in photos}

    queries = [photos[0], photos[PHOTOS // 2], photos[-1]]
    status, results, err = run_json("search", *map(str, queries), "--limit", "3")
    assert status == 0, err
    assert isinstance(results, list)
    for query, result in zip(queries, results, strict=True):
        top = result["hits"][0]
        assert top["path"] == str(query.resolve())
        assert top["score"] >= 0.99
