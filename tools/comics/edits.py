"""Editing part of an earlier comic: one panel, a box, or brushed strokes.

People fix the panel that is wrong, or point at the part to change, rather than redraw it all.
The Images API takes that as a second picture beside the earlier comic (which goes first): a
``mask``, transparent where the comic may change and opaque where it must stay, or (GPT Image
2.5 and later) a ``markup``, strokes on a transparent layer that show what to change. Both must
have the first image's exact size. Boxes are given in the comic's own pixels and scaled to the
picture actually sent.
"""

from __future__ import annotations

import base64
import binascii
import io
from dataclasses import dataclass
from typing import Literal

from photocomic.tools.comics.contract import ComicRecord, ComicRequest
from photocomic.tools.comics.image_api import InputPicture
from photocomic.tools.comics.layouts import panel_box
from photocomic.tools.errors import InvalidInput
from PIL import Image, ImageFilter, UnidentifiedImageError

STROKE_MARGIN = 12  # pixels a mask reaches beyond a brush stroke (strokes are rough)
MAX_MARKUP_BYTES = 8 * 1024 * 1024

Box = tuple[int, int, int, int]


@dataclass(frozen=True)
class Edit:
    """What part of the earlier comic may change, as the API takes it."""

    kind: Literal["panel", "region", "markup"]
    field: Literal["mask", "markup"]
    overlay: InputPicture
    box: Box  # the changed part, in the earlier comic's pixels
    panel: int | None
    words: str  # what the prompt adds


def plan_edit(
    request: ComicRequest, parent: ComicRecord | None, first: Image.Image | None, markup_ok: bool
) -> Edit | None:
    """The edit a request asks for, checked (InvalidInput before anything is sent), or None."""
    given = [n for n in ("panel", "region", "markup_png") if getattr(request, n) is not None]
    if not given:
        return None
    if len(given) > 1:
        raise InvalidInput(f"edit one way at a time: {' or '.join(given)}, not both")
    if parent is None or first is None:
        raise InvalidInput(f"{given[0]} edits an earlier comic: give refine=<comic id> too")
    if request.backend != "openai":
        raise InvalidInput(f"{given[0]} needs the image model: the storyboard lays out a new page")
    width, height = parent.width or first.width, parent.height or first.height
    scale = (first.width / width, first.height / height)
    if request.panel is not None:
        box = panel_box(parent.panels, parent.layout, width, height, request.panel)
        words = (
            f"Redraw only panel {request.panel} of the first image (where the mask is "
            "transparent) as asked; keep every other panel exactly as it is."
        )
        return Edit("panel", "mask", _mask(first.size, _scaled(box, scale)), box, request.panel,
                    words)  # fmt: skip
    if request.region is not None:
        r = request.region
        if r.x + r.w > width or r.y + r.h > height:
            raise InvalidInput(
                f"region x={r.x} y={r.y} w={r.w} h={r.h} reaches outside the comic, which is "
                f"{width}x{height} pixels"
            )
        box = (r.x, r.y, r.x + r.w, r.y + r.h)
        words = (
            "Change only the marked area of the first image (where the mask is transparent) "
            "as asked; keep everything else exactly as it is."
        )
        return Edit("region", "mask", _mask(first.size, _scaled(box, scale)), box, None, words)
    return _strokes(str(request.markup_png), first, scale, markup_ok)


def _strokes(encoded: str, first: Image.Image, scale: tuple[float, float], markup_ok: bool) -> Edit:
    """Brush strokes from the viewer: markup where the model takes it, else a mask around them."""
    layer = _decode_layer(encoded).resize(first.size, Image.Resampling.BILINEAR)
    drawn = layer.getchannel("A").point(lambda v: 255 if v > 24 else 0)
    bounds = drawn.getbbox()
    if bounds is None:
        raise InvalidInput("markup_png holds no strokes: brush over the part to change")
    box = _scaled(bounds, (1 / scale[0], 1 / scale[1]))
    if markup_ok:
        words = (
            "The strokes drawn over the first image (the markup) show what to change: change "
            "that part as asked, leave no trace of the strokes, and keep everything else "
            "exactly as it is."
        )
        return Edit("markup", "markup", _png_picture(layer, "markup.png"), box, None, words)
    reach = drawn.filter(ImageFilter.MaxFilter(2 * STROKE_MARGIN + 1))
    mask = Image.new("RGBA", first.size, (255, 255, 255, 255))
    mask.putalpha(reach.point(lambda v: 0 if v else 255))
    words = (
        "Change only the marked area of the first image (where the mask is transparent) as "
        "asked; keep everything else exactly as it is."
    )
    return Edit("markup", "mask", _png_picture(mask, "mask.png"), box, None, words)


def _decode_layer(encoded: str) -> Image.Image:
    text = encoded.strip().split(",", 1)[-1] if encoded.startswith("data:") else encoded.strip()
    if len(text) > 4 * MAX_MARKUP_BYTES // 3 + 4:
        raise InvalidInput(f"markup_png is over {MAX_MARKUP_BYTES // 2**20} MB; send a smaller PNG")
    try:
        with Image.open(io.BytesIO(base64.b64decode(text, validate=True))) as picture:
            if picture.format != "PNG" or "A" not in picture.getbands():
                raise InvalidInput(
                    "markup_png must be a PNG with transparency: strokes on a clear layer"
                )
            return picture.convert("RGBA")
    except (binascii.Error, ValueError, UnidentifiedImageError, OSError):
        raise InvalidInput("markup_png is not a base64 PNG") from None


def _mask(size: tuple[int, int], box: Box) -> InputPicture:
    """Opaque everywhere but ``box``, which is fully transparent (where the image may change)."""
    mask = Image.new("RGBA", size, (255, 255, 255, 255))
    mask.paste((0, 0, 0, 0), box)
    return _png_picture(mask, "mask.png")


def _scaled(box: Box, scale: tuple[float, float]) -> Box:
    sx, sy = scale
    return (round(box[0] * sx), round(box[1] * sy), round(box[2] * sx), round(box[3] * sy))


def _png_picture(picture: Image.Image, name: str) -> InputPicture:
    buf = io.BytesIO()
    picture.save(buf, "PNG")
    return InputPicture(name, buf.getvalue(), "image/png")
