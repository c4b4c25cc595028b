"""Which pairs the duplicate check compares, and in which order, on vectors made here.

The vectors look like image embeddings where it matters: non-negative, most of their energy in
a few hundred directions and the rest spread thin, so a projection onto 192 directions loses
about a quarter of it (as on the default model's embeddings), with edited copies planted at
the cosines real edits give.
"""

from __future__ import annotations

import subprocess
import sys
from itertools import pairwise

import numpy as np
import pytest
from photocomic.tools.find.duplicate_neighbours import (
    CANDIDATE_FLOOR,
    PIXEL_FLOOR,
    Neighbours,
    _Largest,
    _largest,
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


def _two_halves_of_one_shot(rng: np.random.Generator, base: np.ndarray) -> np.ndarray:
    """Forty copies of a shot near ``base`` (not in the library) in two halves of twenty:
    within a half at cosine 0.99, across at about 0.91 (above the threshold), so each copy's
    eight nearest lie in its own half."""
    base = np.maximum(base + rng.standard_normal(base.shape) * 0.02, 0)
    base /= np.linalg.norm(base)
    halves = []
    for _ in range(2):
        half = base + rng.standard_normal(base.shape) * 0.008
        halves.append(half + rng.standard_normal((20, base.shape[0])) * 0.0035)
    rows = np.vstack(halves).astype(np.float32)
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)


@pytest.mark.parametrize("project", [False, True])
def test_a_group_larger_than_the_neighbours_looked_at_joins_up(project: bool) -> None:
    """A copy whose eight nearest are all duplicates looks further, outside its cluster: the
    two halves join (pairs at or above the threshold between them), the other photos stay out."""
    vectors, _ = _library()
    rng = np.random.default_rng(9)
    shot = _two_halves_of_one_shot(rng, vectors[7])
    rows = np.vstack([vectors, shot])
    first, second = range(len(vectors), len(vectors) + 20), range(len(vectors) + 20, len(rows))
    across = np.einsum("nd,md->nm", rows[list(first)], rows[list(second)])
    assert across.min() >= 0.88 and across.max() < 0.97, "the halves are duplicates, apart"
    pairs, sims, _ = candidate_pairs(rows, 0.88, list(range(len(rows))), project)
    joined = pairs[sims >= 0.88]
    assert any(a in first and b in second for a, b in joined.tolist())
    inside = {int(n) for n in joined.ravel() if n >= len(vectors)}
    assert inside == set(first) | set(second)


def test_projection_loses_no_pair_at_or_above_the_threshold() -> None:
    """The pairs that join at once are the same whether proposed in projection (where a
    proposal is skipped only when its projected product plus what the projection left out
    cannot reach the threshold) or by the full product."""
    vectors, _ = _library()
    rng = np.random.default_rng(3)
    shots = [_two_halves_of_one_shot(rng, vectors[n]) for n in (11, 12, 13)]
    rows = np.vstack([vectors, *shots])

    def joined(project: bool) -> set[tuple[int, int]]:
        pairs, sims, _ = candidate_pairs(rows, 0.88, list(range(len(rows))), project)
        return set(map(tuple, pairs[sims >= 0.88].tolist()))

    full = joined(False)
    assert len(full) >= 3 * 40 * 8 // 2, "each shot's copies join among themselves"
    assert joined(True) >= {p for p in full if p[0] >= len(vectors) or p[1] >= len(vectors)}


def test_each_rows_largest_products_are_found_in_order_also_with_ties() -> None:
    rng = np.random.default_rng(2)
    product = rng.standard_normal((40, 3000)).astype(np.float32)
    product[5, :20] = product[5].max() + 1  # twenty ties among the ten largest
    product[6, 100:300] = 0.5  # two hundred ties at the tenth
    product[6, :9] = 2.0
    at, values = _largest(product, 10)
    expected = -np.sort(-product, axis=1)[:, :10]
    assert np.array_equal(values, expected)
    assert np.array_equal(np.take_along_axis(product, at, 1), values)
    assert all(len(set(row)) == 10 for row in at.tolist())


def test_a_proposal_is_skipped_only_when_it_cannot_reach_the_threshold() -> None:
    """A dense photo's proposal is scored only if its projected product plus the lengths the
    projection left out of both photos, multiplied, reaches the threshold: that sum is never
    below the exact cosine, and close enough to it to skip most proposals."""
    vectors, _ = _library()
    found = Neighbours(vectors, 0.88, list(range(len(vectors))), project=True)
    rows = np.arange(0, len(vectors), 7)
    picked = found._quick_nearest(rows)
    exact = np.einsum("nkd,nd->nk", vectors[picked], vectors[rows])
    reach = found._top_products[rows] + found._left_out[rows][:, None] * found._left_out[picked]
    assert (exact <= reach).all()
    assert (exact > found._top_products[rows]).any(), "the projection alone can fall short"
    assert np.median(reach - exact) < 0.3


def test_a_duplicate_check_never_loads_pytorch() -> None:
    """Its products and its resampling are numpy's: an engine that only searches and checks
    duplicates never spends the seconds and the memory PyTorch takes to load."""
    code = (
        "import sys, numpy as np\n"
        "from photocomic.tools.find.duplicates import duplicate_groups\n"
        "from photocomic.tools.find.duplicate_neighbours import candidate_pairs\n"
        "from photocomic.tools.find.pixel_match import PixelMatcher\n"
        "rng = np.random.default_rng(0)\n"
        "v = rng.random((2000, 64), dtype=np.float32)\n"
        "v /= np.linalg.norm(v, axis=1, keepdims=True)\n"
        "assert len(candidate_pairs(v, 0.88, list(range(2000)), True)[0])\n"
        "t = {'a': rng.integers(0, 255, (72, 96), dtype=np.uint8),\n"
        "     'b': rng.integers(0, 255, (96, 72), dtype=np.uint8)}\n"
        "assert PixelMatcher(load=lambda p: {x: t[x] for x in p}).match('a', 'b') is not None\n"
        "print(sorted(m for m in ('torch', 'timm') if m in sys.modules))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


def test_the_largest_chosen_chunk_by_chunk_are_those_of_the_whole_rows() -> None:
    """The quick product is made a chunk of columns at a time; what each row keeps is what a
    choice over its whole row gives (values exactly, columns where there is no tie)."""
    rng = np.random.default_rng(4)
    product = rng.standard_normal((64, 9000)).astype(np.float32)
    product[3, 5000:5200] += 5  # a row whose largest all come late
    product[4, :300] += 5  # and one whose largest all come first
    kept = _Largest(130)
    for first in (0, 2000, 4500, 8999):
        end = {0: 2000, 2000: 4500, 4500: 8999, 8999: 9000}[first]
        kept.add(product[:, first:end], first)
    at, values = _largest(product, 130)
    assert np.array_equal(kept.values, values)
    assert np.array_equal(kept.at, at)
