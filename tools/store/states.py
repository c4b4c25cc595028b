"""Every indexed file's size and mtime, kept beside a local store for a quick re-scan.

A re-scan must know every indexed file's size and mtime. Asking Milvus Lite costs a collection
load plus a query that materialises whole rows: about 4 s for 10,000 photos. So a local store
keeps them in a file beside it, valid only while the store's own files are exactly as they were
when it was written (names, sizes, mtimes, inodes): it is deleted before any write and written
again after a flush, and the store lock keeps other processes out meanwhile. Whenever in doubt,
Milvus answers. A store on a server has no such file: the server answers quickly.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from photocomic.tools.config import Settings
from photocomic.tools.store.change_count import ChangeCount
from photocomic.tools.store.schema import ModelInfo, StoreView

if TYPE_CHECKING:
    from photocomic.tools.store.photo_store import ModelInfo
    from photocomic.tools.store.rows import PhotoRow

log = logging.getLogger(__name__)
VERSION = 2
State = tuple[int, int, float]


class FileStates:
    """path -> (photo id, size, mtime) of the whole collection, in step with every write."""

    def __init__(self, store: StoreView, settings: Settings) -> None:
        self.store = store
        self.file = (
            Path(f"{settings.db_uri}.{settings.collection}.files.json")
            if settings.is_local_db
            else None
        )
        self._states: dict[str, State] | None = None
        self._info: ModelInfo | None = None
        self._read = False
        self.changes = ChangeCount()  # steps before and after every write of rows

    def model(self) -> ModelInfo | None:
        """The collection's model as saved with valid states (no Milvus call), else None."""
        self._load()
        return self._info if self._states is not None else None

    def start_empty(self, info: ModelInfo) -> None:
        if self.file is not None:
            self._states, self._info, self._read = {}, info, True

    @contextlib.contextmanager
    def changing(self) -> Iterator[None]:
        """Around every write of rows: the saved file no longer matches the store, and
        ``changes`` steps before and after (a kept duplicate report is then not used)."""
        self.changes.step()
        self.forget()
        try:
            yield
        finally:
            self.changes.step()

    def forget(self) -> None:
        """Before a write: the saved file no longer matches the store."""
        self._read = True
        if self.file is not None:
            with contextlib.suppress(FileNotFoundError):
                self.file.unlink()

    def record(self, rows: Sequence[PhotoRow]) -> None:
        if self._states is not None:
            for row in rows:
                self._states[row.path] = (row.photo_id, row.size, row.mtime)

    def drop(self, photo_ids: Sequence[int]) -> None:
        if self._states is not None:
            gone = set(photo_ids)
            self._states = {p: s for p, s in self._states.items() if s[0] not in gone}

    def under(self, prefix: str) -> dict[str, State] | None:
        """States of the files under ``prefix``; None for a store on a server."""
        if self.file is None:
            return None
        self._load()
        if self._states is None:
            self._build()
        assert self._states is not None
        return {p: s for p, s in self._states.items() if p.startswith(prefix)}

    def _build(self) -> None:
        """Read every row's state from Milvus once; kept in step and saved from then on."""
        from photocomic.tools.store.rows import entity_path

        everything: dict[str, State] = {}
        for entity in self.store.iter_entities(fields=["path", "raw_path", "size", "mtime"]):
            everything[entity_path(entity)] = (
                int(entity["id"]), int(entity["size"]), float(entity["mtime"])
            )  # fmt: skip
        self._states = everything
        self._info = self.store.model_info()
        self.save()

    def _load(self) -> None:
        if self._read or self.file is None:
            return
        self._read = True
        try:
            saved = json.loads(self.file.read_text(encoding="utf-8"))
            if (
                saved.get("version") == VERSION
                and saved.get("collection") == self.store.collection
                and saved.get("signature") == self._signature()
            ):
                self._info = ModelInfo(
                    str(saved["model"]), int(saved["dim"]), saved.get("precision")
                )
                self._states = {
                    p: (int(i), int(s), float(m)) for p, (i, s, m) in saved["files"].items()
                }
        except (OSError, ValueError, KeyError, TypeError):
            self._states, self._info = None, None

    def save(self) -> None:
        if self.file is None or self._states is None or self._info is None:
            return
        signature = self._signature()
        if signature is None:
            return
        saved: dict[str, Any] = {
            "version": VERSION,
            "collection": self.store.collection,
            "model": self._info.model,
            "dim": self._info.dim,
            "precision": self._info.precision,
            "signature": signature,
            "files": self._states,
        }
        temporary = self.file.with_suffix(".tmp")
        try:  # ensure_ascii: names that are not UTF-8 travel as \\udcXX escapes
            temporary.write_text(json.dumps(saved), encoding="utf-8")
            os.replace(temporary, self.file)
        except OSError as exc:
            log.debug("could not save file states: %s", exc)

    def _signature(self) -> str | None:
        root = Path(self.store.uri)
        parts = []
        try:
            for folder, _, names in os.walk(root):
                for name in names:
                    if name != "LOCK":
                        info = os.stat(os.path.join(folder, name))
                        where = os.path.relpath(os.path.join(folder, name), root)
                        parts.append(f"{where}|{info.st_size}|{info.st_mtime_ns}|{info.st_ino}")
        except OSError:
            return None
        return hashlib.sha1("\n".join(sorted(parts)).encode()).hexdigest() if parts else None
