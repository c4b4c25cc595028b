"""Comic page shapes: how many panels, arranged how, on a picture of which size.

The same layout decides the size asked of the image model (when the caller left it to us),
the panel instructions in the prompt, and the grid of the offline storyboard, so all three
always agree.
"""

from __future__ import annotations

from typing import get_args

from photocomic.tools.comics.contract import LayoutName, PanelCount
from photocomic.tools.errors import InvalidInput

Layout = LayoutName
LAYOUTS: dict[str, str] = {  # what each allowed layout is, in words
    "grid": "a page of panels in rows and columns",
    "strip": "one row of 2-4 panels, three times as wide as high",
    "vertical": "one column of 2-4 panels, three times as high as wide, for phones",
}
PANEL_COUNTS: tuple[int, ...] = get_args(PanelCount)
assert set(LAYOUTS) == set(get_args(LayoutName)), "a layout without words, or words for none"
STRIP_PANELS = (2, 3, 4)

# Sizes chosen for size="auto". Free sizes (GPT Image 2 and later) give strips their own
# 3:1 shape; the other models take only the three standard sizes, so the nearest one is used.
_FREE = {"strip": (1536, 512), "vertical": (512, 1536)}
_STANDARD = {"strip": (1536, 1024), "vertical": (1024, 1536)}
_GRID = {1: (1024, 1024), 2: (1536, 1024), 3: (1536, 1024), 4: (1024, 1024), 6: (1024, 1536)}
_WORDS = {1: "one", 2: "two", 3: "three", 4: "four", 6: "six"}


def check_layout(panels: int, layout: str) -> Layout:
    """The layout, or InvalidInput saying which panel counts and layouts go together."""
    if layout not in LAYOUTS:
        raise InvalidInput(f"unknown layout {layout[:20]!r}; choose one of: {', '.join(LAYOUTS)}")
    if panels not in PANEL_COUNTS:
        raise InvalidInput(
            f"panels must be one of {', '.join(map(str, PANEL_COUNTS))}, not {panels}"
        )
    if layout != "grid" and panels not in STRIP_PANELS:
        raise InvalidInput(
            f"a {layout} holds 2 to 4 panels, not {panels}; use layout='grid' for {panels}"
        )
    return layout  # type: ignore[return-value]


def auto_size(panels: int, layout: str, free_sizes: bool) -> tuple[int, int]:
    """The picture size that fits the layout, for a model with or without free sizes."""
    if layout == "grid":
        return _GRID[panels]
    return (_FREE if free_sizes else _STANDARD)[layout]


def arrangement(panels: int, layout: str, width: int, height: int) -> tuple[int, int]:
    """(rows, columns) of the panels on a picture of this size."""
    if layout == "strip" or panels == 1:
        return 1, panels
    if layout == "vertical":
        return panels, 1
    if panels in (2, 3):
        return (panels, 1) if height > width else (1, panels)
    if panels == 4:
        return 2, 2
    if panels == 6:
        return (2, 3) if width > height else (3, 2)
    raise InvalidInput(f"panels must be one of {', '.join(map(str, PANEL_COUNTS))}")


def panel_box(
    panels: int, layout: str, width: int, height: int, panel: int
) -> tuple[int, int, int, int]:
    """Where panel ``panel`` (1-based, read in order) lies: (left, top, right, bottom) of an
    equal share of a ``width`` x ``height`` picture, as the layout asks the model to draw it."""
    if not 1 <= panel <= panels:
        raise InvalidInput(f"panel {panel} of a {panels}-panel comic: choose 1 to {panels}")
    rows, cols = arrangement(panels, layout, width, height)
    row, col = divmod(panel - 1, cols)
    return (
        round(col * width / cols), round(row * height / rows),
        round((col + 1) * width / cols), round((row + 1) * height / rows),
    )  # fmt: skip


LETTERED = (
    "Draw no text at all: no speech balloons, thought bubbles, captions, sound words, signs or "
    "lettering of any kind; the lettering is added afterwards. Keep the upper third of every "
    "panel calm (sky, a wall, open floor) so there is room for it."
)


def panel_instructions(
    panels: int, layout: str, width: int, height: int, lettered: bool = False
) -> str:
    """How the picture is divided, phrased for the image model; ``lettered``: photocomic adds
    the text afterwards, so the model draws none."""
    words = LETTERED if lettered else (
        "The panels tell the story in order; keep any speech balloons and captions short, "
        "legible and spelled correctly."
    )  # fmt: skip
    if panels == 1:
        return (
            "Layout: a single full-page illustration (one panel), no panel borders needed. "
            + (LETTERED if lettered else "")
        ).strip()
    rows, cols = arrangement(panels, layout, width, height)
    word = _WORDS[panels]
    if layout == "strip":
        shape = (
            f"a horizontal comic strip of exactly {word} panels side by side in one row, read "
            "left to right"
        )
    elif layout == "vertical":
        shape = (
            f"a vertical comic strip of exactly {word} panels stacked in one column, read top "
            "to bottom, for scrolling on a phone"
        )
    else:
        shape = (
            f"a comic page with exactly {word} panels in a grid of {rows} "
            f"row{'s' * (rows > 1)} by {cols} column{'s' * (cols > 1)}, read left to right, "
            "top to bottom"
        )
    return (
        f"Layout: {shape}, separated by clean white gutters, filling the whole {width}x{height} "
        f"picture. {words}"
    )
