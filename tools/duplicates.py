"""Near-identical photos: the same shot resized, re-compressed, lightly cropped or edited.

Why from the stored vectors: an edit that changes every pixel (greyscale, a crop, JPEG at
quality 20) keeps what the photo shows, and the embedding says what a photo shows. Each
photo's few nearest neighbours come from Milvus (one batched search, no all-pairs matrix);
pairs above the threshold join into groups.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

import numpy as np
from pydantic import BaseModel, Field

from .errors import InvalidInput

if TYPE_CHECKING:
    from .store import PhotoStore

# Cosine similarity above which two photos count as the same shot. Chosen in
# bench/quality.py (duplicate_figures): edited copies of real photos score above it,
# different photos of the same subject below it.
DUPLICATE_THRESHOLD = 0.85
NEIGHBOURS = 8  # nearest photos looked at per photo: a group larger than this still joins up
_BATCH = 256


class DuplicatePhoto(BaseModel):
    photo_id: int
    path: str
    score: float = Field(description="similarity to the group's first photo (1.0 for it)")


class DuplicateGroup(BaseModel):
    """Photos of one shot; the first is the largest (most pixels), the one to keep."""

    photos: list[DuplicatePhoto]


class DuplicateReport(BaseModel):
    threshold: float
    checked: int = Field(description="how many photos were compared")
    groups: list[DuplicateGroup]


class _Groups:
    """Union-find over photo indices."""

    def __init__(self, count: int) -> None:
        self.parent = list(range(count))

    def find(self, i: int) -> int:
        while self.parent[i] != i:
            self.parent[i] = self.parent[self.parent[i]]
            i = self.parent[i]
        return i

    def join(self, a: int, b: int) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[max(ra, rb)] = min(ra, rb)


def find_duplicates(
    store: PhotoStore, threshold: float = DUPLICATE_THRESHOLD, expr: str = ""
) -> DuplicateReport:
    """Groups of near-identical photos among those matching ``expr``, largest group first."""
    if not 0.0 < threshold <= 1.0:
        raise InvalidInput(f"threshold must be above 0 and at most 1, not {threshold}")
    rows = list(
        store.iter_rows(expr, fields=["path", "width", "height", "size"], with_vectors=True)
    )
    if len(rows) < 2:
        return DuplicateReport(threshold=threshold, checked=len(rows), groups=[])
    ids = [int(r["id"]) for r in rows]
    position = {pid: n for n, pid in enumerate(ids)}
    vectors = np.asarray([r["vector"] for r in rows], dtype=np.float32)
    groups = _Groups(len(rows))
    for a, b in _close_pairs(store, vectors, ids, position, threshold, expr):
        groups.join(a, b)
    members: dict[int, list[int]] = {}
    for n in range(len(rows)):
        members.setdefault(groups.find(n), []).append(n)
    found = []
    for indices in members.values():
        if len(indices) < 2:
            continue
        indices.sort(
            key=lambda n: (-rows[n]["width"] * rows[n]["height"], -rows[n]["size"], rows[n]["path"])
        )
        first = vectors[indices[0]]
        photos = [
            DuplicatePhoto(
                photo_id=ids[n],
                path=rows[n]["path"],
                score=1.0 if k == 0 else round(min(1.0, float(vectors[n] @ first)), 4),
            )
            for k, n in enumerate(indices)
        ]
        found.append(DuplicateGroup(photos=photos))
    found.sort(key=lambda g: (-len(g.photos), -min(p.score for p in g.photos), g.photos[0].path))
    return DuplicateReport(threshold=threshold, checked=len(rows), groups=found)


def _close_pairs(
    store: PhotoStore,
    vectors: np.ndarray,
    ids: list[int],
    position: dict[int, int],
    threshold: float,
    expr: str,
) -> Iterable[tuple[int, int]]:
    for start in range(0, len(ids), _BATCH):
        batch = vectors[start : start + _BATCH]
        for offset, hits in enumerate(store.search(batch, NEIGHBOURS + 1, expr)):
            me = start + offset
            for hit in hits:
                other = position.get(hit.row.photo_id)
                if other is not None and other != me and hit.score >= threshold:
                    yield me, other
