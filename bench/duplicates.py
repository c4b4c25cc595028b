"""find_duplicates at scale: COPIES hard-linked copies of a folder of photos (20 copies of
photos-1k: 20,000 files), indexed once, then grouped; every photo's copies must make exactly
one group, and no group may mix two photos. Each run compares afresh (a new set of checks, no
report kept); the same question asked once more after them is timed apart (the kept report).

    python bench/duplicates.py --photos ../shared/datasets/photos-1k --copies 20 --work DIR
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import platform
import statistics
import time
from pathlib import Path

from photocomic.tools.config import Settings
from photocomic.tools.find.duplicate_checks import DuplicateChecks
from photocomic.tools.owner.library import Library
from photocomic.tools.policy import Scope


def cpu() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def copies_of(photos: Path, copies: int, work: Path) -> Path:
    """The folder of copies (hard links: no disk space), made once."""
    root = work / "photos"
    for n in range(1, copies + 1):
        folder = root / f"copy{n:02d}"
        if folder.is_dir():
            continue
        folder.mkdir(parents=True)
        for photo in photos.iterdir():
            if photo.is_file():
                os.link(photo, folder / photo.name)
    return root


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--photos", type=Path, required=True)
    parser.add_argument("--copies", type=int, default=20)
    parser.add_argument("--work", type=Path, required=True)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    root = copies_of(args.photos, args.copies, args.work)
    with Library(Settings(data_dir=args.work / "data")) as library:
        started = time.perf_counter()
        summary = library.index(Scope.of([str(root)]), root)
        indexed = time.perf_counter() - started
        seconds, report = [], None
        for _ in range(args.runs):  # each run compares afresh: no report kept from the last
            library.searcher.duplicate_checks = DuplicateChecks(library.store)
            started = time.perf_counter()
            report = library.searcher.duplicates()
            seconds.append(time.perf_counter() - started)
        started = time.perf_counter()
        library.searcher.duplicates()  # the same question again: the kept report
        again = time.perf_counter() - started
    assert report is not None
    sizes = collections.Counter(len(g.photos) for g in report.groups)
    mixed = sum(len({Path(p.path).name for p in g.photos}) > 1 for g in report.groups)
    print(json.dumps({
        "cpu": cpu(), "files": report.checked, "indexed_seconds": round(indexed, 1),
        "added": summary.added, "groups": len(report.groups),
        "group_sizes": dict(sizes), "groups_mixing_photos": mixed,
        "duplicates_seconds_median": round(statistics.median(seconds), 1),
        "duplicates_seconds_runs": [round(s, 1) for s in seconds],
        "asked_again_seconds": round(again, 3),
    }, indent=2))  # fmt: skip


if __name__ == "__main__":
    main()
