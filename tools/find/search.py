"""Searching by example and by words: turn each query (a file, an indexed photo, image bytes,
several liked and disliked photos, or tag words) into a vector or a tag filter, ask the store
for the nearest or best-tagged photos under the caller's filters, optionally re-rank them for
variety, and shape the hits for people and assistants.

``search_similar`` and ``find_photos`` are the operations (their requests name them); they
judge what the caller names against its scope and leave the searching to :class:`Searcher`.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import numpy as np
from photocomic.tools.errors import DecodeError, InvalidInput, NotFound
from photocomic.tools.find.contract import (
    DuplicateReport,
    FindRequest,
    SearchAnswer,
    SearchResult,
    SimilarRequest,
)
from photocomic.tools.find.duplicate_checks import DuplicateChecks
from photocomic.tools.find.filters import (
    SearchFilters,
    all_of,
    resolve_tags,
    tag_expression,
    tag_score,
)
from photocomic.tools.find.ranking import (
    DIVERSITY_POOL,
    MAX_POOL,
    answer_of,
    combine_examples,
    diversified,
    to_hits,
)
from photocomic.tools.find.subjects import subject_photos, subject_sees
from photocomic.tools.photos.images import open_photo
from photocomic.tools.photos.taxonomy import TagQuery, resolve_words
from photocomic.tools.policy import check_limit, check_offset, decode_upload
from photocomic.tools.policy import photo_ids as checked_ids
from photocomic.tools.store.photo_store import PhotoStore
from photocomic.tools.store.rows import Hit

if TYPE_CHECKING:
    from photocomic.tools.owner.calls import Call
    from photocomic.tools.photos.embedding import PhotoEmbedder


def search_similar(call: Call, request: SimilarRequest) -> SearchAnswer:
    """Photos like the caller's examples, which must lie inside its roots."""
    filters = call.filters(request)
    images = request.query_images()
    sources: list[str | bytes] = [str(call.scope.resolve(i, "file")) for i in images]
    if request.image_base64 is not None:
        sources.append(decode_upload(request.image_base64, call.settings.max_upload_bytes))
    results = call.library.searcher.similar(
        sources=sources or None, photo_ids=request.query_ids() or None,
        like=request.like or None, unlike=request.unlike or None, limit=request.limit,
        filters=filters, diversify=request.diversify, allow=call.check_ids,
    )  # fmt: skip
    for result in results:
        if result.query.startswith("uploaded image"):
            result.query = "the uploaded image" + result.query[len("uploaded image") :]
    return answer_of(call.scope, results, request.sheet)


def find_photos(call: Call, request: FindRequest) -> SearchAnswer:
    """Photos of a remembered subject when the text names one, else by tag words."""
    filters = call.filters(request)
    subject = call.library.subjects.find(request.text, subject_sees(call))
    if subject is not None:
        return subject_photos(call, subject, request, filters)
    found = call.library.searcher.find(
        request.text, request.limit, filters, request.diversify, request.offset
    )
    return answer_of(call.scope, [found], request.sheet)


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

    def __init__(self, store: PhotoStore, embedder: Callable[[], PhotoEmbedder]) -> None:
        self.store = store
        self._embedder = embedder
        self.duplicate_checks = DuplicateChecks(store)

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
        allow: Callable[[list[int]], None] | None = None,
    ) -> list[SearchResult]:
        """Photos like the examples, under the filters; ``allow`` judges the example ids
        (the caller's roots) once they are known to be ids.

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
        if allow is not None:
            allow([*ids, *liked, *disliked])
        self.store.require()
        expr = filters.expression() if filters else ""
        names = [_source_name(s, n, len(sources)) for n, s in enumerate(sources, start=1)]
        names += [f"photo {pid}" for pid in ids]
        parts = [self.embed_sources(sources)] if sources else []
        if ids:
            parts.append(self._vectors(ids))
        if liked or disliked:
            examples = [*ids, *liked, *disliked, *self._indexed_ids(sources)]
            names, vectors, expr = self._combined(names, parts, liked, disliked, examples, expr)
        else:
            vectors = np.vstack(parts)
        pool = min(MAX_POOL, max(limit * DIVERSITY_POOL, 40)) if diversify else limit
        found = self.store.search(vectors, pool, expr, with_vectors=diversify)
        results = []
        for name, hits in zip(names, found, strict=True):
            shown = diversified(hits, limit) if diversify else hits
            results.append(SearchResult(query=name, hits=to_hits(shown)))
        return _with_note(results, filters)

    def _combined(
        self,
        names: list[str],
        parts: list[np.ndarray],
        liked: list[int],
        disliked: list[int],
        examples: list[int],
        expr: str,
    ) -> tuple[list[str], np.ndarray, str]:
        """One query from every example and the disliked ones, leaving the examples out."""
        if liked:
            parts.append(self._vectors(liked))
        negatives = self._vectors(disliked) if disliked else None
        query = combine_examples(np.vstack(parts), negatives)
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
        return [label], query[None, :], all_of(expr, exclude)

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
        end = offset + limit
        return SearchResult(
            query=text, hits=to_hits(hits[:limit], start=offset + 1), note=note,
            total=len(scored), next_offset=end if end < len(scored) else None,
        )  # fmt: skip

    # -- duplicates ------------------------------------------------------------------------

    def duplicates(
        self, threshold: float | None = None, filters: SearchFilters | None = None
    ) -> DuplicateReport:
        """Groups of near-identical photos (see :mod:`duplicates`), largest group first, once
        the check has ended; ``threshold`` None means the measured default."""
        report = self.duplicate_checks.report(threshold, filters)
        assert isinstance(report, DuplicateReport)
        return report
