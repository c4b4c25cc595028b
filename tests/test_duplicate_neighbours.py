"""Which pairs the duplicate check compares, and in which order, on vectors made here.

The vectors look like image embeddings where it matters: non-negative, most of their energy in
a few hundred directions and the rest spread thin, so a projection onto 192 directions loses
about a quarter of it (as on the default model's embeddings), with edited copies planted at
the cosines real edits give.
"""

from __future__ import annotations

from itertools import pairwise

import numpy as np
import pytest
from photocomic.tools.find.duplicate_neighbours import (
    CANDIDATE_FLOOR,
    PIXEL_FLOOR,
    candidate_pairs,
    proposes_in_projection,
)
from photocomic.tools.find.duplicates import _in_reach_order

PHOTOS, COPIES = 3000, 150


def _library() -> tuple[np.ndarray, list[tuple[int, int]]]:
    """Unit rows: PHOTOS photos, then COPIES edited copies of the first ones (cosine 0.45 to
    0.97 to their original), and the (original, copy) pairs."""
    rng = np.random.default_rng(5)
    scales = np.exp(-np.arange(400) / 120)[:, None]
    mixing = rng.standard_normal((400, 1280)) * scales
    photos = np.maximum(rng.standard_normal((PHOTOS, 400)) @ mixing, 0)
    photos += np.abs(rng.standard_normal(photos.shape)) * 0.6
    photos /= np.linalg.norm(photos, axis=1, keepdims=True)
    copies = []
    for n in range(COPIES):
        moved = photos[n] + rng.standard_normal(1280) * rng.uniform(0.005, 0.04)
        copies.append(np.maximum(moved, 0))
    rows = np.vstack([photos, np.asarray(copies)]).astype(np.float32)
    rows /= np.linalg.norm(rows, axis=1, keepdims=True)
    return rows, [(n, PHOTOS + n) for n in range(COPIES)]


def _found(vectors: np.ndarray, project: bool) -> dict[tuple[int, int], tuple[float, float]]:
    pairs, sims, floors = candidate_pairs(vectors, 0.88, list(range(len(vectors))), project)
    return {
        (int(a), int(b)): (float(s), float(f))
        for (a, b), s, f in zip(pairs, sims, floors, strict=True)
    }


def test_neighbours_proposed_in_projection_are_the_ones_the_full_product_finds() -> None:
    """A large library on a CPU without native bf16 proposes neighbours from a projection of
    the embeddings; every edited copy still meets its original, and the pairs the check would
    compare are those the full product gives, with the same float32 cosines."""
    vectors, planted = _library()
    cosines = np.einsum("nd,nd->n", *(vectors[[p[i] for p in planted]] for i in (0, 1)))
    assert cosines.min() < 0.7 and cosines.max() > 0.95, "copies from far to near"
    full, projected = _found(vectors, project=False), _found(vectors, project=True)
    assert set(planted) <= set(projected) and set(planted) <= set(full)
    compared = {p for p, (s, f) in full.items() if s >= f}
    kept = {p for p in compared if p in projected and projected[p][0] >= projected[p][1]}
    assert len(kept) >= 0.995 * len(compared), f"{len(compared) - len(kept)} pairs lost"
    assert all(projected[p][0] == pytest.approx(full[p][0], abs=1e-6) for p in kept)
    assert {f for _, f in projected.values()} <= {CANDIDATE_FLOOR, PIXEL_FLOOR}


def test_only_a_large_library_is_proposed_in_projection() -> None:
    assert not proposes_in_projection(2000)


def test_pairs_are_compared_one_cluster_after_the_other() -> None:
    """Photos that are compared with each other come together, whatever their order in the
    library, so their signatures are still at hand (the caches are bounded)."""
    first, second = list(range(0, 40, 2)), list(range(1, 40, 2))  # interleaved in the library
    pairs = np.asarray([pair for cluster in (first, second) for pair in pairwise(cluster)])
    ordered = pairs[_in_reach_order(pairs, 40)]
    assert sorted(map(tuple, ordered.tolist())) == sorted(map(tuple, pairs.tolist()))
    clusters = [0 if a % 2 == 0 else 1 for a, _ in ordered]
    assert clusters == sorted(clusters) or clusters == sorted(clusters, reverse=True)
    assert len(_in_reach_order(np.zeros((0, 2), dtype=np.int64), 5)) == 0
