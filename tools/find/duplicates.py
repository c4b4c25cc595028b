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

A pair's score is the larger of the two; for aligned pixels, the best alignment, or the first
one tried that settles the pair (two pictures of one shape compared whole). Copies with the
same embedding join at once and one of them speaks for all; each one's nearest neighbours come
from a matrix product per block of photos over the vectors read once (``duplicate_neighbours``,
never an all-pairs matrix in memory); only pairs the embedding leaves undecided have their
pixels compared, from the signatures kept since indexing (decoded where there are none).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from photocomic.tools.errors import InvalidInput
from photocomic.tools.find.contract import (
    DuplicateGroup,
    DuplicatePhoto,
    DuplicateReport,
)
from photocomic.tools.find.duplicate_neighbours import (
    CANDIDATE_FLOOR,
    candidate_pairs,
    components,
)
from photocomic.tools.find.duplicate_rows import photos_compared
from photocomic.tools.find.pixel_match import PixelMatcher

if TYPE_CHECKING:
    from photocomic.tools.find.filters import SearchFilters
    from photocomic.tools.store.photo_store import PhotoStore

# Score above which two photos count as the same shot: above every pair of different photos
# measured (0.876 aligned pixels, 0.851 cosine), below the edited copies (see module doc).
DUPLICATE_THRESHOLD = 0.88
GROUP_SHOWN = 20  # photos of one group an answer lists (its size counts them all)
_PAIRS_AT_ONCE = 128  # pairs whose pixels are sampled together (their crops stay in the cache)
_PAIRS_READ_AT_ONCE = 16 * _PAIRS_AT_ONCE  # pairs whose signatures are read from SQLite at once
_ROUNDED_AT_ONCE = 4096  # embeddings rounded at once to find copies of one file

Progress = Callable[[str, float], None]  # a check's stage and about how much of it is done
READING, NEAREST, PIXELS, LISTING = (
    "reading the photos", "finding each photo's nearest", "comparing the pixels of close pairs",
    "listing the groups",
)  # fmt: skip
_STAGE_WEIGHTS = {READING: 0.05, NEAREST: 0.75, PIXELS: 0.15, LISTING: 0.05}


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

    def join_all(self, pairs: np.ndarray) -> None:
        """Join every pair (rows of two indices) at once: the connected components of the
        groups so far and the pairs, each led by its smallest index as ``join`` leaves it.
        A Python call per pair took 11 s and 0.5 GB for the 3.9 million pairs of 100,000
        photos in groups of 100."""
        if not len(pairs):
            return
        count = len(self.parent)
        roots = np.asarray([self.find(i) for i in range(count)], dtype=np.int64)
        component = components(count, roots[pairs])
        smallest = np.full(component.max() + 1, count, dtype=np.int64)
        np.minimum.at(smallest, component, np.arange(count))
        self.parent = smallest[component[roots]].tolist()


def check_threshold(threshold: float) -> float:
    if not 0.0 < threshold <= 1.0:
        raise InvalidInput(f"threshold must be above 0 and at most 1, not {threshold}")
    return threshold


def duplicate_groups(
    store: PhotoStore,
    threshold: float = DUPLICATE_THRESHOLD,
    filters: SearchFilters | None = None,
    within: Sequence[Path] | None = None,
    progress: Progress | None = None,
) -> DuplicateReport:
    """Groups of near-identical photos among those the filters let through, largest first;
    ``progress`` hears each stage and about how much of the check is done."""
    check_threshold(threshold)
    told = progress or (lambda stage, share: None)
    told(READING, 0.0)
    compared = photos_compared(store, filters)
    rows = compared.rows
    if len(rows) < 2:
        return DuplicateReport(threshold=threshold, checked=len(rows), groups=[])
    vectors = np.stack(compared.vectors)
    compared.vectors = list(vectors)  # views of the stack: the rows are not held twice
    pixels = PixelMatcher(within, compared.thumb_loader(store), enough=threshold)
    scorer = _Scorer(vectors, rows, threshold, pixels)
    groups = _Groups(len(rows))
    rep = _join_identical(groups, vectors)
    pairs, sims, floors = candidate_pairs(
        vectors, threshold, rep, progress=lambda done: told(NEAREST, _share(NEAREST, done))
    )
    groups.join_all(pairs[sims >= threshold])
    left_open = (floors <= sims) & (sims < threshold)
    in_reach = _in_reach_order(pairs[left_open], len(rows))
    _join_by_pixels(
        groups, scorer, pairs[left_open][in_reach], floors[left_open][in_reach],
        lambda done: told(PIXELS, _share(PIXELS, done)),
    )  # fmt: skip
    compared.save_decoded(store, scorer.pixels.decoded)
    told(LISTING, _share(LISTING, 0.0))
    return DuplicateReport(threshold=threshold, checked=len(rows), groups=_listed(groups, scorer))


def _share(stage: str, done: float) -> float:
    """The share of a whole check done when ``stage`` is ``done`` (0-1) of the way through:
    the stages weighed as they took at 100,000 photos (reading 5 %, the nearest 75 %)."""
    names = list(_STAGE_WEIGHTS)
    before = sum(_STAGE_WEIGHTS[n] for n in names[: names.index(stage)])
    return round(before + _STAGE_WEIGHTS[stage] * min(max(done, 0.0), 1.0), 3)


def _join_by_pixels(
    groups: _Groups, scorer: _Scorer, pairs: np.ndarray, floors: np.ndarray,
    progress: Callable[[float], None],
) -> None:  # fmt: skip
    """Join the pairs the embedding left open (each with the cosine from which its pixels are
    compared) whose aligned pixels reach the threshold. The groups are the same in any order
    (a pair is skipped only once its photos are in one group); cluster by cluster, a photo's
    signature and crops are at hand for all its pairs."""
    rows, threshold = scorer.rows, scorer.threshold
    for start in range(0, len(pairs), _PAIRS_AT_ONCE):
        if start % _PAIRS_READ_AT_ONCE == 0:  # their signatures in one read, a window at a time
            progress(start / len(pairs))
            window = np.unique(pairs[start : start + _PAIRS_READ_AT_ONCE]).tolist()
            scorer.pixels.prefetch({rows[n]["file"] for n in window})
        part = slice(start, start + _PAIRS_AT_ONCE)
        chunk = [((a, b), floor)
                 for (a, b), floor in zip(pairs[part].tolist(), floors[part].tolist(), strict=True)
                 if groups.find(a) != groups.find(b)]  # fmt: skip
        scorer.prepare(chunk)
        for (a, b), floor in chunk:
            if groups.find(a) != groups.find(b) and scorer.score(a, b, floor) >= threshold:
                groups.join(a, b)


def _in_reach_order(pairs: np.ndarray, count: int) -> np.ndarray:
    """An order of ``pairs`` (rows of two of ``count`` photos) that keeps photos compared with
    each other close together: the photos ordered by reverse Cuthill-McKee over the graph of
    pairs, then the pairs by their earlier photo (its pairs in a row) and their later one. A
    pair's signatures and resampled pictures are then still in the bounded caches from its
    neighbours' pairs; in index order, a large library's partners had been evicted before
    their next use and were read and resampled again (30,000 photos: 40,000 times)."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import reverse_cuthill_mckee

    if not len(pairs):
        return np.zeros(0, dtype=np.int64)
    edges = coo_matrix((np.ones(len(pairs), dtype=np.int8), (pairs[:, 0], pairs[:, 1])),
                       shape=(count, count)).tocsr()  # fmt: skip
    position = np.empty(count, dtype=np.int64)
    position[reverse_cuthill_mckee(edges, symmetric_mode=False)] = np.arange(count)
    earlier, later = position[pairs[:, 0]], position[pairs[:, 1]]
    return np.lexsort((np.maximum(earlier, later), np.minimum(earlier, later)))


class _Scorer:
    """A pair's score: its cosine, or where the embedding leaves it open, the better of that
    and its aligned pixels (each pair's compared once)."""

    def __init__(
        self, vectors: np.ndarray, rows: list[dict[str, Any]], threshold: float,
        pixels: PixelMatcher,
    ) -> None:  # fmt: skip
        self.vectors, self.rows, self.threshold, self.pixels = vectors, rows, threshold, pixels
        self.aligned: dict[tuple[int, int], float] = {}

    def _open(self, a: int, b: int, checked_from: float) -> tuple[float, bool]:
        cosine = float(self.vectors[a] @ self.vectors[b])
        return cosine, checked_from <= cosine < self.threshold

    def prepare(self, pairs: Sequence[tuple[tuple[int, int], float]]) -> None:
        """The pixels of those pairs (each with the cosine from which it is checked) that will
        need them, compared together."""
        todo = [(self.rows[a]["file"], self.rows[b]["file"]) for (a, b), floor in pairs
                if (min(a, b), max(a, b)) not in self.aligned
                and self._open(a, b, floor)[1]]  # fmt: skip
        self.pixels.prepare(todo)

    def score(self, a: int, b: int, checked_from: float = CANDIDATE_FLOOR) -> float:
        cosine, undecided = self._open(a, b, checked_from)
        if not undecided:
            return cosine
        pair = (min(a, b), max(a, b))
        if pair not in self.aligned:
            found = self.pixels.match(self.rows[a]["file"], self.rows[b]["file"])
            self.aligned[pair] = max(cosine, found if found is not None else -1.0)
        return self.aligned[pair]


def _listed(groups: _Groups, scorer: _Scorer) -> list[DuplicateGroup]:
    """Each group of two or more, the photo to keep first and the others scored against it;
    the largest groups first."""
    rows = scorer.rows
    members: dict[int, list[int]] = {}
    for n in range(len(rows)):
        members.setdefault(groups.find(n), []).append(n)
    ordered = [
        sorted(m, key=lambda n: _keep_first(rows[n])) for m in members.values() if len(m) > 1
    ]
    against_first = [(m[0], n) for m in ordered for n in m[1:]]
    scores: dict[int, float] = {}
    for start in range(0, len(against_first), _PAIRS_AT_ONCE):
        chunk = against_first[start : start + _PAIRS_AT_ONCE]
        scorer.prepare([(pair, CANDIDATE_FLOOR) for pair in chunk])  # compared together
        scores.update((n, round(min(1.0, scorer.score(first, n)), 4)) for first, n in chunk)
    found = []
    for indices in ordered:
        photos = [
            DuplicatePhoto(photo_id=int(rows[n]["id"]), path=rows[n]["path"],
                           score=scores.get(n, 1.0))
            for n in indices
        ]  # fmt: skip
        found.append(DuplicateGroup(photos=photos))
    found.sort(key=lambda g: (-len(g.photos), -min(p.score for p in g.photos), g.photos[0].path))
    return found


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
    copies: list[tuple[int, int]] = []
    for start in range(0, len(vectors), _ROUNDED_AT_ONCE):  # not a rounded copy of them all
        for n, key in enumerate(np.round(vectors[start : start + _ROUNDED_AT_ONCE], 5), start):
            seen = first.setdefault(key.tobytes(), n)
            if seen != n:
                copies.append((seen, n))
    groups.join_all(np.asarray(copies, dtype=np.int64).reshape(-1, 2))
    return [groups.find(n) for n in range(len(vectors))]
