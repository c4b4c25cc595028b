"""What a caller may ask, in one place: allowed folders, limits, ids, uploads, and the words
used to refuse.

Every front door (the command line, each MCP server) reaches the library through these
checks, so a path, an id or a limit is judged the same way whichever door it came through.
An MCP door sends the folders it was started with as its scope; the command line has none
(it reads what its user can read).
"""

from __future__ import annotations

import base64
import binascii
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from photocomic.tools.contract import MAX_LIMIT, MAX_OFFSET, MAX_PHOTOS, MAX_WAIT
from photocomic.tools.errors import (
    ConfigError,
    DecodeError,
    InvalidInput,
    NotFound,
    PathRefused,
    unknown_photo,
)
from photocomic.tools.folders import Roots, display_path, is_within

__all__ = ["MAX_LIMIT", "MAX_OFFSET", "MAX_PHOTOS", "MAX_WAIT"]
_MB = 1024 * 1024


@dataclass(frozen=True)
class Scope:
    """Who is asking: the folders an MCP door may read, or None for the command line."""

    roots: tuple[str, ...] | None = None

    @classmethod
    def of(cls, roots: Sequence[str | Path] | None) -> Scope:
        return cls(None if roots is None else tuple(str(r) for r in roots))

    @property
    def restricted(self) -> bool:
        return self.roots is not None

    def real_roots(self) -> list[Path]:
        """The roots, resolved; ConfigError when a restricted door has none."""
        if self.roots is None:
            return []
        return Roots([Path(r) for r in self.roots]).require()

    def resolve(self, raw: str, want: str = "any") -> Path:
        """A user-given path: checked against the roots for an MCP door, resolved for the CLI."""
        if self.roots is not None:
            return Roots([Path(r) for r in self.roots]).resolve(raw, want)
        from photocomic.tools.folders import check_text_path

        path = Path(check_text_path(raw)).expanduser()
        if want == "dir" and not path.is_dir():
            raise NotFound(f"folder not found: {display_path(raw)}")
        if want == "file" and not path.is_file():
            raise NotFound(f"file not found: {display_path(raw)}")
        return Path(os.path.realpath(path))

    def allows(self, path: str) -> bool:
        """Whether a stored photo's file lies (symlinks resolved) inside the roots."""
        if self.roots is None:
            return True
        try:
            real = Path(os.path.realpath(path))
        except OSError:  # the path changed while it was resolved (a link swapped in)
            return False
        return is_within(real, self.real_roots())

    def check_photo(self, photo_id: int | None, path: str) -> None:
        """A stored photo outside the roots (the store may know more) is, to this caller, as
        if it did not exist: the answer names neither its path nor that it is there."""
        if self.allows(path):
            return
        if photo_id is not None:
            raise unknown_photo(photo_id)
        raise PathRefused(
            f"{display_path(path)} is outside the allowed photo folders; choose photos from "
            "this server's searches"
        )

    def within(self) -> list[Path] | None:
        """The folders every file this caller opens must really lie in (None: any)."""
        return self.real_roots() if self.restricted else None

    def search_roots(self) -> list[str] | None:
        """The folders a search is limited to: the real roots, or None for no limit."""
        if self.roots is None:
            return None
        return [str(r) for r in self.real_roots()]


def check_limit(limit: int, name: str = "limit", most: int = MAX_LIMIT) -> int:
    if not 1 <= limit <= most:
        raise InvalidInput(f"{name} must be between 1 and {most}, not {limit}")
    return limit


def check_offset(offset: int) -> int:
    if not 0 <= offset <= MAX_OFFSET:
        raise InvalidInput(f"offset must be between 0 and {MAX_OFFSET:,}, not {offset}")
    return offset


def check_wait(seconds: float) -> float:
    if not 0 <= seconds <= MAX_WAIT:
        raise InvalidInput(f"wait_seconds must be between 0 and {MAX_WAIT:g}, not {seconds}")
    return seconds


def is_photo_id(item: str | int) -> bool:
    """A photo id given as a number or as text: ASCII digits that fit an int64 ("²".isdigit()
    is true, and int("0" * 5000) raises)."""
    if isinstance(item, int):
        return True
    text = item.strip()
    return text.isascii() and text.isdigit() and len(text) <= 20


def photo_ids(name: str, ids: Sequence[int] | None) -> list[int]:
    """Photo ids without repeats, in order; InvalidInput for a negative one."""
    values = list(dict.fromkeys(int(i) for i in ids or []))
    for value in values:
        if value < 0:
            raise InvalidInput(f"{name}: photo ids are positive numbers, not {value}")
    return values


def photo_items(items: Sequence[int | str]) -> list[int | str]:
    """Photo ids as ints and paths as text, in order; refused when there are too many."""
    if len(items) > MAX_PHOTOS:
        raise InvalidInput(f"too many photos ({len(items)}): choose the best few (up to 16)")
    found: list[int | str] = []
    for item in items:
        if isinstance(item, int) or is_photo_id(item):
            number = int(item)
            if number < 0:
                raise InvalidInput(f"photo ids are positive numbers, not {number}")
            found.append(number)
        else:
            found.append(item.strip())
    return found


def require_roots(scope: Scope) -> None:
    if scope.restricted and not scope.roots:
        raise ConfigError("no photo folders are allowed yet: [[roots]]")


def decode_upload(text: str, limit: int) -> bytes:
    """The bytes of an ``image_base64`` argument, refused before decoding when too large.

    Accepts plain base64 and ``data:image/...;base64,`` URLs; the result must be a picture
    Pillow can identify (its pixels are decoded later, by the search).
    """
    if "\x00" in text:
        raise PathRefused("image_base64 contains a NUL byte; send plain base64 text")
    encoded = text.strip()
    if encoded.startswith("data:"):
        header, _, encoded = encoded.partition(",")
        if ";base64" not in header:
            raise InvalidInput("image_base64 is a data: URL without ';base64'; send base64 data")
    allowed = 4 * math.ceil(limit / 3)  # base64 is 4 characters per 3 bytes
    compact = encoded if len(encoded) <= allowed else "".join(encoded.split())
    if len(compact) > allowed:
        raise InvalidInput(
            f"image_base64 is too large: about {len(compact) * 3 / 4 / _MB:.2f} MB, the limit "
            f"is {limit / _MB:.2f} MB (PHOTOCOMIC_MAX_UPLOAD_BYTES). Send a smaller picture (a "
            "1024-pixel JPEG is plenty to search with), or save it in a photo folder and pass "
            "its path as image."
        )
    try:
        data = base64.b64decode("".join(compact.split()), validate=True)
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
    _identify(data)
    return data


def _identify(data: bytes) -> None:
    """DecodeError unless ``data`` is a picture format photocomic reads."""
    import io

    from photocomic.tools.photos import images  # noqa: F401 (registers HEIC, sets the pixel limit)
    from PIL import Image, UnidentifiedImageError

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
