"""What the duplicate check needs of each photo, kept beside the store as indexing writes it.

Listing 20,000 rows out of Milvus Lite takes seconds (about 80 µs a row for the ids alone, and
the vectors cost as much again), so ``find_duplicates`` reads its rows here: per photo id the
file's size and mtime when it was embedded (a signature counts only while they match the
store's), its pixel size, its embedding and its pixel signature. It is a cache: a row missing
or stale here is read from Milvus and its file decoded once, then saved. One SQLite file per
collection, owner-only; its model is recorded, and a collection built with another model
starts it afresh.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import logging
import os
import sqlite3
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
from photocomic.tools.config import Settings
from photocomic.tools.store.change_count import ChangeCount

log = logging.getLogger(__name__)
_CHUNK = 900  # ids per SELECT (SQLite's limit on bound parameters is 999 on old builds)


_Method = TypeVar("_Method", bound=Callable[..., Any])


def _cache_use(method: _Method) -> _Method:
    """A cache that fails makes a slower duplicate check, never a failed index run: the
    failure is logged and the call answers as if the cache were empty."""

    @functools.wraps(method)
    def guarded(self: Signatures, *args: Any) -> Any:
        try:
            return method(self, *args)
        except (sqlite3.Error, OSError) as exc:
            log.warning("signatures in %s: %s: %s", self.file, method.__name__, exc)
            return {} if method.__name__ in ("read", "thumbs", "signed") else None

    return guarded  # type: ignore[return-value]


@dataclass(frozen=True)
class Signature:
    """One photo as the duplicate check sees it."""

    photo_id: int
    size: int
    mtime: float
    width: int
    height: int
    vector: np.ndarray  # float32, exactly as stored in Milvus
    thumb: np.ndarray | None = None  # uint8 greyscale, see photos.pixel_signature


class Signatures:
    """The SQLite file of signatures of one collection."""

    def __init__(self, settings: Settings) -> None:
        if settings.is_local_db:
            self.file = Path(f"{settings.db_uri}.{settings.collection}.signatures.sqlite")
        else:  # a server's collection: kept in this data folder, one file per server and name
            key = hashlib.sha1(settings.library_key.encode()).hexdigest()[:12]
            self.file = settings.data_dir / f"signatures-{key}.sqlite"
        self._lock = threading.Lock()
        self.changes = ChangeCount()  # steps after every write and removal

    @contextlib.contextmanager
    def _db(self) -> Iterator[sqlite3.Connection]:
        """A connection of its own per use: the engine writes from an index run's thread while
        another thread reads."""
        with self._lock:
            if not self.file.exists():
                self.file.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
                os.close(os.open(self.file, os.O_WRONLY | os.O_CREAT, 0o600))
            db = sqlite3.connect(self.file, timeout=30)
            try:
                db.execute("PRAGMA synchronous=OFF")  # a cache: a lost write is read again
                db.execute(
                    "CREATE TABLE IF NOT EXISTS signature (id INTEGER PRIMARY KEY, size INTEGER,"
                    " mtime REAL, width INTEGER, height INTEGER, dim INTEGER, vector BLOB,"
                    " thumb_height INTEGER, thumb_width INTEGER, thumb BLOB)"
                )
                db.execute("CREATE TABLE IF NOT EXISTS about (key TEXT PRIMARY KEY, value TEXT)")
                with db:
                    yield db
            finally:
                db.close()

    @_cache_use
    def belong_to(self, model: str) -> None:
        """Start afresh when the signatures were made for another model's collection."""
        with self._db() as db:
            row = db.execute("SELECT value FROM about WHERE key='model'").fetchone()
            cleared = row is None or row[0] != model
            if cleared:
                db.execute("DELETE FROM signature")
                db.execute("INSERT OR REPLACE INTO about VALUES ('model', ?)", (model,))
        if cleared:
            self.changes.step()

    @_cache_use
    def write(self, signatures: Iterable[Signature]) -> None:
        rows = [
            (s.photo_id, s.size, s.mtime, s.width, s.height, len(s.vector),
             np.ascontiguousarray(s.vector, dtype=np.float32).tobytes(),
             s.thumb.shape[0], s.thumb.shape[1], np.ascontiguousarray(s.thumb).tobytes())
            for s in signatures
            if s.thumb is not None
        ]  # fmt: skip
        if rows:
            with self._db() as db:
                db.executemany(
                    "INSERT OR REPLACE INTO signature VALUES (?,?,?,?,?,?,?,?,?,?)", rows
                )
            self.changes.step()

    @_cache_use
    def drop(self, photo_ids: Sequence[int]) -> None:
        with self._db() as db:
            for start in range(0, len(photo_ids), _CHUNK):
                chunk = list(photo_ids[start : start + _CHUNK])
                db.execute(
                    f"DELETE FROM signature WHERE id IN ({','.join('?' * len(chunk))})", chunk
                )
        self.changes.step()

    @_cache_use
    def clear(self) -> None:
        with self._db() as db:
            db.execute("DELETE FROM signature")
        self.changes.step()

    @_cache_use
    def signed(self) -> dict[int, tuple[int, float]]:
        """Every photo id with a signature, and the file's size and mtime it was made for."""
        with self._db() as db:
            return {pid: (size, mtime) for pid, size, mtime in db.execute(
                "SELECT id, size, mtime FROM signature"
            )}  # fmt: skip

    @_cache_use
    def read(self, photo_ids: Sequence[int]) -> dict[int, Signature]:
        """The signatures of those ids that have one, without their thumbnails (see
        :meth:`thumbs`); unchecked: compare size and mtime with the store's."""
        found: dict[int, Signature] = {}
        for rows in self._select("id, size, mtime, width, height, dim, vector", photo_ids):
            for pid, size, mtime, width, height, dim, vector in rows:
                found[pid] = Signature(
                    pid, size, mtime, width, height,
                    np.frombuffer(vector, dtype=np.float32, count=dim),
                )  # fmt: skip
        return found

    @_cache_use
    def thumbs(self, photo_ids: Sequence[int]) -> dict[int, np.ndarray]:
        """The pixel signatures of those ids that have one (uint8)."""
        found: dict[int, np.ndarray] = {}
        for rows in self._select("id, thumb_height, thumb_width, thumb", photo_ids):
            for pid, height, width, thumb in rows:
                found[pid] = np.frombuffer(thumb, dtype=np.uint8).reshape(height, width)
        return found

    def _select(self, columns: str, photo_ids: Sequence[int]) -> Iterator[list[tuple[Any, ...]]]:
        with self._db() as db:
            for start in range(0, len(photo_ids), _CHUNK):
                chunk = list(photo_ids[start : start + _CHUNK])
                marks = ",".join("?" * len(chunk))
                yield db.execute(
                    f"SELECT {columns} FROM signature WHERE id IN ({marks})", chunk
                ).fetchall()
