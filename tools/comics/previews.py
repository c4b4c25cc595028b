"""The small pictures an assistant looks at: contact sheets of hits, comic previews, thumbnails.

Why small: MCP clients reject tool results over about 25k tokens, and an assistant needs only
enough to tell photos apart and say "#3". Full-size files stay on disk, reachable by path or as
resources.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from photocomic.tools.errors import DecodeError, PathRefused
from photocomic.tools.photos.images import (
    contact_sheet,
    encode_jpeg,
    fit_within,
    label_font,
    open_photo,
    thumbnail,
)
from PIL import Image, ImageDraw

SHEET_MAX_BYTES = 90_000
SHEET_MAX_WIDTH = 760
PREVIEW_SIDE = 512
THUMBNAIL_SIDE = 384


def hit_sheet(paths: Sequence[str | None], within: Sequence[Path] | None = None) -> bytes:
    """A contact sheet, cell #N for ``paths[N-1]``, as a JPEG of tens of KB.

    The caller passes only paths it may read; None and unreadable files get a grey cell.
    """
    count = len(paths)
    columns = max(1, min(count, max(3, math.ceil(math.sqrt(count)))))
    cell = max(64, min(180, SHEET_MAX_WIDTH // columns))

    def cell_image(path: str | None) -> Image.Image | None:
        if path is None:
            return None
        try:
            return thumbnail(path, cell, within)
        except (DecodeError, PathRefused):
            return None

    with ThreadPoolExecutor(max_workers=min(4, max(1, count))) as pool:
        cells = list(pool.map(cell_image, paths))
    labels = [f"#{n}" for n in range(1, count + 1)]
    data = b""
    for quality in (70, 55, 40):
        data = contact_sheet(cells, labels, cell=cell, columns=columns, quality=quality)
        if len(data) <= SHEET_MAX_BYTES:
            break
    return data


def preview_jpeg(source: str | bytes, side: int = PREVIEW_SIDE) -> bytes:
    """A small JPEG of a picture (a comic, a partial drawing) for the assistant to look at."""
    return encode_jpeg(fit_within(open_photo(source, min_side=side).image, side), quality=75)


def thumbnail_jpeg(
    path: str, side: int = THUMBNAIL_SIDE, within: Sequence[Path] | None = None
) -> bytes:
    return encode_jpeg(thumbnail(path, side, within), quality=80)


def side_by_side(paths: Sequence[str], height: int = 320) -> bytes:
    """Pictures in one row, each numbered (#1, #2, ...), as a JPEG of tens of KB: variants to
    choose from."""
    cells = [fit_within(open_photo(p, min_side=height).image, height) for p in paths]
    gap, label = 12, 28
    width = sum(c.width for c in cells) + gap * (len(cells) + 1)
    sheet = Image.new("RGB", (width, height + label + 2 * gap), (250, 250, 247))
    draw = ImageDraw.Draw(sheet)
    x = gap
    for number, cell in enumerate(cells, 1):
        sheet.paste(cell, (x, gap + label))
        draw.text((x, gap), f"#{number}", fill=(20, 20, 20), font=label_font(22))
        x += cell.width + gap
    return encode_jpeg(sheet, quality=72)
