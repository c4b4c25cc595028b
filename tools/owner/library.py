"""One photo store and what works on it: the model, the searcher, the subjects and the
comics, shared by every door that asks for that store.

Not an operation list: operations are functions in their steps' packages (their requests name
them) that reach these parts through their :class:`~photocomic.tools.owner.calls.Call`.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from photocomic.tools.comics.comic_store import ComicStore
from photocomic.tools.comics.contract import ComicRecord
from photocomic.tools.comics.previews import side_by_side
from photocomic.tools.config import Settings
from photocomic.tools.errors import ModelMismatch
from photocomic.tools.find.search import Searcher
from photocomic.tools.find.subject_model import Subjects
from photocomic.tools.photos.contract import IndexSummary
from photocomic.tools.photos.indexer import Indexer, ProgressFn, check_model
from photocomic.tools.policy import Scope, require_roots
from photocomic.tools.store.milvus import Connection
from photocomic.tools.store.photo_store import PhotoStore

if TYPE_CHECKING:
    from photocomic.tools.photos.embedding import PhotoEmbedder

EmbedderFn = Callable[[], "PhotoEmbedder"]


class Library:
    """One store and its model, shared by every door that asks for it."""

    def __init__(
        self,
        settings: Settings,
        embedder: EmbedderFn | None = None,
        connection: Connection | None = None,
    ) -> None:
        self.settings = settings
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        self.store = PhotoStore(settings, connection)
        self._embedder: PhotoEmbedder | None = None
        self._lock = threading.Lock()
        self._load_embedder = embedder or self._own_embedder
        self.searcher = Searcher(self.store, self.embedder)
        self.comics = ComicStore(settings.comics_dir)
        self.subjects = Subjects(self.store)
        self.writing = threading.Lock()  # one index run (or migration) writes at a time

    def close(self) -> None:
        self.store.close()

    def __enter__(self) -> Library:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _own_embedder(self) -> PhotoEmbedder:
        from photocomic.tools.photos.loading import load_embedder

        return load_embedder(self.settings)

    def embedder(self) -> PhotoEmbedder:
        """The model, loaded once on first use (start-up stays fast)."""
        with self._lock:
            if self._embedder is None:
                self._embedder = self._load_embedder()
            return self._embedder

    @property
    def model_loaded(self) -> bool:
        return self._embedder is not None

    def index(
        self,
        scope: Scope,
        folder: str | Path,
        recursive: bool = True,
        progress: ProgressFn | None = None,
        cancel: threading.Event | None = None,
        knobs: Settings | None = None,
    ) -> IndexSummary:
        """Index one folder, already resolved inside ``scope`` by the operation that asked;
        ``knobs`` are the asking door's batch size, workers and hidden files."""
        require_roots(scope)
        s = knobs or self.settings
        check_model(self.store, s.model)  # the asking door's model, against the stored one
        if s.model != self.settings.model:
            raise ModelMismatch(
                f"this library is open with model {self.settings.model}, not {s.model}: use a "
                f"separate store for {s.model} (--db another.db or PHOTOCOMIC_COLLECTION)"
            )
        with self.writing:
            return self.indexer(scope, s).index(
                [Path(folder)], recursive=recursive, progress=progress, cancel=cancel
            )

    def indexer(self, scope: Scope, knobs: Settings | None) -> Indexer:
        s = knobs or self.settings
        return Indexer(
            self.store, self.embedder, model_name=self.settings.model, batch_size=s.batch_size,
            workers=s.workers, include_hidden=s.include_hidden,
            roots=scope.real_roots() if scope.restricted else None,
        )  # fmt: skip

    def variants_sheet(self, record: ComicRecord) -> bytes:
        """The drawings of one request side by side, numbered as the answer lists them."""
        paths = [self.comics.get(comic_id).path for comic_id in record.variants]
        return side_by_side(paths)
