"""Moving a library to another store (Milvus Lite to a server, one server to another) without
embedding anything again.

Rows are copied as they are, vectors and all, a page of ids at a time; photo ids are hashes of
the paths, so comics and subjects that name photos by id stay valid. A run that is interrupted
resumes from the last page it finished (a checkpoint in the data folder); pages are upserts, so
copying one twice changes nothing. The target must be empty or built with the same model, and
the count is checked at the end.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from photocomic.tools.errors import Cancelled, ModelMismatch, PhotocomicError
from photocomic.tools.owner.contract import MigrationSummary
from photocomic.tools.store.photo_store import PhotoStore
from photocomic.tools.store.rows import ID_MASK, SCALAR_FIELDS

if TYPE_CHECKING:
    from photocomic.tools.owner.jobs import Job
    from photocomic.tools.owner.library import Library

log = logging.getLogger(__name__)
PAGE = 2000

ProgressFn = Callable[[int, int], None]


def checkpoint_file(data_dir: Path, source: PhotoStore, target: PhotoStore) -> Path:
    key = f"{source.uri}#{source.collection}->{target.uri}#{target.collection}"
    return data_dir / "migrations" / (hashlib.sha1(key.encode()).hexdigest()[:16] + ".json")


def migrate(
    source: PhotoStore,
    target: PhotoStore,
    data_dir: Path,
    progress: ProgressFn | None = None,
    cancel: threading.Event | None = None,
) -> tuple[int, bool]:
    """Copy every photo row of ``source`` into ``target``: (rows copied now, resumed?)."""
    info = source.require()
    if (source.uri, source.collection) == (target.uri, target.collection):
        raise PhotocomicError("the target is the store itself: give another --to or --collection")
    have = target.model_info()
    if have is None:
        target.create(target.collection, info.model, info.dim, info.precision)
    elif (have.model, have.dim) != (info.model, info.dim):
        raise ModelMismatch(
            f"the target {target.uri} (collection {target.collection}) was built with "
            f"{have.model} ({have.dim}-d), this library with {info.model} ({info.dim}-d): "
            "choose another --collection for it"
        )
    target.require()
    total = source.count()
    pages = max(1, -(-total // PAGE))
    step = -(-(ID_MASK + 1) // pages)
    marker = checkpoint_file(data_dir, source, target)
    first = _resume_from(marker, step)
    copied, done = 0, min(total, first * PAGE)
    fields = [*SCALAR_FIELDS, "vector"]
    for number, start in enumerate(range(0, ID_MASK + 1, step)):
        if number < first:
            continue
        if cancel is not None and cancel.is_set():
            raise Cancelled()
        page = source.id_range(start, start + step, fields)
        target.upsert_entities(page)
        copied += len(page)
        done = min(total, done + len(page))
        _save(marker, step, number + 1)
        if progress is not None:
            progress(done, total)
    target.flush()
    _check_count(source, target, total)
    marker.unlink(missing_ok=True)
    return copied, first > 0


def _check_count(source: PhotoStore, target: PhotoStore, total: int) -> None:
    ids_source = source.count()
    landed = target.count()
    if landed < ids_source:
        raise PhotocomicError(
            f"the target {target.uri} holds {landed:,} photos after the copy, the source "
            f"{ids_source:,}: run migrate again (it resumes and copies what is missing)"
        )
    if ids_source != total:
        log.warning("the source changed during the copy (%d -> %d rows)", total, ids_source)


def _resume_from(marker: Path, step: int) -> int:
    """Pages a previous, interrupted run finished (0 when there was none or it differs)."""
    try:
        saved = json.loads(marker.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return 0
    return int(saved.get("pages_done", 0)) if saved.get("step") == step else 0


def _save(marker: Path, step: int, pages_done: int) -> None:
    marker.parent.mkdir(parents=True, exist_ok=True)
    temporary = marker.with_suffix(".tmp")
    temporary.write_text(json.dumps({"step": step, "pages_done": pages_done}), encoding="utf-8")
    os.replace(temporary, marker)


def move_library(source: Library, target: Library, data_dir: Path, job: Job) -> MigrationSummary:
    """The migrate job: photos page by page, then the subjects, then the summary."""
    started = time.monotonic()
    with target.writing:
        copied, resumed = migrate(source.store, target.store, data_dir, job.progress, job.cancel)
        subjects = copy_subjects(source, target)
    return MigrationSummary(
        source=source.store.uri,
        target=target.store.uri,
        collection=target.store.collection,
        photos=target.store.count(),
        copied=copied,
        subjects=subjects,
        resumed=resumed,
        seconds=round(time.monotonic() - started, 3),
    )


def copy_subjects(source: Library, target: Library) -> int:
    """The named subjects go with the photos they were learned from (the same ids)."""
    return source.subjects.kept.copy_to(target.subjects.kept)
