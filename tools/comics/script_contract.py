"""What a script is (the lines photocomic letters, one entry per panel) and what lettering
leaves in a comic's record. Pydantic only (see ``tools/contract.py``)."""

from __future__ import annotations

from typing import Annotated, Literal

from photocomic.tools.contract import MAX_TEXT, Name
from pydantic import BaseModel, Field

LineKind = Literal["speech", "thought", "caption", "sound"]
MAX_LINE = 300  # characters of one line of lettering: a balloon, not a paragraph
MAX_LINES = 6  # lines in one panel


class ScriptLine(BaseModel):
    """One thing a reader reads in a panel: what someone says or thinks, a caption, a sound."""

    who: Name | None = Field(
        None, description="who says or thinks it ('Biscuit'); null for captions and sounds"
    )
    text: Annotated[str, Field(min_length=1, max_length=MAX_LINE)] = Field(
        description="the words, in any language and script"
    )
    kind: LineKind = Field("speech", description="speech, thought, caption or sound")


class ScriptPanel(BaseModel):
    """One panel of a script: what it shows (sent to the image model) and its lines (lettered
    by photocomic, never sent)."""

    scene: Annotated[str, Field(max_length=MAX_TEXT)] = Field(
        "", description="what the panel shows, for the image model"
    )
    lines: Annotated[list[ScriptLine], Field(max_length=MAX_LINES)] = Field(
        default_factory=list, description="what a reader reads in it, in reading order"
    )


Script = Annotated[list[ScriptPanel], Field(min_length=1, max_length=6)]
SCRIPT = (
    "one entry per panel: {scene, lines: [{who, text, kind}]}; photocomic letters the lines "
    "itself (any language) and the image model draws the scenes without text"
)


class Letter(BaseModel):
    """One line as photocomic lettered it: ``box`` is everything it paints (the balloon or
    caption with its tail), left, top, right, bottom in the comic's pixels."""

    panel: int
    kind: LineKind
    who: str | None = None
    text: str
    font: str = Field(description="the font the line is set in")
    direction: Literal["ltr", "rtl"] = "ltr"
    box: list[int]
