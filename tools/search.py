"""Searching by example: turn each query (a file, an indexed photo, image bytes) into a vector,
ask the store for its nearest photos, and shape the hits for people and assistants.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime, timezone
from typing import TYPE_CHECKING

import numpy as np
from pydantic import BaseModel

from .errors import DecodeError, InvalidInput
from .images import open_photo
from .store import Hit, PhotoStore

if TYPE_CHECKING:
    from .embedder import Embedder

MAX_LIMIT = 100


class SearchHit(BaseModel):
    """One found photo. ``rank`` is its number on the contact sheet (#1, #2, ...)."""

    rank: int
    photo_id: int
    path: str
    score: float
    taken_at: str
    width: int
    height: int
    labels: list[str] = []


class SearchResult(BaseModel):
    query: str
    hits: list[SearchHit]


def iso_time(seconds: int | float) -> str:
    return datetime.fromtimestamp(seconds, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def check_limit(limit: int) -> int:
    if not 1 <= limit <= MAX_LIMIT:
        raise InvalidInput(f"limit must be between 1 and {MAX_LIMIT}, not {limit}")
    return limit


def to_hits(hits: Sequence[Hit]) -> list[SearchHit]:
    return [
        SearchHit(
            rank=n,
            photo_id=h.row.photo_id,
            path=h.row.path,
            score=round(min(1.0, h.score), 4),
            taken_at=iso_time(h.row.taken_at),
            width=h.row.width,
            height=h.row.height,
            labels=h.row.labels,
        )
        for n, h in enumerate(hits, start=1)
    ]


class Searcher:
    """Queries against one store with one (lazily loaded) embedder."""

    def __init__(self, store: PhotoStore, embedder: Callable[[], Embedder]) -> None:
        self.store = store
        self._embedder = embedder

    def _search(self, queries: list[str], vectors: np.ndarray, limit: int) -> list[SearchResult]:
        check_limit(limit)
        self.store.require()
        found = self.store.search(vectors, limit)
        return [SearchResult(query=q, hits=to_hits(h)) for q, h in zip(queries, found, strict=True)]

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

    def by_files(self, paths: Sequence[str], limit: int) -> list[SearchResult]:
        check_limit(limit)
        self.store.require()
        return self._search(list(paths), self.embed_sources(paths), limit)

    def by_bytes(self, data: bytes, limit: int, name: str = "uploaded image") -> SearchResult:
        check_limit(limit)
        self.store.require()
        return self._search([name], self.embed_sources([data]), limit)[0]

    def by_ids(self, photo_ids: Sequence[int], limit: int) -> list[SearchResult]:
        check_limit(limit)
        self.store.require()
        rows = self.store.get(photo_ids, with_vectors=True)
        vectors = np.stack([r.vector for r in rows if r.vector is not None])
        return self._search([f"photo {pid}" for pid in photo_ids], vectors, limit)
