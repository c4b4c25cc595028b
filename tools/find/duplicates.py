"""Near-identical photos: the same shot resized, re-compressed, cropped, brightened, greyed.

Two signals, because neither alone separates edited copies from other photos of the same
subject (measured in bench/quality.py, duplicate_figures, on ImageNet photos):

- the stored embedding: edits that keep the picture's look (JPEG at quality 20, resizing,
  a small rotation, a caption) stay above 0.89 cosine, but a crop to 70% or greyscale can
  fall to 0.4-0.7, lower than two different golf-ball photos (up to 0.85);
- aligned pixels: small equalised greyscale thumbnails, one searched over crops of the other
  (scales 1.0 to 0.65, nine positions, mirrored too). Crops, greyscale, brightening and
  recompression keep this correlation above 0.95; different photos stay below 0.88. It
  cannot follow rotations or added frames, which the embedding handles.

A pair's score is the larger of the two. Copies with the same embedding join at once and one
of them speaks for all; each one's nearest neighbours come from a matrix product per block of
photos over the vectors read once from Milvus (never an all-pairs matrix in memory); only pairs
the embedding leaves undecided are decoded, on every core.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from photocomic.tools.contract import page_of
from photocomic.tools.errors import InvalidInput
from photocomic.tools.find.contract import (
    DuplicateGroup,
    DuplicatePhoto,
    DuplicateReport,
    DuplicatesAnswer,
    DuplicatesRequest,
    Filters,
)
from photocomic.tools.find.duplicate_rows import photos_compared
from photocomic.tools.find.pixel_match import PixelMatcher

if TYPE_CHECKING:
    from photocomic.tools.find.filters import SearchFilters
    from photocomic.tools.owner.calls import Call
    from photocomic.tools.store.photo_store import PhotoStore

# Score above which two photos count as the same shot: above every pair of different photos
# measured (0.876 aligned pixels, 0.851 cosine), below the edited copies (see module doc).
DUPLICATE_THRESHOLD = 0.88
GROUP_SHOWN = 20  # photos of one group an answer lists (its size counts them all)
# Which pairs get the pixel check: any two photos this close, and a photo with its nearest
# NEAREST_CHECKED neighbours down to CANDIDATE_FLOOR (an edited copy's original is nearly
# always its nearest photo, however far the edit moved it: a 25% thumbnail, crop+grey+q20).
# Measured on photos-1k: 9% of neighbour pairs are above 0.5, 77% above 0.35.
PIXEL_FLOOR = 0.5
CANDIDATE_FLOOR = 0.25
NEAREST_CHECKED = 2
NEIGHBOURS = 8  # nearest photos looked at per photo: a group larger than this still joins up
DENSE_NEIGHBOURS = 64  # looked at again for a photo whose eight nearest are all duplicates
_BATCH = 256


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


def duplicate_groups(
    store: PhotoStore,
    threshold: float = DUPLICATE_THRESHOLD,
    filters: SearchFilters | None = None,
    within: Sequence[Path] | None = None,
) -> DuplicateReport:
    """Groups of near-identical photos among those the filters let through, largest first."""
    if not 0.0 < threshold <= 1.0:
        raise InvalidInput(f"threshold must be above 0 and at most 1, not {threshold}")
    compared = photos_compared(store, filters)
    rows = compared.rows
    if len(rows) < 2:
        return DuplicateReport(threshold=threshold, checked=len(rows), groups=[])
    vectors = np.stack(compared.vectors)
    pixels = PixelMatcher(within, compared.thumb_loader(store))

    def score(a: int, b: int, checked_from: float = CANDIDATE_FLOOR) -> float:
        """The pair's score; pixels are compared only when the embedding leaves it open."""
        cosine = float(vectors[a] @ vectors[b])
        if cosine >= threshold or cosine < checked_from:
            return cosine
        aligned = pixels.match(rows[a]["file"], rows[b]["file"])
        return max(cosine, aligned if aligned is not None else -1.0)

    groups = _Groups(len(rows))
    rep = _join_identical(groups, vectors)
    candidates = _candidate_pairs(vectors, threshold, rep)
    pixels.prefetch({rows[n]["file"] for (a, b), floor in candidates for n in (a, b)
                     if floor <= vectors[a] @ vectors[b] < threshold})  # fmt: skip
    for (a, b), floor in candidates:
        if groups.find(a) != groups.find(b) and score(a, b, floor) >= threshold:
            groups.join(a, b)
    compared.save_decoded(store, pixels.decoded)
    members: dict[int, list[int]] = {}
    for n in range(len(rows)):
        members.setdefault(groups.find(n), []).append(n)
    found = []
    for indices in members.values():
        if len(indices) < 2:
            continue
        indices.sort(key=lambda n: _keep_first(rows[n]))
        first = indices[0]
        photos = [
            DuplicatePhoto(
                photo_id=int(rows[n]["id"]),
                path=rows[n]["path"],
                score=1.0 if n == first else round(min(1.0, score(first, n)), 4),
            )
            for n in indices
        ]
        found.append(DuplicateGroup(photos=photos))
    found.sort(key=lambda g: (-len(g.photos), -min(p.score for p in g.photos), g.photos[0].path))
    return DuplicateReport(threshold=threshold, checked=len(rows), groups=found)


def _keep_first(row: dict[str, Any]) -> tuple[int, float, int, str]:
    """Most pixels first; among equals the older file (the copy is usually the newer one)."""
    return (
        -int(row["width"]) * int(row["height"]),
        float(row["mtime"]),
        -int(row["size"]),
        row["path"],
    )


def _join_identical(groups: _Groups, vectors: np.ndarray) -> list[int]:
    """Files whose embeddings are the same to five decimals (copies of one file) join at once;
    the first of each such set speaks for it from then on: its neighbours are its copies'
    neighbours, so twenty copies ask Milvus once, not twenty times. Returns each row's
    representative."""
    first: dict[bytes, int] = {}
    for n, key in enumerate(np.round(vectors, 5)):
        groups.join(first.setdefault(key.tobytes(), n), n)
    return [groups.find(n) for n in range(len(vectors))]


def _candidate_pairs(
    vectors: np.ndarray, threshold: float, rep: list[int]
) -> list[tuple[tuple[int, int], float]]:
    """Pairs of near neighbours between representatives (``rep``: one row per set of identical
    embeddings), closest first, each with the cosine from which its pixels are worth
    comparing (CANDIDATE_FLOOR for a photo's nearest ones, else PIXEL_FLOOR). A photo whose
    every neighbour looked at is already a duplicate sits in a larger cluster: it is asked
    again for DENSE_NEIGHBOURS, so the cluster joins up whatever its size.
    """
    found = _Neighbours(vectors, threshold, rep)
    dense = found.add(sorted(set(rep)), NEIGHBOURS)
    found.add(dense, DENSE_NEIGHBOURS)
    ordered = sorted(found.pairs.items(), key=lambda item: -item[1][0])
    return [(pair, floor) for pair, (_, floor) in ordered]


class _Neighbours:
    """Each representative's nearest other representatives, found in process: the vectors are
    in memory already, and one matrix product per block of photos is an order of magnitude
    faster than a search per photo in Milvus Lite (bench/RESULTS.md, "Duplicates"). Candidates
    come from a bf16 product where the CPU computes it natively, their scores always from
    float32."""

    def __init__(self, vectors: np.ndarray, threshold: float, rep: list[int]) -> None:
        import torch
        from photocomic.tools.photos.embedder import cpu_has_native_bf16

        self.vectors, self.threshold, self.rep = vectors, threshold, rep
        self.speakers = np.asarray(sorted(set(rep)), dtype=np.int64)
        kind = torch.bfloat16 if cpu_has_native_bf16() else torch.float32
        self.matrix = torch.from_numpy(vectors[self.speakers]).to(kind)
        self.pairs: dict[tuple[int, int], tuple[float, float]] = {}

    def nearest(self, who: list[int], count: int) -> list[list[tuple[int, float]]]:
        """For each row of ``who``, up to ``count`` other representatives, closest first."""
        import torch

        count = min(count + 1, len(self.speakers))
        found = []
        for start in range(0, len(who), _BATCH):
            rows = who[start : start + _BATCH]
            query = torch.from_numpy(self.vectors[rows]).to(self.matrix.dtype)
            top = torch.topk((query @ self.matrix.T).float(), count, dim=1).indices.numpy()
            for me, picked in zip(rows, self.speakers[top], strict=True):
                others = [int(o) for o in picked if o != me]
                exact = self.vectors[others] @ self.vectors[me]
                order = np.argsort(-exact, kind="stable")
                found.append([(others[i], float(exact[i])) for i in order])
        return found

    def add(self, who: list[int], neighbours: int) -> list[int]:
        """Pairs of ``who`` with their nearest ``neighbours``, added to ``pairs``; the ones
        whose every neighbour looked at is a duplicate (dense ones)."""
        dense = []
        for me, ranked in zip(who, self.nearest(who, neighbours), strict=True):
            ranked = ranked[:neighbours]
            for rank, (other, sim) in enumerate(ranked):
                if sim < CANDIDATE_FLOOR:
                    break
                key = (min(me, other), max(me, other))
                floor = CANDIDATE_FLOOR if rank < NEAREST_CHECKED else PIXEL_FLOOR
                self.pairs[key] = (sim, min(floor, self.pairs.get(key, (sim, floor))[1]))
            if len(ranked) >= neighbours and ranked[-1][1] >= self.threshold:
                dense.append(me)
        return dense


def find_duplicates(call: Call, request: DuplicatesRequest) -> DuplicatesAnswer:
    """The operation: groups among the photos the caller may see, the largest first."""
    filters = call.filters(Filters(folder=request.folder))
    report = call.library.searcher.duplicates(request.threshold, filters)
    if call.scope.restricted:  # by the real path: a photo reached through a link is not here
        report.groups = [g for g in (_seen(call, g) for g in report.groups) if len(g.photos) > 1]
    shown, after = page_of(report.groups, request.offset, None if request.every else request.limit)
    groups = [
        g.model_copy(update={"size": len(g.photos),
                             "photos": g.photos if request.every else g.photos[:GROUP_SHOWN]})
        for g in shown
    ]  # fmt: skip
    return DuplicatesAnswer(
        threshold=report.threshold, checked=report.checked, groups=groups,
        total_groups=len(report.groups), offset=request.offset, next_offset=after,
    )  # fmt: skip


def _seen(call: Call, group: DuplicateGroup) -> DuplicateGroup:
    return group.model_copy(
        update={"photos": [p for p in group.photos if call.scope.allows(p.path)]}
    )
