"""Which pairs of photos a duplicate check looks at: each photo's nearest others by embedding.

The vectors are in memory already, so one matrix product per block of photos proposes each
photo's nearest others (an order of magnitude faster than a search per photo in Milvus Lite,
bench/RESULTS.md, "Duplicates"), and the proposals are scored again exactly in float32. The
product that proposes them is the costly part at a large library: 30,000 x 30,000 x 1,280.
Above PROJECT_ABOVE photos it runs on the embeddings projected onto their PROJECTED_DIMS main
directions (an uncentred principal-component basis from a sample of the library), with
proportionally more proposals scored exactly: in float32 on a CPU with AVX2 this cut the
product from 20 s to 5 s at 30,000 photos. Measured on the real embeddings of 1,800 photos,
the 9 nearest by exact cosine were among the 32 nearest projected for 99.96 % of neighbours,
every one above the floors that matter (bench/quality.py, duplicates). The products are
numpy's (OpenBLAS: 2.3 s for the projected 30,000 x 30,000 here, where PyTorch's took 3.9 s),
made a block of rows by a chunk of columns at a time so each stays in the cache, and each
row's largest are chosen chunk by chunk; a duplicate check never loads PyTorch.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from itertools import pairwise

import numpy as np

# Which pairs get the pixel check: any two photos this close, and a photo with its nearest
# NEAREST_CHECKED neighbours down to CANDIDATE_FLOOR (an edited copy's original is nearly
# always its nearest photo, however far the edit moved it: a 25% thumbnail, crop+grey+q20).
# Measured on photos-1k: 9% of neighbour pairs are above 0.5, 77% above 0.35.
PIXEL_FLOOR = 0.5
CANDIDATE_FLOOR = 0.25
NEAREST_CHECKED = 2
NEIGHBOURS = 8  # nearest photos looked at per photo: a group larger than this still joins up
DENSE_NEIGHBOURS = 64  # looked at again for a photo whose eight nearest are all duplicates
PROJECT_ABOVE = 8192  # photos above which the neighbours are proposed in projection
PROJECTED_DIMS = 192
PROJECTED_WIDENING = 4  # proposals scored exactly per neighbour asked, when projected...
PROJECTED_MOST = 2 * (DENSE_NEIGHBOURS + 1)  # ...at most this many per photo
_SAMPLE = 8192  # photos whose vectors make the projection
_PROJECTED_AT_ONCE = 8192
_BATCH = 256
_ROUNDING = 1e-3  # added to what the projection leaves out: float32 products are not exact
_PAIRS_SCORED = 4096  # pairs whose vectors are gathered at once
_COLUMNS_AT_ONCE = 16384  # columns of the quick product made at once (256 rows: 16 MB)
_FIRST_COLUMNS = 4096  # the first chunk, whose every product is chosen from
_ROWS_RESCORED = 16


def candidate_pairs(
    vectors: np.ndarray, threshold: float, rep: list[int], project: bool | None = None,
    progress: Callable[[float], None] | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:  # fmt: skip
    """Pairs of near neighbours between representatives (``rep``: one row per set of identical
    embeddings) as rows of two indices, closest first, with their cosines and the cosine from
    which each pair's pixels are worth comparing (CANDIDATE_FLOOR for a photo's nearest ones,
    else PIXEL_FLOOR). A photo whose every neighbour looked at is already a duplicate sits in a
    larger cluster: its DENSE_NEIGHBOURS nearest outside the cluster found so far are asked for
    the pairs at or above the threshold, so the cluster joins up whatever its size (their
    pixels need no comparing: each of those photos had its own nearest compared). ``project``
    forces the projected proposal on or off (None: decided here); ``progress`` hears about
    how much of the costly product is made (0-1)."""
    found = Neighbours(vectors, threshold, rep, project, progress)
    dense = found.add(found.speakers.tolist(), NEIGHBOURS)
    found.join_dense(np.asarray(dense, dtype=np.int64))
    return found.ranked()


def proposes_in_projection(count: int) -> bool:
    """Whether ``count`` photos are proposed in projection: more than PROJECT_ABOVE."""
    return count > PROJECT_ABOVE


def _projection(vectors: np.ndarray) -> np.ndarray:
    """The PROJECTED_DIMS directions that keep most of these vectors' inner products (the
    leading eigenvectors of their second-moment matrix, from evenly spaced rows)."""
    sample = vectors[np.linspace(0, len(vectors) - 1, min(len(vectors), _SAMPLE)).astype(int)]
    sample = sample.astype(np.float64)
    _, basis = np.linalg.eigh(sample.T @ sample)
    return np.ascontiguousarray(basis[:, ::-1][:, :PROJECTED_DIMS], dtype=np.float32)


def _projected(vectors: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """``vectors[rows]`` projected, a block of rows at a time: never a second copy of all the
    embeddings (512 MB at 100,000 photos)."""
    sample = rows[np.linspace(0, len(rows) - 1, min(len(rows), _SAMPLE)).astype(int)]
    basis = _projection(vectors[sample])
    blocks = range(0, len(rows), _PROJECTED_AT_ONCE)
    return np.concatenate([vectors[rows[s : s + _PROJECTED_AT_ONCE]] @ basis for s in blocks])


class Neighbours:
    """Each representative's nearest other representatives: proposed by the quick product,
    scored in float32; a block's pairs are kept as arrays, never one Python object per pair."""

    def __init__(
        self, vectors: np.ndarray, threshold: float, rep: list[int], project: bool | None = None,
        progress: Callable[[float], None] | None = None,
    ) -> None:  # fmt: skip
        self.vectors, self.threshold = vectors, threshold
        self._progress = progress or (lambda done: None)
        self.speakers = np.asarray(sorted(set(rep)), dtype=np.int64)
        if project is None:
            project = proposes_in_projection(len(self.speakers))
        self._widening = PROJECTED_WIDENING if project else 1
        chosen = _projected(vectors, self.speakers) if project else vectors[self.speakers]
        self.matrix = np.ascontiguousarray(chosen, dtype=np.float32)
        self._found: list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = []
        most = PROJECTED_MOST if project else DENSE_NEIGHBOURS + 1
        self._most = min(most, len(self.speakers))
        self._top = np.full((len(vectors), self._most), -1, dtype=np.int32)
        self._top_products = np.zeros((len(vectors), self._most), dtype=np.float32)
        # What the projection leaves out of each row: its cosine with another is at most the
        # projected product plus the two lengths left out multiplied (Cauchy-Schwarz).
        self._left_out = np.full(len(vectors), np.inf, dtype=np.float32)
        if project:
            kept = np.einsum("nd,nd->n", chosen, chosen)
            whole = np.einsum("nd,nd->n", vectors, vectors)[self.speakers]  # no gathered copy
            self._left_out[self.speakers] = np.sqrt(np.maximum(whole - kept, 0)) + _ROUNDING

    def _quick_nearest(self, rows: np.ndarray) -> np.ndarray:
        """The representatives the quick product finds nearest to each of ``rows`` (themselves
        representatives), closest first; all of them the first time any are asked."""
        if len(rows) and self._top[rows[0], 0] < 0:
            self._fill_nearest()
        return self._top[rows]

    def _fill_nearest(self) -> None:
        """Every representative's nearest by the quick product: a block of rows against a
        chunk of columns at a time (the product stays in the cache: at 100,000 photos a whole
        row block's product is 100 MB, and copying it cost more than choosing from it), the
        next chunk's product made (numpy's BLAS leaves the GIL) while this one's largest are
        chosen."""
        count = len(self.speakers)
        edges = [0, *range(_FIRST_COLUMNS, count, _COLUMNS_AT_ONCE), count]
        chunks = [(a, b) for a, b in pairwise(edges) if b > a]
        jobs = [(start, chunk) for start in range(0, count, _BATCH) for chunk in chunks]

        def product(job: tuple[int, tuple[int, int]]) -> np.ndarray:
            start, (first, end) = job
            return self.matrix[start : start + _BATCH] @ self.matrix[first:end].T

        with ThreadPoolExecutor(1) as ahead:
            coming = ahead.submit(product, jobs[0])
            for n, (start, (first, end)) in enumerate(jobs):
                found = coming.result()
                if n % len(chunks) == 0:
                    self._progress(n / len(jobs))
                if n + 1 < len(jobs):
                    coming = ahead.submit(product, jobs[n + 1])
                if first == 0:
                    largest = _Largest(self._most)
                largest.add(found, first)
                if end == count:
                    block = self.speakers[start : start + _BATCH]
                    self._top[block] = self.speakers[largest.at]
                    self._top_products[block] = largest.values

    def _exact(self, rows: np.ndarray, picked: np.ndarray) -> np.ndarray:
        """The float32 cosines of each of ``rows`` with its ``picked`` others, a few rows at a
        time (their gathered vectors stay in the cache: 1.8x quicker than one gather)."""
        exact = np.empty(picked.shape, dtype=np.float32)
        for start in range(0, len(rows), _ROWS_RESCORED):
            part = slice(start, start + _ROWS_RESCORED)
            exact[part] = np.einsum(
                "bkd,bd->bk", self.vectors[picked[part]], self.vectors[rows[part]]
            )
        return exact

    def nearest(self, who: list[int], count: int) -> Iterator[tuple[np.ndarray, ...]]:
        """Per block of ``who``: its rows, their ``count`` nearest other representatives and
        the cosines, closest first (-inf where there are fewer)."""
        proposed = min(self._widening * (count + 1), self._most)
        for start in range(0, len(who), _BATCH):
            rows = np.asarray(who[start : start + _BATCH], dtype=np.int64)
            picked = self._quick_nearest(rows)[:, :proposed]
            exact = self._exact(rows, picked)
            exact[picked == rows[:, None]] = -np.inf  # a photo is not its own neighbour
            order = np.argsort(-exact, axis=1, kind="stable")[:, :count]
            yield rows, np.take_along_axis(picked, order, 1), np.take_along_axis(exact, order, 1)

    def add(self, who: list[int], neighbours: int) -> list[int]:
        """Pairs of ``who`` with their nearest ``neighbours`` down to CANDIDATE_FLOOR; returns
        the ones whose every neighbour looked at is a duplicate (dense ones)."""
        dense: list[int] = []
        for rows, others, sims in self.nearest(who, neighbours):
            me = np.broadcast_to(rows[:, None], others.shape)
            keep = sims >= CANDIDATE_FLOOR
            rank = np.broadcast_to(np.arange(others.shape[1]), others.shape)
            floor = np.where(rank < NEAREST_CHECKED, CANDIDATE_FLOOR, PIXEL_FLOOR)
            self._found.append((np.minimum(me, others)[keep], np.maximum(me, others)[keep],
                                sims[keep], floor[keep]))  # fmt: skip
            if others.shape[1] >= neighbours:
                dense.extend(rows[sims[:, neighbours - 1] >= self.threshold].tolist())
        return dense

    def join_dense(self, who: np.ndarray) -> None:
        """Pairs at or above the threshold between each of ``who`` (dense rows) and its
        DENSE_NEIGHBOURS nearest that are not yet in its cluster. A proposal in the cluster
        already, or whose projected product plus what the projection left out cannot reach the
        threshold, is not scored: in the synthetic library of clusters of 30, 23 % of the
        proposals were in the cluster and the bound ruled out all but 0.06 % of the rest."""
        if not len(who):
            return
        cluster = self._clusters()
        proposed = min(self._widening * (DENSE_NEIGHBOURS + 1), self._most)
        for start in range(0, len(who), _BATCH):
            rows = who[start : start + _BATCH]
            picked = self._quick_nearest(rows)[:, :proposed]
            reach = self._top_products[rows, :proposed]
            reach += self._left_out[rows][:, None] * self._left_out[picked]
            ask = (cluster[picked] != cluster[rows][:, None]) & (reach >= self.threshold)
            mine, at = np.nonzero(ask)
            low, high = (
                np.minimum(rows[mine], picked[mine, at]),
                np.maximum(rows[mine], picked[mine, at]),
            )
            sims = _cosines(self.vectors, low, high)
            keep = sims >= self.threshold
            self._found.append((low[keep], high[keep], sims[keep],
                                np.full(int(keep.sum()), PIXEL_FLOOR)))  # fmt: skip

    def _clusters(self) -> np.ndarray:
        """Each row's cluster by the pairs at or above the threshold found so far."""
        low, high, sims, _ = (np.concatenate(c) for c in zip(*self._found, strict=True))
        joined = sims >= self.threshold
        return components(len(self.vectors), np.stack([low[joined], high[joined]], axis=1))

    def ranked(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Every pair found once (two indices a row), closest first, with its cosine and its
        lowest floor."""
        if not sum(len(found[0]) for found in self._found):  # e.g. one photo and its copies
            return np.zeros((0, 2), dtype=np.int64), np.zeros(0), np.zeros(0)
        low, high, sims, floors = (np.concatenate(c) for c in zip(*self._found, strict=True))
        size = len(self.vectors)
        keys = low * size + high
        by_key = np.argsort(keys, kind="stable")
        keys = keys[by_key]
        starts = np.flatnonzero(np.r_[True, keys[1:] != keys[:-1]])  # each pair's first row
        best = np.maximum.reduceat(sims[by_key].astype(np.float64), starts)
        lowest = np.minimum.reduceat(floors[by_key], starts)
        order = np.argsort(-best, kind="stable")
        keys = keys[starts][order]
        return np.stack([keys // size, keys % size], axis=1), best[order], lowest[order]


class _Largest:
    """Each row's ``count`` largest products so far, largest first, over chunks of columns
    seen one after another: after the first chunk, a product counts only if it beats its row's
    count-th largest so far, so each later chunk costs one comparison and a few candidates
    (at 100,000 photos, 12 s to choose where a partition of whole rows took 37 s)."""

    def __init__(self, count: int) -> None:
        self.count = count
        self.at = self.values = np.zeros((0, 0))

    def add(self, product: np.ndarray, first_column: int) -> None:
        """The products of the columns from ``first_column`` on (the first chunk at least
        ``count`` wide)."""
        if not self.values.size:
            at, self.values = _largest(product, self.count)
            self.at = at + first_column
            return
        flat = np.flatnonzero(product > self.values[:, -1:])
        if not len(flat):
            return
        rows, columns = product.shape
        row_of, column_of = np.divmod(flat, columns)
        starts = np.searchsorted(row_of, np.arange(rows))
        width = int(np.diff(np.r_[starts, len(flat)]).max())
        values = np.full((rows, width), -np.inf, dtype=np.float32)
        at = np.zeros((rows, width), dtype=np.int64)
        place = (row_of, np.arange(len(flat)) - starts[row_of])
        values[place], at[place] = product.ravel()[flat], column_of + first_column
        values, at = np.hstack([self.values, values]), np.hstack([self.at, at])
        chosen, self.values = _largest(values, self.count)
        self.at = np.take_along_axis(at, chosen, 1)


def _largest(product: np.ndarray, count: int) -> tuple[np.ndarray, np.ndarray]:
    """The columns of each row's ``count`` largest values, largest first, and those values,
    found from each row's count-th largest value: numpy's partition of the values alone and a
    comparison take 2.0 s for 30,000 x 30,000 products where a partition of their indices
    takes 3.2 s (the partition of values holds the GIL: two threads gained nothing). A row
    with ties at that value (more than ``count`` at or above it) has its indices partitioned
    instead."""
    rows, columns = product.shape
    least = np.partition(product, columns - count, axis=1)[:, columns - count]
    at_or_above = np.flatnonzero(product >= least[:, None])
    if len(at_or_above) == rows * count:  # each row has at least ``count``: exactly that
        at = (at_or_above % columns).reshape(rows, count)
    else:
        at = np.argpartition(product, columns - count, axis=1)[:, -count:]
    values = np.take_along_axis(product, at, 1)
    order = np.argsort(-values, axis=1, kind="stable")
    return np.take_along_axis(at, order, 1), np.take_along_axis(values, order, 1)


def components(count: int, pairs: np.ndarray) -> np.ndarray:
    """The connected component of each of ``count`` photos joined by ``pairs`` (rows of two
    indices), in one pass (scipy), never a Python call per pair."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    graph = coo_matrix((np.ones(len(pairs), dtype=np.int8), (pairs[:, 0], pairs[:, 1])),
                       shape=(count, count))  # fmt: skip
    return connected_components(graph, directed=False)[1]


def _cosines(vectors: np.ndarray, first: np.ndarray, second: np.ndarray) -> np.ndarray:
    """The float32 cosine of each pair (``first[i]``, ``second[i]``), a block at a time."""
    found = np.empty(len(first), dtype=np.float32)
    for start in range(0, len(first), _PAIRS_SCORED):
        part = slice(start, start + _PAIRS_SCORED)
        found[part] = np.einsum("nd,nd->n", vectors[first[part]], vectors[second[part]])
    return found
