"""One object that the command line and the MCP server both drive: the store opened once, the
model loaded on first use, and every operation a front door offers.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

from .comics import ComicRecord, ComicRequest, ComicStudio, DryRunResult, PhotoRef
from .config import Settings
from .errors import InvalidInput
from .indexer import Indexer
from .library import Roots
from .results import LibraryStatus
from .search import Searcher, SearchFilters
from .store import PhotoStore

if TYPE_CHECKING:
    from .embedder import Embedder


class PhotoLibrary:
    """The photo library behind both front doors. Not tied to MCP: no protocol types here."""

    def __init__(self, settings: Settings, restrict_to_roots: bool = False) -> None:
        self.settings = settings
        self.roots = Roots(settings.roots)
        self.restrict = restrict_to_roots
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        self.store = PhotoStore(settings)
        self._embedder: Embedder | None = None
        self._embedder_lock = threading.Lock()
        self.searcher = Searcher(self.store, self.embedder)
        self.studio = ComicStudio(settings)

    def close(self) -> None:
        self.store.close()

    def __enter__(self) -> PhotoLibrary:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def embedder(self) -> Embedder:
        """The model, loaded once on first use (start-up stays fast)."""
        with self._embedder_lock:
            if self._embedder is None:
                from .embedder import Embedder

                self._embedder = Embedder.from_settings(self.settings)
            return self._embedder

    def indexer(self) -> Indexer:
        s = self.settings
        return Indexer(
            self.store,
            self.embedder,
            model_name=s.model,
            batch_size=s.batch_size,
            workers=s.workers,
            include_hidden=s.include_hidden,
            roots=self.roots.require() if self.restrict else None,
        )

    def allowed(self, raw: str, want: str = "any") -> Path:
        """A user-given path checked against the roots (MCP), or simply resolved (CLI)."""
        if self.restrict:
            return self.roots.resolve(raw, want)
        return Path(raw).expanduser().resolve()

    def search_filters(
        self,
        folder: str | None = None,
        taken_after: date | None = None,
        taken_before: date | None = None,
        tag: str | None = None,
    ) -> SearchFilters | None:
        """Search filters with the folder checked like any other path; None when empty."""
        if not (folder or taken_after or taken_before or tag):
            return None
        return SearchFilters(
            folder=str(self.allowed(folder, "dir")) if folder else None,
            taken_after=taken_after,
            taken_before=taken_before,
            tag=tag,
        )

    def status(self) -> LibraryStatus:
        info = self.store.model_info()
        return LibraryStatus(
            db=self.store.uri,
            collection=self.store.collection,
            model=info[0] if info else None,
            dim=info[1] if info else None,
            photos=self.store.count() if info else 0,
            data_dir=str(self.settings.data_dir),
            roots=[str(r) for r in self.roots.configured],
            comics=len(self.studio.list()),
        )

    def photo_refs(self, photos: Sequence[str | int]) -> list[PhotoRef]:
        """Photo ids (from searches) or paths (inside the roots for MCP) as comic references."""
        refs: list[PhotoRef] = []
        ids = [int(p) for p in photos if _is_photo_id(p)]
        rows = {r.photo_id: r for r in self.store.get(ids)} if ids else {}
        for item in photos:
            if _is_photo_id(item):
                row = rows[int(item)]
                refs.append(PhotoRef(photo_id=row.photo_id, path=row.path))
            else:
                path = str(self.allowed(str(item), "file"))
                known = self.store.find_path(path)
                refs.append(PhotoRef(photo_id=known.photo_id if known else None, path=path))
        return refs

    def comic(
        self, request: ComicRequest, photos: Sequence[str | int]
    ) -> ComicRecord | DryRunResult:
        request = request.model_copy(update={"photos": self.photo_refs(photos)})
        return self.studio.generate(request)


def _is_photo_id(item: str | int) -> bool:
    if isinstance(item, int):
        if item < 0:
            raise InvalidInput(f"photo ids are positive numbers, not {item}")
        return True
    # ASCII digits only ("²".isdigit() is true), and no longer than an int64 can be
    return item.isascii() and item.isdigit() and len(item) <= 20
