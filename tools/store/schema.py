"""The photo collection's constants and what a collection was built with, below the store and
the helpers that work on it (saved file states, upgrades), so that they need not import the
store itself: they see it through :class:`StoreView`."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any, Protocol

SCHEMA_VERSION = "2"
MAX_PATH_CHARS = 16384  # a 4096-byte path, each byte that is not UTF-8 shown as \xNN
MAX_TAGS = 5
PROP_MODEL = "photocomic.model"
PROP_DIM = "photocomic.dim"
PROP_SCHEMA = "photocomic.schema"
PROP_PRECISION = "photocomic.precision"
QUERY_PAGE = 4000
SESSION = "Session"  # a search right after a write sees it
STRONG = "Strong"  # counts and re-scans
# The vector index of every collection (photos, subjects): Milvus servers want both HNSW
# parameters (2.3 refuses an index without efConstruction; Milvus Lite takes either).
VECTOR_INDEX: dict[str, Any] = {
    "index_type": "HNSW", "metric_type": "COSINE", "params": {"M": 16, "efConstruction": 200},
}  # fmt: skip


@dataclass(frozen=True)
class ModelInfo:
    """What a collection was built with; ``precision`` is the recorded precision decision."""

    model: str
    dim: int
    precision: dict[str, Any] | None = None


class StoreView(Protocol):
    """What the file states and the upgrades use of the photo store."""

    uri: str
    collection: str
    client: Any
    states: Any

    def iter_entities(self, fields: Sequence[str]) -> Iterator[dict[str, Any]]: ...

    def model_info(self) -> ModelInfo | None: ...

    def guard(self, doing: str) -> AbstractContextManager[Any]: ...

    def create(self, name: str, model: str, dim: int, precision: dict[str, Any] | None) -> None: ...
