"""Searching by example and by words: turn each query (a file, an indexed photo, image bytes,
several liked and disliked photos, or tag words) into a vector or a tag filter, ask the store
for the nearest or best-tagged photos under the caller's filters, optionally re-rank them for
variety, and shape the hits for people and assistants.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from datetime import date, datetime, time, timedelta, timezone
from typing import TYPE_CHECKING

import numpy as np
from photocomic.tools.errors import DecodeError, InvalidInput, NotFound
from photocomic.tools.find.duplicates import DUPLICATE_THRESHOLD, find_duplicates
from photocomic.tools.photos.images import open_photo
from photocomic.tools.photos.taxonomy import TagQuery, no_match_message, resolve_words
from photocomic.tools.policy import check_limit, check_offset
from photocomic.tools.policy import photo_ids as checked_ids
from photocomic.tools.results import DuplicateReport, SearchHit, SearchResult
from photocomic.tools.store.photo_store import (
    PhotoStore,
    any_folder_expression,
    folder_expression,
    quote,
)
from photocomic.tools.store.rows import Hit, raw_form
from pydantic import BaseModel, Field

if TYPE_CHECKING:
    from photocomic.tools.photos.embedder import Embedder

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


class SearchFilters(BaseModel):
    """Conditions a hit must meet; they become one Milvus filter expression.

    Why in Milvus: a filtered vector search returns ``limit`` matching photos, where
    filtering afterwards in Python would return fewer (or none) from a large library.
    """

    folder: str | None = Field(
        None, description="only photos under this folder (its resolved path, a prefix)"
    )
    taken_after: date | None = Field(None, description="only photos taken on or after this day")
    taken_before: date | None = Field(None, description="only photos taken on or before this day")
    tag: str | None = Field(
        None, description="words naming a tag label or category: 'dog', 'golf ball', 'boats'"
    )
    within: list[str] | None = Field(
        None, description="only photos under one of these folders (a caller's allowed roots)"
    )

    def expression(self) -> str:
        """The Milvus filter for these conditions ("" when there are none)."""
        parts: list[str] = []
        if self.within is not None:
            parts.append(any_folder_expression(self.within) if self.within else "id < 0")
        if self.folder:
            parts.append(folder_expression(self.folder))
        if self.taken_after and self.taken_before and self.taken_after > self.taken_before:
            raise InvalidInput(
                f"taken_after ({self.taken_after}) is later than taken_before "
                f"({self.taken_before}); no photo can match"
            )
        if self.taken_after:
            parts.append(f"taken_at >= {_epoch(self.taken_after)}")
        if self.taken_before:
            parts.append(f"taken_at < {_epoch(self.taken_before + timedelta(days=1))}")
        if self.tag:
            parts.append(tag_expression(resolve_tags(self.tag)))
        return all_of(*parts)


def _epoch(day: date) -> int:
    """Midnight UTC at the start of ``day``, in the epoch seconds ``taken_at`` holds."""
    return int(datetime.combine(day, time.min, tzinfo=timezone.utc).timestamp())


def all_of(*parts: str) -> str:
    """Filter expressions joined with ``and`` (empty ones skipped)."""
    kept = [p for p in parts if p]
    if len(kept) <= 1:
        return kept[0] if kept else ""
    return " and ".join(f"({p})" for p in kept)


def resolve_tags(text: str) -> TagQuery:
    """The labels and categories that ``text`` names; InvalidInput with suggestions if none."""
    if not text.strip():
        raise InvalidInput("give some words to find: a kind of thing ('dog', 'golf ball')")
    query = resolve_words(text)
    if not query:
        raise InvalidInput(no_match_message(text))
    return query


def tag_expression(query: TagQuery) -> str:
    """Photos tagged with any label or category the query names."""
    parts = []
    if query.categories:
        listed = ", ".join(quote(c) for c in query.categories)
        parts.append(f"array_contains_any(categories, [{listed}])")
    if query.labels:
        listed = ", ".join(quote(label) for label in query.labels)
        parts.append(f"array_contains_any(labels, [{listed}])")
    return " or ".join(parts)


def tag_score(query: TagQuery, entity: dict[str, object]) -> float:
    """How sure the model is that a photo shows what the query names: the summed probability
    of the named categories and labels (a category score is already a sum over its classes).
    """
    wanted_categories, wanted_labels = set(query.categories), set(query.labels)
    total = 0.0
    for names, scores, wanted in (
        ("categories", "category_scores", wanted_categories),
        ("labels", "label_scores", wanted_labels),
    ):
        for name, score in zip(entity.get(names) or [], entity.get(scores) or [], strict=False):  # type: ignore[call-overload]
            if name in wanted:
                total += float(score)
    return min(1.0, total)


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


def _ignored(query: TagQuery) -> str | None:
    """The note for words of a tag query that named nothing (the rest still counts)."""
    if not query.unmatched:
        return None
    return "ignored words that name no tag: " + ", ".join(query.unmatched)


def _with_note(results: list[SearchResult], filters: SearchFilters | None) -> list[SearchResult]:
    note = _ignored(resolve_words(filters.tag)) if filters and filters.tag else None
    for result in results:
        result.note = note
    return results


def _source_name(source: str | bytes, n: int, count: int) -> str:
    if isinstance(source, bytes):
        return "uploaded image" if count == 1 else f"uploaded image {n}"
    return str(source)


class Searcher:
    """Queries against one store with one (lazily loaded) embedder."""

    def __init__(self, store: PhotoStore, embedder: Callable[[], Embedder]) -> None:
        self.store = store
        self._embedder = embedder

    # -- by example ------------------------------------------------------------------------

    def embed_sources(self, sources: Sequence[str | bytes]) -> np.ndarray:
        """Vectors for image files or bytes; an unreadable one raises DecodeError naming it."""
        embedder = self._embedder()
        prepared = []
        for source in sources:
            try:
                photo = open_photo(source, min_side=embedder.decode_side)
            except DecodeError as exc:
                name = "the uploaded image" if isinstance(source, bytes) else str(source)
                raise DecodeError(f"cannot read query image {name}: {exc}") from None
            prepared.append(embedder.prepare(photo.image))
        return embedder.embed(prepared).vectors

    def similar(
        self,
        sources: Sequence[str | bytes] | None = None,
        photo_ids: Sequence[int] | None = None,
        like: Sequence[int] | None = None,
        unlike: Sequence[int] | None = None,
        limit: int = 10,
        filters: SearchFilters | None = None,
        diversify: bool = False,
    ) -> list[SearchResult]:
        """Photos like the examples, under the filters.

        Without ``like``/``unlike``: one result per source and per photo id, in that order.
        With them: every example (sources, photo ids and ``like``) combines with the
        ``unlike`` ones into a single query, and one result comes back that leaves the
        example photos themselves out.
        """
        check_limit(limit)
        sources = list(sources or [])
        ids = checked_ids("photo_ids", photo_ids)
        liked, disliked = checked_ids("like", like), checked_ids("unlike", unlike)
        both = set(liked) & set(disliked)
        if both:
            raise InvalidInput(f"photo {min(both)} is in both like and unlike; choose one")
        if not (sources or ids or liked):
            raise InvalidInput(
                "give at least one example: a photo file, image bytes, a photo id, or like="
                "[photo ids]" + ("; unlike alone cannot say what to look for" if disliked else "")
            )
        self.store.require()
        expr = filters.expression() if filters else ""
        names = [_source_name(s, n, len(sources)) for n, s in enumerate(sources, start=1)]
        names += [f"photo {pid}" for pid in ids]
        parts = [self.embed_sources(sources)] if sources else []
        if ids:
            parts.append(self._vectors(ids))
        if not (liked or disliked):
            results = self._nearest(names, np.vstack(parts), limit, expr, diversify)
            return _with_note(results, filters)

        if liked:
            parts.append(self._vectors(liked))
        negatives = self._vectors(disliked) if disliked else None
        query = combine_examples(np.vstack(parts), negatives)
        examples = [*ids, *liked, *disliked, *self._indexed_ids(sources)]
        exclude = f"id not in [{', '.join(str(i) for i in dict.fromkeys(examples))}]"
        label = "; ".join(
            part
            for part in (
                ", ".join(names),
                "like " + ", ".join(map(str, liked)) if liked else "",
                "unlike " + ", ".join(map(str, disliked)) if disliked else "",
            )
            if part
        )
        results = self._nearest([label], query[None, :], limit, all_of(expr, exclude), diversify)
        return _with_note(results, filters)

    def _vectors(self, photo_ids: Sequence[int]) -> np.ndarray:
        rows = self.store.get(photo_ids, with_vectors=True)
        return np.stack([r.vector for r in rows if r.vector is not None])

    def _indexed_ids(self, sources: Sequence[str | bytes]) -> list[int]:
        """Ids of query files that are themselves in the library (left out of example hits)."""
        found = []
        for source in sources:
            if isinstance(source, str):
                row = self.store.find_path(os.path.realpath(source))
                if row is not None:
                    found.append(row.photo_id)
        return found

    def _nearest(
        self, names: list[str], vectors: np.ndarray, limit: int, expr: str, diversify: bool
    ) -> list[SearchResult]:
        pool = min(MAX_POOL, max(limit * DIVERSITY_POOL, 40)) if diversify else limit
        found = self.store.search(vectors, pool, expr, with_vectors=diversify)
        results = []
        for name, hits in zip(names, found, strict=True):
            if diversify:
                hits = diversified(hits, limit)
            results.append(SearchResult(query=name, hits=to_hits(hits)))
        return results

    # the original single-purpose entry points, kept for callers written against them

    def by_files(self, paths: Sequence[str], limit: int) -> list[SearchResult]:
        return self.similar(sources=list(paths), limit=limit)

    def by_ids(self, photo_ids: Sequence[int], limit: int) -> list[SearchResult]:
        return self.similar(photo_ids=photo_ids, limit=limit)

    # -- by words --------------------------------------------------------------------------

    def find(
        self,
        text: str,
        limit: int = 10,
        filters: SearchFilters | None = None,
        diversify: bool = False,
        offset: int = 0,
    ) -> SearchResult:
        """Photos tagged with what ``text`` names ("dog", "border collie", "golf balls"),
        best-scored first, from place ``offset`` on. Words that name nothing raise
        InvalidInput with suggestions.
        """
        check_limit(limit)
        check_offset(offset)
        query = resolve_tags(text)
        self.store.require()
        expr = all_of(tag_expression(query), filters.expression() if filters else "")
        fields = ["labels", "label_scores", "categories", "category_scores", "taken_at"]
        scored: list[tuple[float, int, int]] = []
        for entity in self.store.iter_entities(expr, fields=fields):
            score = tag_score(query, entity)
            scored.append((score, int(entity["taken_at"]), int(entity["id"])))
        if not scored and not self.store.has_tags():
            raise NotFound(
                "no photo in this library has tags: they come from the default model's "
                "ImageNet head. Re-index with the default model (tf_efficientnet_lite0) to "
                "find photos by words, or search by example."
            )
        scored.sort(key=lambda item: (-item[0], -item[1], item[2]))
        pool = min(MAX_POOL, max(limit * DIVERSITY_POOL, 40)) if diversify else limit
        top = scored[offset : offset + pool]
        rows = self.store.get([pid for _, _, pid in top], with_vectors=diversify)
        hits = [Hit(row, score) for row, (score, _, _) in zip(rows, top, strict=True)]
        if diversify:
            hits = diversified(hits, limit)
        note = _ignored(query)
        return SearchResult(
            query=text, hits=to_hits(hits[:limit], start=offset + 1), note=note, total=len(scored)
        )

    # -- duplicates ------------------------------------------------------------------------

    def duplicates(
        self, threshold: float | None = None, filters: SearchFilters | None = None
    ) -> DuplicateReport:
        """Groups of near-identical photos (see :mod:`duplicates`), largest group first.

        ``threshold`` None means the measured default, DUPLICATE_THRESHOLD.
        """
        self.store.require()
        chosen = DUPLICATE_THRESHOLD if threshold is None else threshold
        return find_duplicates(self.store, chosen, filters.expression() if filters else "")


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
