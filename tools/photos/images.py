"""Decoding photos into RGB pictures, and the small pictures we show: thumbnails, contact sheets.

Everything that opens an image file goes through :func:`open_photo`, so that every part sees
the same orientation, colour handling and failure reasons.
"""

from __future__ import annotations

import contextlib
import errno
import io
import math
import os
import stat
import threading
from calendar import timegm
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import BinaryIO

import numpy as np
import pillow_heif
from photocomic.tools.errors import DecodeError, PathRefused
from photocomic.tools.folders import display_path, is_within
from PIL import Image, ImageDraw, ImageFont, UnidentifiedImageError

try:
    import fcntl
except ImportError:  # Windows
    fcntl = None  # type: ignore[assignment]

pillow_heif.register_heif_opener()

# Above this a file is refused before its pixels are decoded: a 40000x40000 PNG would need
# 4.8 GB. 200 MP still admits phone panoramas and medium-format scans.
MAX_PIXELS = 200_000_000
Image.MAX_IMAGE_PIXELS = MAX_PIXELS
# Pixels are not the cost: bands x depth x pixels is. A 371 KB PNG of 196 MP 16-bit grey
# decodes to 392 MB; the decoded size is judged before decoding, and the decodes above
# LARGE_DECODE take turns, so two such files at once cost one at a time.
MAX_DECODED_BYTES = 640 << 20  # a 200 MP RGB photo decoded in full (600 MB) still passes
LARGE_DECODE = 64 << 20
_LARGE_DECODES = threading.BoundedSemaphore(1)
_BYTES_PER_PIXEL = {
    "1": 1, "L": 1, "P": 1, "LA": 2, "La": 2, "PA": 2, "I;16": 2, "I;16B": 2, "I;16L": 2,
    "I;16N": 2, "RGB": 3, "YCbCr": 3, "LAB": 3, "HSV": 3, "RGBA": 4, "RGBa": 4, "CMYK": 4,
    "I": 4, "F": 4,
}  # fmt: skip
STRIP_ROWS = 512  # rows converted at a time from a high bit depth

_EXIF_IFD = 0x8769
_DATETIME_ORIGINAL = 36867
_OFFSET_TIME_ORIGINAL = 36881
_DATETIME = 306
_ORIENTATION_FIX = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}


@dataclass(frozen=True)
class Photo:
    """A decoded photo: ``image`` may be reduced (JPEG draft); width/height are the file's own."""

    image: Image.Image
    width: int
    height: int
    taken_at: int | None


def open_photo(
    source: str | Path | bytes, min_side: int | None = None, within: Sequence[Path] | None = None
) -> Photo:
    """Decode a file (or bytes) to an RGB picture, oriented as the camera meant it.

    ``min_side`` lets JPEG decode at a reduced DCT scale (the short side stays at least that
    many pixels), which is several times faster than a full decode for large photos.
    ``within``: the folders the file must really lie in, judged on the opened file itself
    (PathRefused otherwise). Raises DecodeError with a reason a person can read.
    """
    try:
        if isinstance(source, bytes):
            if not source:
                raise DecodeError("empty data")
            handle: BinaryIO = io.BytesIO(source)
        else:
            handle = _open_regular_file(source, within)
        with handle, Image.open(handle) as img:
            return _decode(img, min_side)
    except (DecodeError, PathRefused):
        raise
    except FileNotFoundError:
        raise DecodeError("file not found (moved or deleted?)") from None
    except PermissionError:
        raise DecodeError("permission denied: photocomic cannot read this file") from None
    except IsADirectoryError:
        raise DecodeError("is a folder, not an image file") from None
    except Image.DecompressionBombError as exc:
        raise DecodeError(f"image too large to decode safely ({exc})") from None
    except UnidentifiedImageError:
        raise DecodeError(_unidentified_reason(source)) from None
    except (OSError, SyntaxError, ValueError, EOFError, MemoryError) as exc:
        raise DecodeError(f"corrupt or truncated image data ({exc})") from None


def _open_regular_file(path: str | Path, within: Sequence[Path] | None = None) -> BinaryIO:
    """Open a file for reading, refusing what is not a regular file before reading a byte.

    A FIFO named ``x.jpg`` would block a plain ``open`` forever (it waits for a writer), and a
    device could stream without end; O_NONBLOCK makes the open return at once and fstat tells
    what it is. With ``within``, the file actually opened must lie inside those folders: a
    check of the path before opening could be beaten by swapping the file for a link.
    """
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0)
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise DecodeError("symbolic link loop") from None
        if exc.errno in (errno.ENXIO, errno.EOPNOTSUPP):
            raise DecodeError("not a regular file (a socket or device), so not a photo") from None
        raise
    try:
        mode = os.fstat(fd).st_mode
        if stat.S_ISDIR(mode):
            raise DecodeError("is a folder, not an image file")
        if not stat.S_ISREG(mode):
            raise DecodeError("not a regular file (a pipe, socket or device), so not a photo")
        if within is not None:
            check_opened(fd, path, within)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def check_opened(fd: int, path: str | Path, within: Sequence[Path]) -> None:
    """PathRefused unless the open file ``fd`` lies inside ``within``, by its real path as the
    system knows it for the descriptor (not for the name, which may have changed since)."""
    real = opened_path(fd)
    if real is None or not is_within(real, within):
        raise PathRefused(
            f"{display_path(str(path))} is outside the allowed photo folders; choose photos "
            "from this server's searches"
        )


def opened_path(fd: int) -> Path | None:
    """The real path of an open file: /proc on Linux, F_GETPATH on macOS."""
    with contextlib.suppress(OSError):
        return Path(os.readlink(f"/proc/self/fd/{fd}"))
    getpath = getattr(fcntl, "F_GETPATH", None) if fcntl else None
    if getpath is not None:
        with contextlib.suppress(OSError):
            raw = fcntl.fcntl(fd, getpath, b"\0" * 1024)
            return Path(os.fsdecode(raw.split(b"\0", 1)[0]))
    return None


def _unidentified_reason(source: str | Path | bytes) -> str:
    if not isinstance(source, bytes):
        try:
            if os.path.getsize(source) == 0:
                return "empty file (0 bytes)"
        except OSError:
            pass
    return "not an image, or a format photocomic cannot read"


def _decode(img: Image.Image, min_side: int | None) -> Photo:
    width, height = img.size
    if width * height > MAX_PIXELS:
        raise DecodeError(
            f"image too large: {width}x{height} pixels is over the limit of "
            f"{MAX_PIXELS // 1_000_000} megapixels"
        )
    exif = img.getexif()
    taken_at = _taken_at(exif)
    orientation = exif.get(0x0112, 1)
    if orientation in (5, 6, 7, 8):
        width, height = height, width
    if getattr(img, "n_frames", 1) > 1:
        img.seek(0)
    if min_side and img.format == "JPEG":
        img.draft("RGB", (min_side, min_side))
    need = img.width * img.height * _BYTES_PER_PIXEL.get(img.mode, 8)
    if need > MAX_DECODED_BYTES:
        raise DecodeError(
            f"image too large to decode safely: {img.width}x{img.height} {img.mode} pixels "
            f"take {need >> 20:,} MB decoded, over the limit of {MAX_DECODED_BYTES >> 20:,} MB"
        )
    with _LARGE_DECODES if need > LARGE_DECODE else contextlib.nullcontext():
        img.load()
        rgb = to_rgb(img, min_side)
    method = _ORIENTATION_FIX.get(orientation)
    if method is not None:
        rgb = rgb.transpose(method)
    return Photo(image=rgb, width=width, height=height, taken_at=taken_at)


def to_rgb(img: Image.Image, min_side: int | None = None) -> Image.Image:
    """Palette, CMYK, 16-bit, greyscale and alpha pictures become 8-bit RGB (alpha on white).
    High bit depths become 8-bit a strip at a time and, with ``min_side``, are reduced before
    they become RGB, so no full-size wide array is ever made."""
    mode = img.mode
    if mode == "RGB":
        return img
    if mode == "P":
        img = img.convert("RGBA" if "transparency" in img.info else "RGB")
        mode = img.mode
    if mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = img.convert("RGBA")
        background = Image.new("RGB", rgba.size, (255, 255, 255))
        background.paste(rgba, mask=rgba.getchannel("A"))
        return background
    if mode.startswith("I;16") or mode in ("I", "F"):
        grey = _eight_bit(img)
        factor = min(grey.size) // min_side if min_side else 1
        return (grey.reduce(factor) if factor > 1 else grey).convert("RGB")
    return img.convert("RGB")


def _eight_bit(img: Image.Image) -> Image.Image:
    """A 16-bit or 32-bit greyscale picture as 8-bit grey, STRIP_ROWS rows at a time."""
    width, height = img.size
    deep = img.mode.startswith("I;16")
    top = 65535.0 if deep else 255.0
    if not deep:  # 32-bit: scaled to 16 bits' range only when it uses more than 8
        top = 65535.0 if img.getextrema()[1] > 255 else 255.0  # type: ignore[index,operator]
    out = np.empty((height, width), dtype=np.uint8)
    for y in range(0, height, STRIP_ROWS):
        strip = np.asarray(img.crop((0, y, width, min(height, y + STRIP_ROWS))), dtype=np.float32)
        out[y : y + strip.shape[0]] = np.clip(strip * (255.0 / top), 0, 255).astype(np.uint8)
    return Image.fromarray(out, "L")


def _taken_at(exif: Image.Exif) -> int | None:
    """EXIF DateTimeOriginal as seconds since the epoch (camera's clock, offset when given)."""
    try:
        sub = exif.get_ifd(_EXIF_IFD)
    except Exception:
        sub = {}
    raw = sub.get(_DATETIME_ORIGINAL) or exif.get(_DATETIME)
    if not isinstance(raw, str):
        return None
    try:
        moment = datetime.strptime(raw.strip("\x00 ")[:19], "%Y:%m:%d %H:%M:%S")
    except ValueError:
        return None
    seconds = timegm(moment.timetuple())
    offset = sub.get(_OFFSET_TIME_ORIGINAL)
    if isinstance(offset, str) and len(offset) >= 6 and offset[0] in "+-":
        try:
            sign = 1 if offset[0] == "+" else -1
            seconds -= sign * (int(offset[1:3]) * 3600 + int(offset[4:6]) * 60)
        except ValueError:
            pass
    return seconds


def fit_within(img: Image.Image, max_side: int) -> Image.Image:
    """A copy whose long side is at most ``max_side`` (never enlarged)."""
    if max(img.size) <= max_side:
        return img.copy()
    out = img.copy()
    out.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
    return out


def encode_jpeg(img: Image.Image, quality: int = 85) -> bytes:
    buf = io.BytesIO()
    img.convert("RGB").save(buf, "JPEG", quality=quality, optimize=True)
    return buf.getvalue()


def encode_png(img: Image.Image) -> bytes:
    buf = io.BytesIO()
    img.save(buf, "PNG")
    return buf.getvalue()


def thumbnail(
    path: str | Path, max_side: int = 256, within: Sequence[Path] | None = None
) -> Image.Image:
    return fit_within(open_photo(path, min_side=max_side, within=within).image, max_side)


def label_font(size: int) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow without FreeType
        return ImageFont.load_default()


def contact_sheet(
    cells: Sequence[Image.Image | None],
    labels: Sequence[str],
    cell: int = 160,
    columns: int | None = None,
    quality: int = 70,
) -> bytes:
    """A grid of numbered thumbnails as a JPEG of a few tens of KB, for an assistant to look at.

    A ``None`` cell (a photo that could not be read) is drawn as a grey box with its label.
    """
    count = max(len(cells), 1)
    columns = columns or min(count, 4 if count > 4 else count)
    rows = math.ceil(count / columns)
    pad = 4
    sheet = Image.new(
        "RGB", (columns * (cell + pad) + pad, rows * (cell + pad) + pad), (32, 32, 32)
    )
    draw = ImageDraw.Draw(sheet)
    font = label_font(max(12, cell // 9))
    for index, (picture, label) in enumerate(zip(cells, labels, strict=True)):
        x = pad + (index % columns) * (cell + pad)
        y = pad + (index // columns) * (cell + pad)
        if picture is None:
            draw.rectangle((x, y, x + cell - 1, y + cell - 1), fill=(90, 90, 90))
        else:
            thumb = fit_within(picture, cell)
            sheet.paste(thumb, (x + (cell - thumb.width) // 2, y + (cell - thumb.height) // 2))
        box = draw.textbbox((x + 3, y + 2), label, font=font)
        draw.rectangle((box[0] - 3, box[1] - 2, box[2] + 3, box[3] + 2), fill=(0, 0, 0))
        draw.text((x + 3, y + 2), label, fill=(255, 255, 0), font=font)
    return encode_jpeg(sheet, quality=quality)
