"""One call of one operation: who asks (the door, its settings, its roots) and the checks every
operation applies to what the caller names, so none can forget its scope.

The engine makes a :class:`Call` for each request and hands it to the operation's handler,
found in ``tools/owner/dispatch.py``. Photo ids, paths and filters pass
:mod:`policy` here, once, whichever operation they arrive with.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING

from photocomic.tools.config import Settings
from photocomic.tools.contract import PhotoRef
from photocomic.tools.find.contract import Filters
from photocomic.tools.owner.contract import DoorInfo
from photocomic.tools.policy import Scope, photo_items, require_roots

if TYPE_CHECKING:
    from photocomic.tools.comics.comic_store import ComicsSeen
    from photocomic.tools.find.search import SearchFilters
    from photocomic.tools.owner.engine import Engine
    from photocomic.tools.owner.library import Library


@dataclass
class Call:
    """The caller of one operation; ``library`` opens the caller's store on first use."""

    engine: Engine
    door: DoorInfo

    @cached_property
    def scope(self) -> Scope:
        return Scope.of(self.door.roots)

    @cached_property
    def settings(self) -> Settings:
        return self.engine.settings_of(self.door)

    @cached_property
    def library(self) -> Library:
        return self.engine.library(self.settings)

    @cached_property
    def comics(self) -> ComicsSeen:
        """The comics the caller sees (the others do not exist for it)."""
        return self.library.comics.seen_by(self.scope)

    def filters(self, given: Filters) -> SearchFilters:
        """The caller's filters with its folder checked and its roots applied in Milvus."""
        from photocomic.tools.find.search import SearchFilters

        scope = self.scope
        require_roots(scope)
        folder = str(scope.resolve(given.folder, "dir")) if given.folder else None
        return SearchFilters(
            folder=folder, taken_after=given.taken_after, taken_before=given.taken_before,
            tag=given.tag, within=scope.search_roots(),
        )  # fmt: skip

    def photo_refs(self, items: Sequence[int | str]) -> list[PhotoRef]:
        """Photo ids (from searches) or paths (inside the roots for MCP) as references."""
        parsed = photo_items(items)
        store = self.library.store
        ids = [i for i in parsed if isinstance(i, int)]
        rows = {r.photo_id: r for r in store.get(ids)} if ids else {}
        refs: list[PhotoRef] = []
        for item in parsed:
            if isinstance(item, int):
                row = rows[item]
                self.scope.check_photo(row.photo_id, row.path)
                refs.append(row.ref())
                continue
            path = str(self.scope.resolve(item, "file"))
            known = store.find_path(path)
            refs.append(known.ref() if known else PhotoRef(path=path))
        return refs

    def check_ids(self, ids: Sequence[int]) -> None:
        """Photos given by id lie inside the caller's roots (NotFound as if absent, else)."""
        if self.scope.restricted and ids:
            for row in self.library.store.get(list(dict.fromkeys(ids))):
                self.scope.check_photo(row.photo_id, row.path)
