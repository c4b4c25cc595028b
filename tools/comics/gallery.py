"""The comics a caller may see: the list, a comic's versions as a tree, and its picture
(:meth:`ComicStore.seen_by` decides which)."""

from __future__ import annotations

import base64
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
from photocomic.tools.contract import ImageData, page_of
from photocomic.tools.errors import NotFound, PathRefused
from photocomic.tools.photos.images import encode_png
from PIL import Image

if TYPE_CHECKING:
    from photocomic.tools.owner.calls import Call

MAX_TREE = 40  # versions of one comic shown as a tree (the newest)
MAX_STEPS = 10  # versions a comic was refined from, shown with their previews (the nearest)


def list_comics(call: Call, request: ComicsRequest) -> ComicList:
    records = call.comics.list()
    shown, after = page_of(records, request.offset, None if request.every else request.limit)
    return ComicList(comics=shown, total=len(records), next_offset=after)


def app_comic_lineage(call: Call, request: LineageRequest) -> Lineage:
    """The versions a comic was refined from, and its whole family as a tree."""
    comics = call.comics
    comics.get(request.comic_id)
    ancestors = comics.lineage(request.comic_id)
    root = ancestors[-1].comic_id if ancestors else request.comic_id
    family = comics.family(root)
    return Lineage(
        steps=[_step(r, 320) for r in ancestors[:MAX_STEPS]],
        tree=[_step(r, 160) for r in family[-MAX_TREE:]],
    )


def _step(record: ComicRecord, side: int) -> LineageStep:
    fields = {"comic_id", "parent_id", "user_prompt", "model", "created_at", "photos",
              "variant", "variants", "panel", "panels", "edit", "letters", "format",
              "frames"}  # fmt: skip
    preview = base64.b64encode(preview_jpeg(record.path, side)).decode()
    return LineageStep(**record.model_dump(include=fields), preview_jpeg=preview)


def comic_file(call: Call, request: ComicFileRequest) -> ImageData:
    """The comic's PNG (or a small JPEG), read only from inside the data folder."""
    record = call.comics.get(request.comic_id)
    data_dir = Path(os.path.realpath(call.library.settings.data_dir))
    real = Path(os.path.realpath(record.path))
    if not real.is_relative_to(data_dir):
        raise PathRefused(f"comic {request.comic_id} lies outside the data folder; not read")
    if record.format == "gif" and not request.animation:
        first = preview_jpeg(str(real)) if request.preview else _first_frame_png(real)
        mime = "image/jpeg" if request.preview else "image/png"
        return ImageData(mime=mime, data=base64.b64encode(first).decode())
    if request.animation and record.format != "gif":
        raise NotFound(f"comic {request.comic_id} is a still comic: read comic://{request.comic_id}")
    if request.preview:
        return ImageData(mime="image/jpeg", data=base64.b64encode(preview_jpeg(str(real))).decode())
    mime = "image/gif" if record.format == "gif" else "image/png"
    return ImageData(mime=mime, data=base64.b64encode(real.read_bytes()).decode())


def _first_frame_png(path: Path) -> bytes:
    with Image.open(path) as opened:
        return encode_png(opened.convert("RGB"))
