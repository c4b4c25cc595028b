"""One photo as a Milvus row: its id, how its path is stored, and the folders it lies in.

Why ids and folder ids are hashes of the path's bytes: the same file always maps to the same
row (re-indexing replaces instead of duplicating), and "is this photo under that folder" becomes
an exact integer match (``array_contains(folders, id)``) that every Milvus deployment parses the
same way, whatever the folder's name holds: ``_``, ``%``, quotes, or bytes that are not UTF-8.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from photocomic.tools.contract import PhotoRef, path_from_raw
from photocomic.tools.errors import PhotocomicError
from photocomic.tools.folders import display_path

ID_MASK = (1 << 52) - 1  # photo ids stay exact in JSON numbers (JavaScript clients)
_FOLDER_MASK = (1 << 63) - 1
MAX_FOLDER_DEPTH = 256
SCALAR_FIELDS = [
    "path", "raw_path", "folder", "folders", "size", "mtime", "width", "height", "taken_at",
    "labels", "label_scores", "categories", "category_scores",
]  # fmt: skip


def path_bytes(path: str) -> bytes:
    """The file name's own bytes (a name that is not UTF-8 arrives with surrogate escapes)."""
    return os.fsencode(path)


def photo_id_for(path: str) -> int:
    """A stable id from the file's path: the same file always gets the same row."""
    return int.from_bytes(hashlib.sha1(path_bytes(path)).digest()[:8], "big") & ID_MASK


def folder_id(folder: str) -> int:
    """The id of a folder, as stored in each photo's ``folders`` list."""
    cleaned = folder.rstrip(os.sep) or os.sep
    return int.from_bytes(hashlib.sha1(path_bytes(cleaned)).digest()[:8], "big") & _FOLDER_MASK


def ancestor_ids(path: str) -> list[int]:
    """Ids of every folder that holds ``path``, from the root down (at most MAX_FOLDER_DEPTH)."""
    folders = []
    current = os.path.dirname(path)
    while True:
        folders.append(current)
        parent = os.path.dirname(current)
        if parent == current:
            break
        current = parent
    return [folder_id(f) for f in reversed(folders)][:MAX_FOLDER_DEPTH]


def raw_form(path: str) -> str:
    """Base64 of the path's bytes when they are not UTF-8 (else ""), so it round-trips."""
    data = path_bytes(path)
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return base64.b64encode(data).decode("ascii")
    return ""


@dataclass
class PhotoRow:
    """One photo as stored; ``path`` is the file's real path (any bytes); ``vector`` is
    present only when asked for."""

    photo_id: int
    path: str
    size: int
    mtime: float
    width: int
    height: int
    taken_at: int
    labels: list[str] = field(default_factory=list)
    label_scores: list[float] = field(default_factory=list)
    categories: list[str] = field(default_factory=list)
    category_scores: list[float] = field(default_factory=list)
    vector: np.ndarray | None = None
    thumb: np.ndarray | None = None  # its pixel signature, set while indexing

    @property
    def shown(self) -> str:
        return display_path(self.path)

    def tags(self) -> dict[str, float]:
        """The model's labels for this photo with their probabilities."""
        return dict(zip(self.labels, self.label_scores, strict=False))

    def ref(self) -> PhotoRef:
        return PhotoRef(
            photo_id=self.photo_id, path=self.shown, raw_path=raw_form(self.path) or None
        )

    def to_entity(self) -> dict[str, Any]:
        if self.vector is None:
            raise ValueError("a row needs its vector to be stored")
        return {
            "id": self.photo_id,
            "vector": self.vector,
            "path": self.shown,
            "raw_path": raw_form(self.path),
            "folder": display_path(os.path.dirname(self.path)),
            "folders": ancestor_ids(self.path),
            "size": self.size,
            "mtime": self.mtime,
            "width": self.width,
            "height": self.height,
            "taken_at": self.taken_at,
            "labels": self.labels,
            "label_scores": self.label_scores,
            "categories": self.categories,
            "category_scores": self.category_scores,
        }

    @classmethod
    def from_entity(cls, entity: dict[str, Any]) -> PhotoRow:
        vector = entity.get("vector")
        raw = entity.get("raw_path") or ""
        return cls(
            photo_id=int(entity["id"]),
            path=path_from_raw(raw) if raw else entity["path"],
            size=int(entity["size"]),
            mtime=float(entity["mtime"]),
            width=int(entity["width"]),
            height=int(entity["height"]),
            taken_at=int(entity["taken_at"]),
            labels=list(entity.get("labels") or []),
            label_scores=[float(s) for s in entity.get("label_scores") or []],
            categories=list(entity.get("categories") or []),
            category_scores=[float(s) for s in entity.get("category_scores") or []],
            vector=np.asarray(vector, dtype=np.float32) if vector is not None else None,
        )


def entity_path(entity: dict[str, Any]) -> str:
    """The real path of a queried entity that has ``path`` and ``raw_path``."""
    raw = entity.get("raw_path") or ""
    return path_from_raw(raw) if raw else str(entity["path"])


@dataclass(frozen=True)
class Hit:
    row: PhotoRow
    score: float


def folder_expression(folder: str) -> str:
    """Photos under ``folder`` (a resolved path): an exact match on its id, never a pattern."""
    depth = len([p for p in folder.split(os.sep) if p]) + 1
    if depth > MAX_FOLDER_DEPTH:
        raise PhotocomicError(
            f"the folder {folder[:80]}... is nested {depth} levels deep; folder filters reach "
            f"{MAX_FOLDER_DEPTH} levels"
        )
    return f"array_contains(folders, {folder_id(folder)})"


def any_folder_expression(folders: Sequence[str]) -> str:
    """Photos under any of ``folders`` (the allowed roots of a caller)."""
    ids = ", ".join(str(folder_id(f)) for f in folders)
    return f"array_contains_any(folders, [{ids}])"


def quote(value: str) -> str:
    """A string literal for a Milvus filter expression (tags: plain ImageNet words)."""
    return json.dumps(value, ensure_ascii=False)
