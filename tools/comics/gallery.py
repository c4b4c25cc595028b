"""The comics a caller may see: the list, a comic's versions as a tree, and its picture.

A comic exists for a caller only when every photo it and its earlier versions were drawn from
lies inside the caller's roots; to it the others do not exist (not even to be refined).
"""

from __future__ import annotations

import base64
import contextlib
import os
from pathlib import Path
from typing import TYPE_CHECKING

from photocomic.tools.comics.contract import (
    ComicFileRequest,
    ComicList,
    ComicRecord,
    ComicsRequest,
    Lineage,
    LineageRequest,
    LineageStep,
)
from photocomic.tools.comics.previews import preview_jpeg
from photocomic.tools.comics.studio import ComicStudio
from photocomic.tools.contract import ImageData, page_of
from photocomic.tools.errors import NotFound, PathRefused, unknown_comic
from photocomic.tools.policy import Scope

if TYPE_CHECKING:
    from photocomic.tools.owner.calls import Call

MAX_TREE = 40  # versions of one comic shown as a tree (the newest)
MAX_STEPS = 10  # versions a comic was refined from, shown with their previews (the nearest)


class Seen:
    """Which comics a scope sees, each record judged once per call."""

    def __init__(self, scope: Scope, studio: ComicStudio) -> None:
        self.scope, self.studio = scope, studio
        self.known: dict[str, bool] = {}

    def __call__(self, record: ComicRecord) -> bool:
        if not self.scope.restricted:
            return True
        if record.comic_id in self.known:
            return self.known[record.comic_id]
        self.known[record.comic_id] = False  # a loop in damaged records shows nothing
        seen = all(self.scope.allows(ref.local_path()) for ref in record.photos)
        if seen and record.parent_id:
            with contextlib.suppress(NotFound):  # a deleted earlier version hides nothing
                seen = self(self.studio.get(record.parent_id))
        self.known[record.comic_id] = seen
        return seen


def visible_comic(call: Call, comic_id: str) -> ComicRecord:
    """A comic the caller may see and refine; NotFound, as if absent, for the others."""
    studio = call.library.studio
    record = studio.get(comic_id)
    if not Seen(call.scope, studio)(record):
        raise unknown_comic(comic_id)
    return record


def comics_seen(call: Call) -> list[ComicRecord]:
    studio = call.library.studio
    seen = Seen(call.scope, studio)
    return [r for r in studio.list() if seen(r)]


def list_comics(call: Call, request: ComicsRequest) -> ComicList:
    records = comics_seen(call)
    shown, after = page_of(records, request.offset, None if request.every else request.limit)
    return ComicList(comics=shown, total=len(records), next_offset=after)


def app_comic_lineage(call: Call, request: LineageRequest) -> Lineage:
    """The versions a comic was refined from, and its whole family as a tree."""
    visible_comic(call, request.comic_id)
    studio = call.library.studio
    seen = Seen(call.scope, studio)
    ancestors = [r for r in studio.lineage(request.comic_id) if seen(r)]
    root = ancestors[-1].comic_id if ancestors else request.comic_id
    family = [r for r in _family(studio, root) if seen(r)]
    return Lineage(
        steps=[_step(r, 320) for r in ancestors[:MAX_STEPS]],
        tree=[_step(r, 160) for r in family[-MAX_TREE:]],
    )


def _family(studio: ComicStudio, root: str) -> list[ComicRecord]:
    """Every comic refined (at any depth) from ``root``, and ``root``, oldest first."""
    records = list(reversed(studio.list()))
    parents = {r.comic_id: r.parent_id for r in records}

    def first_of(comic_id: str) -> str:
        seen: set[str] = set()
        while parents.get(comic_id) and comic_id not in seen:
            seen.add(comic_id)
            comic_id = str(parents[comic_id])
        return comic_id

    return [r for r in records if first_of(r.comic_id) == root]


def _step(record: ComicRecord, side: int) -> LineageStep:
    fields = {"comic_id", "parent_id", "user_prompt", "model", "created_at", "photos",
              "variant", "variants", "panel", "panels", "edit"}  # fmt: skip
    preview = base64.b64encode(preview_jpeg(record.path, side)).decode()
    return LineageStep(**record.model_dump(include=fields), preview_jpeg=preview)


def comic_file(call: Call, request: ComicFileRequest) -> ImageData:
    """The comic's PNG (or a small JPEG), read only from inside the data folder."""
    record = visible_comic(call, request.comic_id)
    data_dir = Path(os.path.realpath(call.library.settings.data_dir))
    real = Path(os.path.realpath(record.path))
    if not real.is_relative_to(data_dir):
        raise PathRefused(f"comic {request.comic_id} lies outside the data folder; not read")
    if request.preview:
        return ImageData(mime="image/jpeg", data=base64.b64encode(preview_jpeg(str(real))).decode())
    return ImageData(mime="image/png", data=base64.b64encode(real.read_bytes()).decode())
