"""Lettering: the lines of a script set on a comic's drawing by photocomic, not by the image
model, so they are spelled right in any script and can be changed without drawing again.

Each panel's lines are stacked in reading order from its top (speech, thoughts, captions) and
its bottom (sound words), at the largest size at which all of them fit inside the panel, apart
from each other. A speech balloon's tail points to its speaker's side of the panel: the
script's first speaker stands left, the next right, and so on, as the scene prompt asks the
image model to draw them. What a line paints, tail included, is its ``box``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from photocomic.tools.comics.fonts import FontFile, can_set_rtl, direction_of, font_for, truetype
from photocomic.tools.comics.layouts import panel_box
from photocomic.tools.comics.script_contract import Letter, ScriptLine, ScriptPanel
from photocomic.tools.comics.storyboard import storyboard_cells
from photocomic.tools.errors import InvalidInput
from PIL import Image, ImageDraw

Box = tuple[int, int, int, int]

INK = (17, 17, 17)
PAPER = (255, 255, 255)
CAPTION = (255, 246, 200)
SOUND = (230, 60, 30)
SMALLEST = 10  # px: below this a line is not readable on a phone
_TOKENS = re.compile(r"\s+|[\u2e80-\u9fff\uac00-\ud7af\uf900-\ufaff\uff00-\uffef]|[^\s\u2e80-\u9fff\uac00-\ud7af\uf900-\ufaff\uff00-\uffef]+")  # noqa: E501


def speaker_sides(script: Sequence[ScriptPanel]) -> dict[str, str]:
    """'left' or 'right' for each speaker, by the order they first speak in."""
    sides: dict[str, str] = {}
    for panel in script:
        for line in panel.lines:
            if line.who and line.kind in ("speech", "thought") and line.who not in sides:
                sides[line.who] = "left" if len(sides) % 2 == 0 else "right"
    return sides


def scene_words(script: Sequence[ScriptPanel]) -> str:
    """What the image model is told of a script: each panel's scene and where its speakers
    stand, never the lines themselves."""
    sides = speaker_sides(script)
    parts = []
    for number, panel in enumerate(script, 1):
        said = []
        for who in dict.fromkeys(
            ln.who for ln in panel.lines if ln.who and ln.kind in ("speech", "thought")
        ):
            said.append(f"{who} is on the {sides[who]} side")
        scene = " ".join(panel.scene.split()) or "as the story goes on"
        parts.append(f"Panel {number}: {scene}" + (f" ({'; '.join(said)})" if said else ""))
    return "The panels, in order:\n" + "\n".join(parts)


@dataclass
class _Set:
    """One line laid out: its wrapped rows, font and where it goes."""

    line: ScriptLine
    font: FontFile
    size: int
    rows: list[str]
    direction: str
    width: int
    height: int  # the balloon's, without the tail
    tail: int
    x: int = 0
    y: int = 0

    @property
    def box(self) -> Box:
        return self.x, self.y, self.x + self.width, self.y + self.height + self.tail


def panel_boxes(backend: str, panels: int, layout: str, size: tuple[int, int]) -> list[Box]:
    """Where the panels of a drawing lie: the storyboard's own cells, or the equal shares the
    layout asks the image model for."""
    if backend == "storyboard":
        return storyboard_cells(panels, layout, size)
    width, height = size
    return [panel_box(panels, layout, width, height, n) for n in range(1, panels + 1)]


def check_script(script: Sequence[ScriptPanel], boxes: Sequence[Box]) -> None:
    """One entry per panel, every line settable (a font has it, its direction can be set) and
    every panel's lines fitting it: judged before anything is drawn."""
    check_lines(script, len(boxes))
    sides = speaker_sides(script)
    for number, (panel, box) in enumerate(zip(script, boxes, strict=True), 1):
        _fit(panel.lines, box, sides, number)


def check_lines(script: Sequence[ScriptPanel], panels: int) -> None:
    if len(script) != panels:
        raise InvalidInput(
            f"the script has {len(script)} panels and the comic {panels}: give one entry per "
            "panel (an entry may have no lines)"
        )
    for panel in script:
        for line in panel.lines:
            font_for(line.text)
            if direction_of(line.text) == "rtl" and not can_set_rtl():
                raise InvalidInput(
                    f"{line.text[:40]!r} is right-to-left, and this Pillow has no Raqm text "
                    "layout to set it: install Pillow's wheel from PyPI"
                )


def letter(
    art: Image.Image, script: Sequence[ScriptPanel], boxes: Sequence[Box]
) -> tuple[Image.Image, list[Letter]]:
    """The drawing with the script's lines on it, and where each went."""
    check_lines(script, len(boxes))
    page = art.convert("RGB")
    draw = ImageDraw.Draw(page)
    sides = speaker_sides(script)
    letters: list[Letter] = []
    for number, (panel, box) in enumerate(zip(script, boxes, strict=True), 1):
        for item in _fit(panel.lines, box, sides, number):
            _paint(draw, item, sides.get(item.line.who or ""))
            letters.append(
                Letter(
                    panel=number, kind=item.line.kind, who=item.line.who, text=item.line.text,
                    font=item.font.name, direction=item.direction, box=list(item.box),  # type: ignore[arg-type]
                )
            )  # fmt: skip
    return page, letters


def _fit(lines: Sequence[ScriptLine], panel: Box, sides: dict[str, str], number: int) -> list[_Set]:
    """The lines placed at the largest size that fits; InvalidInput when none does."""
    if not lines:
        return []
    x0, y0, x1, y1 = panel
    margin = max(6, min(x1 - x0, y1 - y0) // 30)
    inner = (x0 + margin, y0 + margin, x1 - margin, y1 - margin)
    size = max(SMALLEST, min(48, (y1 - y0) // 11))
    while size >= SMALLEST:
        placed = _place([_set(line, size, inner) for line in lines], inner, sides, size)
        if placed is not None:
            return placed
        size = size - 2 if size > 16 else size - 1
    raise InvalidInput(
        f"the lines of panel {number} do not fit in it even at {SMALLEST} px: shorten them, "
        "or move one to a panel with fewer"
    )


def _set(line: ScriptLine, size: int, inner: Box) -> _Set:
    font = font_for(line.text)
    if line.kind == "sound":
        size = round(size * 1.6)
    face = truetype(font, size)
    direction = direction_of(line.text)
    share = 0.92 if line.kind in ("caption", "sound") else 0.64
    room = max(size, int((inner[2] - inner[0]) * share))
    pad = 0 if line.kind == "sound" else round(size * (0.35 if line.kind == "caption" else 0.6))
    stroke = _stroke(line, size)
    rows = wrap(line.text, face, room - 2 * pad - 2 * stroke, direction)
    ascent, descent = face.getmetrics()
    text_w = max(_length(face, row, direction) for row in rows)
    text_h = len(rows) * (ascent + descent) + (len(rows) - 1) * (size // 5)
    tail = round(size * 0.9) if line.kind in ("speech", "thought") and line.who else 0
    return _Set(
        line=line, font=font, size=size, rows=rows, direction=direction,
        width=text_w + 2 * pad + 2 * stroke + 2, height=text_h + 2 * pad + 2 * stroke + 2,
        tail=tail,
    )  # fmt: skip


def _place(items: list[_Set], inner: Box, sides: dict[str, str], size: int) -> list[_Set] | None:
    """Stack from the top (and sounds from the bottom) in reading order; None if they do not
    fit the panel or would touch each other."""
    x0, y0, x1, y1 = inner
    gap = max(4, size // 3)
    top, bottom = y0, y1
    for item in items:
        if item.width > x1 - x0:
            return None
        side = sides.get(item.line.who or "") if item.line.kind in ("speech", "thought") else None
        if item.line.kind == "caption" or side == "left":
            item.x = x0 if item.direction == "ltr" or side == "left" else x1 - item.width
        elif side == "right":
            item.x = x1 - item.width
        else:
            item.x = (x0 + x1 - item.width) // 2
        if item.line.kind == "sound":
            item.y = bottom - item.height
            bottom = item.y - gap
        else:
            item.y = top
            top = item.y + item.height + item.tail + gap
    return items if top - gap <= bottom else None


def _stroke(line: ScriptLine, size: int) -> int:
    return max(2, size // 7) if line.kind == "sound" else max(2, size // 12)


def _length(face: object, text: str, direction: str) -> int:
    if direction == "rtl":
        return int(face.getlength(text, direction="rtl"))  # type: ignore[attr-defined]
    return int(face.getlength(text))  # type: ignore[attr-defined]


def wrap(text: str, face: object, room: int, direction: str) -> list[str]:
    """Greedy wrap at spaces, and between any two CJK characters; a word wider than the room
    is cut between characters."""
    rows: list[str] = []
    current = ""
    for token in _TOKENS.findall(" ".join(text.split())):
        candidate = current + token
        if not current.strip() or _length(face, candidate.strip(), direction) <= room:
            current = candidate
            continue
        rows.append(current.strip())
        current = token.lstrip()
    rows.append(current.strip())
    fitted: list[str] = []
    for row in rows:
        while _length(face, row, direction) > room and len(row) > 1:
            cut = len(row) - 1
            while cut > 1 and _length(face, row[:cut], direction) > room:
                cut -= 1
            fitted.append(row[:cut])
            row = row[cut:]
        fitted.append(row)
    return [row for row in fitted if row]


def _paint(draw: ImageDraw.ImageDraw, item: _Set, side: str | None) -> None:
    x0, y0, x1, _ = item.box
    y1 = y0 + item.height - 1
    x1 -= 1
    width = _stroke(item.line, item.size)
    kind = item.line.kind
    if kind == "caption":
        draw.rectangle((x0, y0, x1, y1), fill=CAPTION, outline=INK, width=width)
    elif kind in ("speech", "thought"):
        radius = (y1 - y0) // 2 if kind == "thought" else max(6, item.size // 2)
        if item.tail:
            _tail(draw, item, side or "left", width)
        draw.rounded_rectangle((x0, y0, x1, y1), radius=radius, fill=PAPER, outline=INK,
                               width=width)  # fmt: skip
        if item.tail and kind == "speech":
            _tail(draw, item, side or "left", width, seam=True)
    _text(draw, item, width)


def _tail(draw: ImageDraw.ImageDraw, item: _Set, side: str, width: int, seam: bool = False) -> None:
    """A speech tail (a wedge) or a thought's trail of bubbles below the balloon, towards the
    speaker's side; ``seam`` paints over the balloon's outline where the wedge joins it."""
    x0, y0, x1, y1 = item.box
    base = y0 + item.height - 1
    span = max(8, item.size)
    left = side == "left"
    root = x0 + (x1 - x0) // 4 if left else x1 - (x1 - x0) // 4 - span
    tip = (x0 + 2 if left else x1 - 3, y1 - 1)
    if item.line.kind == "thought":
        if seam:
            return
        for step, r in ((0.35, max(3, span // 4)), (0.8, max(2, span // 6))):
            cx = round(root + span / 2 + (tip[0] - root - span / 2) * step)
            cy = round(base + (tip[1] - base) * step)
            draw.ellipse((cx - r, cy - r, cx + r, cy + r), fill=PAPER, outline=INK, width=1)
        return
    wedge = [(root, base - width * 2), (root + span, base - width * 2), tip]
    if seam:
        inset = [(root + width, base - width * 2), (root + span - width, base - width * 2),
                 (tip[0] + (width if left else -width), tip[1] - width * 2)]  # fmt: skip
        draw.polygon(inset, fill=PAPER)
        return
    draw.polygon(wedge, fill=PAPER, outline=INK, width=width)


def _text(draw: ImageDraw.ImageDraw, item: _Set, width: int) -> None:
    face = truetype(item.font, item.size)
    ascent, descent = face.getmetrics()
    pad = (item.height - 2 - len(item.rows) * (ascent + descent)
           - (len(item.rows) - 1) * (item.size // 5)) // 2  # fmt: skip
    sound = item.line.kind == "sound"
    extra = {"direction": "rtl"} if item.direction == "rtl" else {}
    y = item.y + pad + 1
    for row in item.rows:
        middle = item.x + item.width // 2
        draw.text(
            (middle, y), row, font=face, anchor="ma", fill=SOUND if sound else INK,
            stroke_width=width if sound else 0, stroke_fill=PAPER, **extra,  # type: ignore[arg-type]
        )  # fmt: skip
        y += ascent + descent + item.size // 5
