"""The pictures the MCP server hands to an assistant, and the pictures it accepts from one.

Why small: clients reject tool results over about 25k tokens, and an assistant needs only
enough to tell photos apart and say "#3". Full-size files stay on disk, reachable by path or
as resources. Uploads are size-checked on their encoded length, before anything is decoded.
"""

from __future__ import annotations

import base64
import binascii
import io
import math
import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from photocomic.tools.errors import DecodeError, InvalidInput, PathRefused

SHEET_MAX_BYTES = 90_000
SHEET_MAX_WIDTH = 760
PREVIEW_SIDE = 512
THUMBNAIL_SIDE = 384
_MB = 1024 * 1024


def inside(path: str, roots: Sequence[Path]) -> bool:
    """Whether ``path`` resolves (symlinks and all) to somewhere under one of ``roots``."""
    real = Path(os.path.realpath(path))
    return any(real == root or real.is_relative_to(root) for root in roots)


def hit_sheet(paths: Sequence[str], roots: Sequence[Path]) -> bytes:
    """A contact sheet of the hits, cell #N for ``paths[N-1]``, as a JPEG of tens of KB.

    A file outside the roots is never opened; it and unreadable files get a grey cell.
    """
    from photocomic.tools.images import contact_sheet, thumbnail

    count = len(paths)
    columns = max(1, min(count, max(3, math.ceil(math.sqrt(count)))))
    cell = max(64, min(180, SHEET_MAX_WIDTH // columns))

    def cell_image(path: str):  # type: ignore[no-untyped-def]
        if not inside(path, roots):
            return None
        try:
            return thumbnail(path, cell)
        except DecodeError:
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


def preview_jpeg(path: str, side: int = PREVIEW_SIDE) -> bytes:
    """A small JPEG of a picture (a comic) for the assistant to look at."""
    from photocomic.tools.images import encode_jpeg, fit_within, open_photo

    return encode_jpeg(fit_within(open_photo(path, min_side=side).image, side), quality=75)


def thumbnail_jpeg(path: str, side: int = THUMBNAIL_SIDE) -> bytes:
    from photocomic.tools.images import encode_jpeg, thumbnail

    return encode_jpeg(thumbnail(path, side), quality=80)


def decode_upload(text: str, limit: int) -> bytes:
    """The bytes of an ``image_base64`` argument, refused before decoding when too large.

    Accepts plain base64 and ``data:image/...;base64,`` URLs; the result must be a picture
    Pillow can identify (the pixels are decoded later, by the search).
    """
    from photocomic.tools import images  # noqa: F401 (registers HEIC, sets the pixel limit)
    from PIL import Image, UnidentifiedImageError

    if "\x00" in text:
        raise PathRefused("image_base64 contains a NUL byte; send plain base64 text")
    encoded = text.strip()
    if encoded.startswith("data:"):
        header, _, encoded = encoded.partition(",")
        if ";base64" not in header:
            raise InvalidInput("image_base64 is a data: URL without ';base64'; send base64 data")
    # Base64 is 4 characters per 3 bytes: the length says the size without decoding.
    allowed = 4 * math.ceil(limit / 3)
    compact = encoded
    if len(compact) > allowed:
        compact = "".join(encoded.split())  # line breaks do not count
    if len(compact) > allowed:
        raise InvalidInput(
            f"image_base64 is too large: about {len(compact) * 3 / 4 / _MB:.2f} MB, the limit "
            f"is {limit / _MB:.2f} MB (PHOTOCOMIC_MAX_UPLOAD_BYTES). Send a smaller picture (a "
            "1024-pixel JPEG is plenty to search with), or save it in a photo folder and pass "
            "its path as image."
        )
    compact = "".join(compact.split())
    try:
        data = base64.b64decode(compact, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidInput(
            "image_base64 is not valid base64: send the image file's bytes base64-encoded "
            "(standard alphabet, with padding)"
        ) from None
    if not data:
        raise InvalidInput("image_base64 is empty: send an image file's bytes, base64-encoded")
    if len(data) > limit:
        raise InvalidInput(
            f"image_base64 is too large: {len(data) / _MB:.2f} MB, the limit is "
            f"{limit / _MB:.2f} MB (PHOTOCOMIC_MAX_UPLOAD_BYTES). Send a smaller picture."
        )
    try:
        with Image.open(io.BytesIO(data)) as picture:
            picture.size  # noqa: B018 (identifying the format is the check)
    except Image.DecompressionBombError:
        raise DecodeError("image_base64 holds a picture too large to decode safely") from None
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError):
        raise DecodeError(
            "image_base64 does not hold a picture photocomic can read (JPEG, PNG, WebP, GIF, "
            "BMP, TIFF or HEIC): check that it is the image file's bytes, base64-encoded"
        ) from None
    return data
