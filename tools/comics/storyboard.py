"""The offline storyboard: the chosen pictures laid out as a comic page with Pillow.

It needs no key and no network, so the whole flow (search, pick photos, make a comic, refine)
can be tried and tested offline. The page says plainly that it is a layout preview, so nobody
mistakes it for the AI comic.
"""

from __future__ import annotations

import io
import re
import unicodedata
from collections.abc import Sequence
from functools import lru_cache

from photocomic.tools.comics.layouts import arrangement
from PIL import Image, ImageDraw, ImageFont, ImageOps

PREVIEW_LABEL = "LAYOUT PREVIEW — not AI-generated"

Font = ImageFont.FreeTypeFont | ImageFont.ImageFont

_PAGE_BACKGROUND = (250, 250, 247)
_BAND = (20, 20, 20)
_LABEL = (255, 214, 0)
_CAPTION_FILL = (255, 249, 214)
_INK = (0, 0, 0)


def split_captions(text: str, panels: int) -> list[str]:
    """Cut the prompt into one caption per panel, in reading order.

    Sentences stay whole when there are enough of them; otherwise the longest piece is halved,
    at a comma or "then"/"and" near its middle where there is one, until every panel has a
    piece. A prompt of fewer words than panels goes whole on the first panel.
    """
    text = " ".join(text.split())
    if len(text.split(" ")) < panels:
        return [text] + [""] * (panels - 1)
    pieces = [p for p in re.split(r"(?<=[.!?])\s+", text) if p]
    while len(pieces) < panels:
        longest = max(range(len(pieces)), key=lambda i: len(pieces[i].split()))
        pieces[longest : longest + 1] = _halve(pieces[longest])
    count = len(pieces)
    captions = []
    for index in range(panels):
        start, end = round(index * count / panels), round((index + 1) * count / panels)
        captions.append(" ".join(pieces[start:end]).strip())
    return captions


def _halve(piece: str) -> list[str]:
    """Two parts of a piece of several words, split at the clause break nearest its middle."""
    words = piece.split()
    middle = len(words) / 2
    breaks = [
        k
        for k in range(1, len(words))
        if words[k - 1][-1] in ",;:" or words[k].lower() in ("then", "and", "but", "while")
    ]
    cut = min(breaks, key=lambda k: abs(k - middle)) if breaks else max(1, len(words) // 2)
    if breaks and abs(cut - middle) > len(words) / 3:
        cut = max(1, len(words) // 2)
    return [" ".join(words[:cut]), " ".join(words[cut:])]


def render_storyboard(
    pictures: Sequence[Image.Image],
    captions: Sequence[str],
    panels: int,
    layout: str,
    size: tuple[int, int],
    subtitle: str = "",
) -> Image.Image:
    """A comic page: a labelled band, then a grid of panels with a caption box each.

    Panels take the pictures in order and start again from the first when there are more
    panels than pictures.
    """
    if not pictures:
        raise ValueError("a storyboard needs at least one picture")
    width, height = size
    page = Image.new("RGB", (width, height), _PAGE_BACKGROUND)
    draw = ImageDraw.Draw(page)
    margin, gutter, band_height = _spacing(size)
    draw.rectangle((0, 0, width, band_height), fill=_BAND)
    label_font, unicode_ok = _font(int(band_height * 0.45), bold=True)
    label = PREVIEW_LABEL if unicode_ok else PREVIEW_LABEL.replace("—", "-")
    label_y = (band_height - _text_height(label_font)) // 2
    draw.text((margin, label_y), label, fill=_LABEL, font=label_font)
    if subtitle:
        small, unicode_ok = _font(int(band_height * 0.32))
        subtitle = subtitle if unicode_ok else _ascii(subtitle)
        room = width - 2 * margin - int(draw.textlength(label, font=label_font)) - gutter
        if draw.textlength(subtitle, font=small) <= room:
            sub_w = int(draw.textlength(subtitle, font=small))
            sub_y = (band_height - _text_height(small)) // 2
            draw.text((width - margin - sub_w, sub_y), subtitle, fill=(220, 220, 220), font=small)

    cells = storyboard_cells(panels, layout, size)
    cell_w, cell_h = cells[0][2] - cells[0][0], cells[0][3] - cells[0][1]
    caption_font, unicode_ok = _font(max(14, min(cell_w, cell_h) // 18))
    border = max(2, width // 400)

    for index, (x0, y0, _, _) in enumerate(cells):
        picture = pictures[index % len(pictures)].convert("RGB")
        fitted = ImageOps.fit(picture, (cell_w, cell_h), Image.Resampling.LANCZOS, 0, (0.5, 0.4))
        page.paste(fitted, (x0, y0))
        draw.rectangle((x0, y0, x0 + cell_w - 1, y0 + cell_h - 1), outline=_INK, width=border)
        caption = captions[index] if index < len(captions) else ""
        if not unicode_ok:
            caption = _ascii(caption)
        _caption_box(draw, caption, caption_font, x0, y0, cell_w, cell_h, border)
    return page


def render_animation(pictures: Sequence[Image.Image], frames: int, frame_ms: int,
                     size: tuple[int, int]) -> bytes:  # fmt: skip
    """The offline preview of an animation, as a GIF: the pictures as its frames (again from
    the first when there are fewer), with the timing asked, each marked as a layout preview."""
    if not pictures:
        raise ValueError("an animation needs at least one picture")
    width, height = size
    band = max(18, height // 14)
    font, unicode_ok = _font(int(band * 0.55), bold=True)
    label = PREVIEW_LABEL if unicode_ok else _ascii(PREVIEW_LABEL)
    shown = []
    for index in range(frames):
        frame = ImageOps.fit(pictures[index % len(pictures)].convert("RGB"), size)
        draw = ImageDraw.Draw(frame)
        draw.rectangle((0, 0, width, band), fill=_BAND)
        said = f"{label} {'·' if unicode_ok else '-'} {index + 1}/{frames}"
        draw.text((band // 3, (band - _text_height(font)) // 2), said, fill=_LABEL, font=font)
        shown.append(frame)
    buffer = io.BytesIO()
    shown[0].save(buffer, "GIF", save_all=True, append_images=shown[1:], duration=frame_ms,
                  loop=0)  # fmt: skip
    return buffer.getvalue()


def _spacing(size: tuple[int, int]) -> tuple[int, int, int]:
    """The page's margin, the gutter between panels and the label band's height."""
    short = min(size)
    return max(12, short // 40), max(8, short // 64), max(28, short // 16)


def storyboard_cells(
    panels: int, layout: str, size: tuple[int, int]
) -> list[tuple[int, int, int, int]]:
    """Where each panel lies on the page (left, top, right, bottom), in reading order: the
    boxes the pictures are pasted into, and the lettering's panels."""
    width, height = size
    margin, gutter, band_height = _spacing(size)
    rows, cols = arrangement(panels, layout, width, height)
    top = band_height + margin
    cell_w = (width - 2 * margin - (cols - 1) * gutter) // cols
    cell_h = (height - top - margin - (rows - 1) * gutter) // rows
    cells = []
    for index in range(panels):
        row, col = divmod(index, cols)
        x0, y0 = margin + col * (cell_w + gutter), top + row * (cell_h + gutter)
        cells.append((x0, y0, x0 + cell_w, y0 + cell_h))
    return cells


def _caption_box(
    draw: ImageDraw.ImageDraw,
    text: str,
    font: Font,
    x0: int,
    y0: int,
    cell_w: int,
    cell_h: int,
    border: int,
) -> None:
    """A pale caption box in the panel's top-left corner, at most a third of the panel high."""
    if not text:
        return
    pad = max(6, cell_w // 60)
    inner_w = cell_w - 4 * pad
    line_h = _text_height(font) + max(2, _text_height(font) // 4)
    max_lines = max(1, (cell_h // 3 - 2 * pad) // line_h)
    lines = _wrap(text, font, inner_w, max_lines)
    if not lines:
        return
    text_w = max(int(draw.textlength(line, font=font)) for line in lines)
    bx0, by0 = x0 + pad, y0 + pad
    bx1, by1 = bx0 + text_w + 2 * pad, by0 + len(lines) * line_h + 2 * pad - (line_h // 5)
    draw.rectangle((bx0, by0, bx1, by1), fill=_CAPTION_FILL, outline=_INK, width=border)
    for number, line in enumerate(lines):
        draw.text((bx0 + pad, by0 + pad + number * line_h), line, fill=_INK, font=font)


def _wrap(text: str, font: Font, width: int, max_lines: int) -> list[str]:
    """Greedy word wrap; the last line ends with an ellipsis when the text does not fit."""
    lines: list[str] = []
    current = ""
    words = text.split()
    for position, word in enumerate(words):
        candidate = f"{current} {word}".strip()
        if font.getlength(candidate) <= width:
            current = candidate
            continue
        if current:
            lines.append(current)
        current = word
        while font.getlength(current) > width and len(current) > 1:  # a word wider than a line
            cut = len(current)
            while cut > 1 and font.getlength(current[:cut]) > width:
                cut -= 1
            lines.append(current[:cut])
            current = current[cut:]
        if len(lines) >= max_lines:
            rest = " ".join([current, *words[position + 1 :]])
            return _finish(lines[:max_lines], rest, font, width)
    if current:
        lines.append(current)
    if len(lines) > max_lines:
        return _finish(lines[:max_lines], " ".join(lines[max_lines:]), font, width)
    return lines


def _finish(lines: list[str], rest: str, font: Font, width: int) -> list[str]:
    if rest.strip():
        lines[-1] = _ellipsize(lines[-1] + " " + rest, font, width)
    return lines


def _ellipsize(text: str, font: Font, width: int) -> str:
    if font.getlength(text) <= width:
        return text
    while text and font.getlength(text + "...") > width:
        text = text[:-1]
    return (text.rstrip() + "...") if text else ""


def _text_height(font: Font) -> int:
    box = font.getbbox("Hg")
    return int(box[3] - box[1]) or 12


def _ascii(text: str) -> str:
    folded = unicodedata.normalize("NFKD", text.replace("—", "-").replace("–", "-"))
    return folded.encode("ascii", "ignore").decode("ascii")


@lru_cache(maxsize=32)
def _font(size: int, bold: bool = False) -> tuple[Font, bool]:
    """A scalable font and whether it covers accented letters and dashes.

    DejaVu is on most Linux systems and covers Latin, Greek and Cyrillic; Pillow's built-in
    font is the fallback, and it has no accents, so text is folded to ASCII for it.
    """
    names = ["DejaVuSans-Bold.ttf", "Arial Bold.ttf"] if bold else ["DejaVuSans.ttf", "Arial.ttf"]
    for name in names:
        try:
            return ImageFont.truetype(name, size), True
        except OSError:
            continue
    try:
        return ImageFont.load_default(size=size), False
    except TypeError:  # Pillow built without FreeType
        return ImageFont.load_default(), False
