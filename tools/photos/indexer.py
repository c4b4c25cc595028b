"""Indexing folders: scan, compare with the store, decode in threads, embed in batches, upsert.

The store is the only record of progress: a row is written only with its vector, keyed by its
path, so a run killed at any moment is finished by the next run with nothing duplicated, and
files whose size and mtime did not change are never decoded again.
"""

from __future__ import annotations

import os
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from photocomic.tools.allocator import give_back, keep_picture_buffers
from photocomic.tools.errors import Cancelled, ConfigError, DecodeError, ModelMismatch, PathRefused
from photocomic.tools.folders import FileEntry, Scan, display_path, real_folder, scan_folder
from photocomic.tools.photos.contract import FailedFile, IndexSummary
from photocomic.tools.photos.cpu import available_cpus
from photocomic.tools.photos.images import open_photo
from photocomic.tools.photos.pixel_signature import pixel_signature
from photocomic.tools.photos.precision import check_mix
from photocomic.tools.photos.signing import sign_unchanged
from photocomic.tools.photos.tagging import Tagger
from photocomic.tools.store.photo_store import PhotoStore
from photocomic.tools.store.rows import PhotoRow, photo_id_for

if TYPE_CHECKING:
    from photocomic.tools.photos.embedding import PhotoEmbedder

ProgressFn = Callable[[int, int], None]
# Embedded rows are written every this many batches (256 rows at the default batch of 32) and
# at least every UPSERT_SECONDS, so a killed run loses at most a few seconds of work on a slow
# CPU (upserting 32 rows into Milvus Lite takes ~20 ms). Counting in batches, not only in
# seconds, keeps the write points the same on a fast machine and a slow one.
UPSERT_BATCHES = 8
UPSERT_SECONDS = 2.0
# On a CPU each worker embeds this many photos per forward pass: bigger batches were slower
# per photo (EfficientNet-Lite0 on 2 cores, CPU ms per photo: batch 1: 18, 4: 16, 32: 30).
CPU_BATCH = 4
# A run of at least this many photos first traces and freezes the model: 1.2 s (Lite0) to 3 s
# (resnet50) once, then 12-14% less CPU per photo with Lite0 (about 7% with resnet50), so
# it pays only on long runs; at 300 photos it was a draw.
TRACE_MIN_PHOTOS = 500


@dataclass(frozen=True)
class _Prepared:
    """A decoded photo: its model-sized pixels, or (embedded in a worker) its vector and tags."""

    entry: FileEntry
    pixels: np.ndarray | None
    width: int
    height: int
    taken_at: int
    thumb: np.ndarray  # the pixel signature the duplicate check compares
    vector: np.ndarray | None = None
    tags: Tagger.Tags | None = None


class Indexer:
    """Indexes folders into a store with one embedder; reusable across runs (the MCP server)."""

    def __init__(
        self,
        store: PhotoStore,
        embedder: Callable[[], PhotoEmbedder],
        model_name: str,
        batch_size: int = 32,
        workers: int = 0,
        include_hidden: bool = False,
        roots: Sequence[Path] | None = None,
    ) -> None:
        self.store = store
        self._embedder = embedder
        self.model_name = model_name
        self.batch_size = batch_size
        self.workers = workers  # 0: one per CPU (a GPU: up to 4 decode threads)
        self.include_hidden = include_hidden
        self.roots = roots
        keep_picture_buffers()  # indexing frees photo-sized buffers by the thousand

    def index(
        self,
        folders: Sequence[str | Path],
        recursive: bool = True,
        progress: ProgressFn | None = None,
        cancel: threading.Event | None = None,
    ) -> IndexSummary:
        started = time.perf_counter()
        summary = IndexSummary()
        check_model(self.store, self.model_name)
        for raw in folders:
            folder = real_folder(raw)
            scan = scan_folder(folder, recursive, self.include_hidden, self.roots)
            summary.scanned += len(scan.files) + len(scan.problems)
            summary.failed.extend(
                FailedFile(path=display_path(p.path), error=p.error) for p in scan.problems
            )
            known = self.store.file_states(str(folder)) if self.store.exists() else {}
            todo = self._diff(scan.files, known, summary)
            summary.removed += self._remove_gone(folder, recursive, scan, known)
            self._embed_all(todo, known, summary, progress, cancel)
            waiting = {e.path for e in todo}
            unchanged = [(known[e.path][0], e) for e in scan.files if e.path not in waiting]
            sign_unchanged(self.store, unchanged, self.roots, cancel)
        if summary.added or summary.updated or summary.removed:
            self.store.flush()
        summary.seconds = round(time.perf_counter() - started, 3)
        give_back()  # the run's freed buffers, back to the system
        return summary

    def index_files(self, paths: Sequence[str]) -> IndexSummary:
        """Single photos (resolved and allowed by the caller), embedded unless unchanged:
        an example given by path that was never indexed becomes part of the library."""
        summary = IndexSummary()
        check_model(self.store, self.model_name)
        entries = []
        for path in paths:
            st = os.stat(path)
            entries.append(FileEntry(path, st.st_size, st.st_mtime))
        ids = [photo_id_for(e.path) for e in entries]
        rows = self.store.get_some(ids) if ids and self.store.model_info() else {}
        known = {r.path: (r.photo_id, r.size, r.mtime) for r in rows.values()}
        summary.scanned = len(entries)
        todo = self._diff(entries, known, summary)
        self._embed_all(todo, known, summary, None, None)
        if summary.added or summary.updated:
            self.store.flush()
        return summary

    @staticmethod
    def _diff(
        files: list[FileEntry], known: dict[str, tuple[int, int, float]], summary: IndexSummary
    ) -> list[FileEntry]:
        todo = []
        for entry in files:
            state = known.get(entry.path)
            if state is not None and state[1] == entry.size and state[2] == entry.mtime:
                summary.unchanged += 1
            else:
                todo.append(entry)
        return todo

    def _remove_gone(
        self,
        folder: Path,
        recursive: bool,
        scan: Scan,
        known: dict[str, tuple[int, int, float]],
    ) -> int:
        """Delete rows of files that are gone; never those we merely failed to read this time."""
        present = {f.path for f in scan.files}
        problems = scan.problems
        unreadable = {p.path for p in problems}
        unreadable_dirs = tuple(p.path.rstrip(os.sep) + os.sep for p in problems)
        gone = []
        for path, (photo_id, _, _) in known.items():
            if path in present or path in unreadable or path.startswith(unreadable_dirs):
                continue
            if not recursive and os.path.dirname(path) != str(folder):
                continue
            if self.include_hidden is False and _has_hidden_part(path, folder):
                continue
            gone.append(photo_id)
        self.store.delete(gone)
        return len(gone)

    def _embed_all(
        self,
        todo: list[FileEntry],
        known: dict[str, tuple[int, int, float]],
        summary: IndexSummary,
        progress: ProgressFn | None,
        cancel: threading.Event | None,
    ) -> None:
        if not todo:
            if progress:
                progress(0, 0)
            return
        embedder, tagger = self._ready(len(todo))
        writer = _Writer(self.store, UPSERT_BATCHES * self.batch_size, known, summary)
        batch: list[_Prepared] = []

        def flush_batch() -> None:
            if batch:
                result = embedder.embed([p.pixels for p in batch if p.pixels is not None])
                tags = tagger.tags(result.class_probs, len(batch))
                for item, vector, tag in zip(batch, result.vectors, tags, strict=True):
                    writer.add(item, vector, tag)
                batch.clear()

        processed = 0
        decoder = _Decoder(embedder, tagger, self.roots)
        for entry, outcome in self._decoded(todo, decoder, cancel):
            processed += 1
            if isinstance(outcome, DecodeError):
                summary.failed.append(FailedFile(path=display_path(entry.path), error=str(outcome)))
            elif outcome.vector is not None and outcome.tags is not None:
                writer.add(outcome, outcome.vector, outcome.tags)
            else:
                batch.append(outcome)
                if len(batch) >= self.batch_size:
                    flush_batch()
            if processed % self.batch_size == 0:
                writer.write()
                if progress:
                    progress(processed, len(todo))
        flush_batch()
        writer.write(force=True)
        if progress:
            progress(processed, len(todo))

    def _ready(self, photos: int) -> tuple[PhotoEmbedder, Tagger]:
        """The model, checked against what the store holds, and its tagger."""
        embedder = self._embedder()
        info = self.store.model_info()
        problem = check_mix(info.precision if info else None, embedder.decision, embedder.name)
        if problem:
            raise ConfigError(problem)
        self.store.ensure_collection(embedder.name, embedder.dim, embedder.precision_record())
        if embedder.embeds_in_workers and photos >= TRACE_MIN_PHOTOS:
            embedder.speed_up()
        return embedder, Tagger.for_embedder(embedder)

    def _decoded(
        self, todo: list[FileEntry], decoder: _Decoder, cancel: threading.Event | None
    ) -> Iterator[tuple[FileEntry, _Prepared | DecodeError]]:
        """Decode and prepare in worker threads, in order, a bounded number ahead.

        On a CPU the workers embed too, a few photos at a time (see
        ``PhotoEmbedder.embeds_in_workers``); on a GPU the caller batches the prepared pixels.
        """
        inline = decoder.embedder.embeds_in_workers
        cpus = available_cpus()
        workers = self.workers or (cpus if inline else min(4, cpus))
        chunk = min(self.batch_size, CPU_BATCH) if inline else 1
        groups = (todo[i : i + chunk] for i in range(0, len(todo), chunk))
        ahead = max(self.batch_size * 2, workers * 4) // chunk + 1
        with (
            decoder.embedder.worker_threads() as init,
            ThreadPoolExecutor(
                workers, thread_name_prefix="index", initializer=init if inline else None
            ) as pool,
        ):
            queue: deque[tuple[list[FileEntry], Future[list[_Prepared | DecodeError]]]] = deque()
            for group in groups:
                queue.append((group, pool.submit(decoder, group)))
                if len(queue) >= ahead:
                    break
            while queue:
                if cancel is not None and cancel.is_set():
                    for _, future in queue:
                        future.cancel()
                    raise Cancelled()
                group, future = queue.popleft()
                nxt = next(groups, None)
                if nxt is not None:
                    queue.append((nxt, pool.submit(decoder, nxt)))
                yield from zip(group, future.result(), strict=True)


class _Writer:
    """Rows waiting to be upserted: written in batches, and at least every UPSERT_SECONDS."""

    def __init__(
        self,
        store: PhotoStore,
        most: int,
        known: dict[str, tuple[int, int, float]],
        summary: IndexSummary,
    ) -> None:
        self.store, self.most, self.known, self.summary = store, most, known, summary
        self.pending: list[PhotoRow] = []
        self.last_write = time.monotonic()

    def add(self, item: _Prepared, vector: np.ndarray, tags: Tagger.Tags) -> None:
        self.pending.append(_row(item, vector, tags))
        if item.entry.path in self.known:
            self.summary.updated += 1
        else:
            self.summary.added += 1

    def write(self, force: bool = False) -> None:
        late = self.pending and time.monotonic() - self.last_write >= UPSERT_SECONDS
        if len(self.pending) >= self.most or force or late:
            self.store.upsert(self.pending)
            self.pending.clear()
            self.last_write = time.monotonic()


class _Decoder:
    """Decodes a few files in a worker thread (and on a CPU embeds and tags them there)."""

    def __init__(
        self, embedder: PhotoEmbedder, tagger: Tagger, within: Sequence[Path] | None = None
    ) -> None:
        self.embedder, self.tagger, self.within = embedder, tagger, within

    def decode(self, entry: FileEntry) -> _Prepared | DecodeError:
        """The file the scan found, judged again as it is opened: one swapped for a link
        that leaves the roots since the scan is refused, not embedded."""
        try:
            photo = open_photo(entry.path, min_side=self.embedder.decode_side, within=self.within)
            pixels = self.embedder.prepare(photo.image)
            thumb = pixel_signature(photo.image)
        except DecodeError as exc:
            return exc
        except PathRefused:
            return DecodeError("now lies outside the allowed folders (replaced by a link?)")
        except Exception as exc:  # a decoder bug must not end the whole run
            return DecodeError(f"could not decode: {type(exc).__name__}: {exc}")
        taken = photo.taken_at if photo.taken_at is not None else int(entry.mtime)
        return _Prepared(entry, pixels, photo.width, photo.height, taken, thumb)

    def __call__(self, entries: list[FileEntry]) -> list[_Prepared | DecodeError]:
        out = [self.decode(entry) for entry in entries]
        ready = [p for p in out if isinstance(p, _Prepared) and p.pixels is not None]
        if self.embedder.embeds_in_workers and ready:
            result = self.embedder.embed([p.pixels for p in ready if p.pixels is not None])
            tags = self.tagger.tags(result.class_probs, len(ready))
            done = {
                id(p): replace(p, pixels=None, vector=v, tags=t)
                for p, v, t in zip(ready, result.vectors, tags, strict=True)
            }
            out = [done.get(id(p), p) for p in out]
        return out


def check_model(store: PhotoStore, model: str) -> None:
    """ModelMismatch when the store was built with another model than ``model``."""
    info = store.model_info()
    if info is not None and info.model != model:
        raise ModelMismatch(
            f"the store {store.uri} was built with model {info.model}; cannot index with "
            f"{model}. Use --model {info.model}, or a separate store for {model} "
            "(--db another.db or PHOTOCOMIC_COLLECTION)."
        )


def _has_hidden_part(path: str, folder: Path) -> bool:
    relative = os.path.relpath(path, folder)
    return any(part.startswith(".") for part in relative.split(os.sep))


def _row(item: _Prepared, vector: np.ndarray, tags: Tagger.Tags) -> PhotoRow:
    path = item.entry.path
    return PhotoRow(
        photo_id=photo_id_for(path),
        path=path,
        size=item.entry.size,
        mtime=item.entry.mtime,
        width=item.width,
        height=item.height,
        taken_at=item.taken_at,
        labels=tags.labels,
        label_scores=tags.label_scores,
        categories=tags.categories,
        category_scores=tags.category_scores,
        vector=vector,
        thumb=item.thumb,
    )
