"""The photos a duplicate check compares, with their embeddings and pixel signatures.

Read from the signatures indexing kept (``store.signatures``) for the photos the store's file
states list (a local store keeps them in step with every write), so 20,000 photos come out of
one SQLite read instead of seconds of Milvus Lite queries. A photo with no signature, or one
made for another version of its file, is read from Milvus; a store on a server, or filters that
are about more than folders, are listed by Milvus itself.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
from photocomic.tools.find.pixel_match import ThumbLoader
from photocomic.tools.folders import display_path
from photocomic.tools.store.rows import entity_path
from photocomic.tools.store.signatures import Signature

if TYPE_CHECKING:
    from photocomic.tools.find.filters import SearchFilters
    from photocomic.tools.store.photo_store import PhotoStore

# Above this share of photos without a signature (a store indexed before they were kept),
# one pass over Milvus is quicker than asking for them by id.
MISSING_SHARE_FOR_SCAN = 0.25
_FIELDS = ["path", "raw_path", "width", "height", "size", "mtime"]


@dataclass
class Compared:
    """Rows (id, path as shown, file: the real path, width, height, size, mtime), their
    vectors in the same order, and which of them have a pixel signature kept for this version
    of their file (real path to photo id)."""

    rows: list[dict[str, Any]] = field(default_factory=list)
    vectors: list[np.ndarray] = field(default_factory=list)
    signed: dict[str, int] = field(default_factory=dict)

    def add(self, row: dict[str, Any], vector: np.ndarray, signed: bool) -> None:
        self.rows.append(row)
        self.vectors.append(vector)
        if signed:
            self.signed[row["file"]] = int(row["id"])

    def thumb_loader(self, store: PhotoStore) -> ThumbLoader:
        """Paths to their kept signatures, read when the pixel check needs them (all of them
        at once would be 7 KB a photo in memory)."""

        def load(paths: Sequence[str]) -> dict[str, np.ndarray]:
            ids = {self.signed[p]: p for p in paths if p in self.signed}
            return {ids[pid]: thumb for pid, thumb in store.signatures.thumbs(list(ids)).items()}

        return load

    def save_decoded(self, store: PhotoStore, decoded: dict[str, np.ndarray]) -> None:
        """Keep the signatures the check had to decode, so the next one need not."""
        where = {row["file"]: n for n, row in enumerate(self.rows)}
        signatures = []
        for path, thumb in decoded.items():
            if path in where:
                r, vector = self.rows[where[path]], self.vectors[where[path]]
                signature = Signature(
                    int(r["id"]), int(r["size"]), float(r["mtime"]), int(r["width"]),
                    int(r["height"]), vector, thumb,
                )  # fmt: skip
                signatures.append(signature)
        store.signatures.write(signatures)


def photos_compared(store: PhotoStore, filters: SearchFilters | None) -> Compared:
    """Every photo the filters let through, from the signatures where they are valid."""
    listed = _listed(store, filters)
    if listed is None:
        return _from_milvus(store, filters.expression() if filters else "")
    kept = store.signatures.read([pid for pid, *_ in listed])
    valid = {
        pid: kept[pid]
        for pid, _, size, mtime in listed
        if pid in kept and (kept[pid].size, kept[pid].mtime) == (size, mtime)
    }
    if len(listed) - len(valid) > MISSING_SHARE_FOR_SCAN * len(listed):
        return _from_milvus(store, filters.expression() if filters else "", kept)
    found = Compared()
    unsigned = []
    for pid, path, size, mtime in listed:
        sig = valid.get(pid)
        if sig is None:
            unsigned.append(pid)
        else:
            found.add(_row(pid, path, sig.width, sig.height, size, mtime), sig.vector, True)
    for photo in store.get_some(unsigned, with_vectors=True).values():
        assert photo.vector is not None
        found.add(_row(photo.photo_id, photo.path, photo.width, photo.height, photo.size,
                       photo.mtime), photo.vector, False)  # fmt: skip
    return found


def _listed(
    store: PhotoStore, filters: SearchFilters | None
) -> list[tuple[int, str, int, float]] | None:
    """(id, real path, size, mtime) of the photos to compare, from the file states; None when
    Milvus must list them (a server's store, or filters on dates or tags)."""
    test = filters.path_test() if filters is not None else (lambda path: True)
    if test is None:
        return None
    states = store.states.under(os.sep)
    if states is None:
        return None
    return [(pid, path, size, mtime) for path, (pid, size, mtime) in states.items() if test(path)]


def _from_milvus(
    store: PhotoStore, expr: str, kept: dict[int, Signature] | None = None
) -> Compared:
    """Rows and vectors as Milvus lists them; pixel signatures where one was kept for the
    same version of the file (``kept``: those read already)."""
    entities = list(store.iter_entities(expr, fields=_FIELDS, with_vectors=True))
    if kept is None:
        kept = store.signatures.read([int(e["id"]) for e in entities])
    found = Compared()
    for entity in entities:
        # float32 at once: a list of Python floats per photo would take 6x the memory
        vector = np.asarray(entity.pop("vector"), dtype=np.float32)
        entity["file"] = entity_path(entity)
        sig = kept.get(int(entity["id"]))
        fresh = sig is not None and (sig.size, sig.mtime) == (entity["size"], entity["mtime"])
        found.add(entity, vector, fresh)
    return found


def _row(pid: int, path: str, width: int, height: int, size: int, mtime: float) -> dict[str, Any]:
    return {"id": pid, "path": display_path(path), "file": path, "width": width,
            "height": height, "size": size, "mtime": mtime}  # fmt: skip
