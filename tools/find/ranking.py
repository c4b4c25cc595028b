"""Ordering hits: one query from several examples, variety among near-identical shots, and
the hits as the doors show them."""

from __future__ import annotations

import base64
from collections.abc import Sequence
from datetime import datetime, timezone

import numpy as np
from photocomic.tools.comics.previews import hit_sheet
from photocomic.tools.find.contract import SearchAnswer, SearchHit, SearchResult
from photocomic.tools.policy import Scope
from photocomic.tools.store.rows import Hit, raw_form

# Diversity re-ranks a pool of the nearest candidates: large enough to hold the distinct
# photos behind a burst of near-identical shots, small enough to stay a single fast search.
DIVERSITY_POOL = 4


MAX_POOL = 400


# Maximal marginal relevance: 1.0 is plain similarity, lower values trade relevance for
# variety. Similarity to an already chosen photo only counts above MMR_FLOOR, so photos that
# merely share a subject are not pushed down, near-identical shots are. Measured in
# bench/quality.py (diversity_figures, Imagenette with bursts of 6 shots): plain MMR at 0.7
# costs 0.04 P@10 and still lets a burst fill 7 of 10 places; 0.5 above 0.8 keeps one shot
# per burst and costs nothing measurable (P@10 0.931 either way without bursts).
MMR_LAMBDA = 0.5


MMR_FLOOR = 0.8


# Weight of disliked examples against liked ones in the combined query (Rocchio's gamma,
# relative to a beta of 1; measured in bench/quality.py: see examples_figures).
UNLIKE_WEIGHT = 0.5


def iso_time(seconds: int | float) -> str:
    return datetime.fromtimestamp(seconds, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def to_hits(hits: Sequence[Hit], start: int = 1) -> list[SearchHit]:
    return [
        SearchHit(
            rank=n,
            photo_id=h.row.photo_id,
            path=h.row.shown,
            raw_path=raw_form(h.row.path) or None,
            score=round(min(1.0, h.score), 4),
            taken_at=iso_time(h.row.taken_at),
            width=h.row.width,
            height=h.row.height,
            labels=h.row.labels,
        )
        for n, h in enumerate(hits, start=start)
    ]


def combine_examples(
    positives: np.ndarray, negatives: np.ndarray | None = None, unlike_weight: float = UNLIKE_WEIGHT
) -> np.ndarray:
    """One query vector from liked and disliked examples (Rocchio's formula).

    Why the mean: for unit vectors, ranking by cosine to the mean of the liked examples is
    ranking by their average similarity, so every example counts equally and what they
    share dominates. Disliked examples pull the query away from what they show.
    """
    query = _unit(np.asarray(positives, dtype=np.float32).mean(axis=0))
    if negatives is not None and len(negatives):
        query = query - unlike_weight * _unit(np.asarray(negatives, dtype=np.float32).mean(axis=0))
    return _unit(query)


def _unit(vector: np.ndarray) -> np.ndarray:
    norm = float(np.linalg.norm(vector))
    return vector / norm if norm > 0 else vector


def mmr_order(
    relevance: np.ndarray,
    vectors: np.ndarray,
    k: int,
    lam: float = MMR_LAMBDA,
    floor: float = MMR_FLOOR,
) -> list[int]:
    """Maximal marginal relevance: indices of ``k`` candidates, each chosen for its relevance
    minus its similarity to those already chosen, so a burst of near-identical shots gives
    one pick and the next places go to different photos. Similarity counts only above
    ``floor`` (rescaled to 0..1), which leaves photos that merely look related alone.
    """
    count = len(relevance)
    if count == 0:
        return []
    vectors = np.asarray(vectors, dtype=np.float32)
    similarity = vectors @ vectors.T
    if floor > 0:
        similarity = np.clip((similarity - floor) / (1.0 - floor), 0.0, None)
    chosen = [int(np.argmax(relevance))]
    closest = similarity[chosen[0]].copy()
    taken = np.zeros(count, dtype=bool)
    taken[chosen[0]] = True
    while len(chosen) < min(k, count):
        gain = lam * relevance - (1.0 - lam) * closest
        gain[taken] = -np.inf
        pick = int(np.argmax(gain))
        chosen.append(pick)
        taken[pick] = True
        closest = np.maximum(closest, similarity[pick])
    return chosen


def diversified(
    hits: Sequence[Hit], limit: int, lam: float = MMR_LAMBDA, floor: float = MMR_FLOOR
) -> list[Hit]:
    """The ``limit`` hits that MMR picks; each keeps its own score, ranks follow the picks."""
    with_vectors = [h for h in hits if h.row.vector is not None]
    if len(with_vectors) <= 1:
        return list(hits[:limit])
    relevance = np.array([h.score for h in with_vectors], dtype=np.float32)
    vectors = np.stack([h.row.vector for h in with_vectors])  # type: ignore[misc]
    return [with_vectors[i] for i in mmr_order(relevance, vectors, limit, lam, floor)]


def answer_of(scope: Scope, results: list[SearchResult], sheet: bool) -> SearchAnswer:
    """The answer a door shows; with ``sheet``, a numbered contact sheet of the first result
    (cells of photos outside the caller's roots stay blank)."""
    for result in results:
        seen_only(scope, result)
    answer = SearchAnswer(results=results)
    if sheet and results and results[0].hits:
        paths = [h.local_path() for h in results[0].hits]
        allowed = [p if scope.allows(p) else None for p in paths]
        answer.sheet_jpeg = base64.b64encode(hit_sheet(allowed, scope.within())).decode()
    return answer


def seen_only(scope: Scope, result: SearchResult) -> None:
    """Hits whose file really lies (links resolved) inside the caller's roots: a photo the
    command line indexed through a link in A that leads to B is not A's. The store judges
    the stored path; this judges the real one, and counts the dropped ones out of ``total``."""
    if not scope.restricted or not result.hits:
        return
    kept = [h for h in result.hits if scope.allows(h.local_path())]
    if len(kept) == len(result.hits):
        return
    dropped, first = len(result.hits) - len(kept), result.hits[0].rank
    result.hits = [h.model_copy(update={"rank": first + n}) for n, h in enumerate(kept)]
    if result.total is not None:
        result.total -= dropped
