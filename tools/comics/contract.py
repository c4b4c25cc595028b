"""The operations on comics (listing, versions, files) and what a comic is: the drawing's
request, its record and a dry run. Pydantic only (see ``tools/contract.py``)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from photocomic.tools.comics.script_contract import SCRIPT, Letter, Script, ScriptPanel
from photocomic.tools.contract import (
    MAX_NAME,
    Ask,
    IdOrPath,
    ImageData,
    Name,
    NextOffset,
    Offset,
    PhotoRef,
    PromptText,
    limit_field,
)
from pydantic import BaseModel, BeforeValidator, Field, computed_field

# The allowed values, defined once: pydantic checks them, the MCP tools' schemas and argparse's
# choices are made from them (typing.get_args), and the comic modules read them from here.
Backend = Literal["openai", "storyboard"]
BaseQuality = Literal["low", "medium", "high", "auto"]
ExtraQuality = Literal["xhigh", "max"]  # GPT Image 2.5 and later
Quality = Literal[BaseQuality, ExtraQuality]
LayoutName = Literal["grid", "strip", "vertical"]
PanelCount = Literal[1, 2, 3, 4, 6]
StyleKey = Literal["ghibli", "manga", "watercolor", "american-comic", "3d-animation", "noir"]


def style_key(value: object) -> object:
    """'American comic' -> 'american-comic': how people type a style, as the preset's key."""
    return (
        "-".join(value.strip().lower().replace("_", " ").split())
        if isinstance(value, str)
        else value
    )


StyleName = Annotated[StyleKey, BeforeValidator(style_key)]
MAX_REFERENCES = 16  # pictures the image models take in one request (comics/image_models.py)
MAX_VARIANTS = 4  # drawings of one request (the API's n)
MAX_MARKUP = 8 * 1024 * 1024  # base64 characters of a brushed-strokes layer
ComicId = Annotated[str, Field(min_length=1, max_length=MAX_NAME)]
Variants = Annotated[
    int,
    Field(
        ge=1, le=MAX_VARIANTS,
        description=f"1-{MAX_VARIANTS} drawings to choose from; each is saved and can be refined",
    ),
]  # fmt: skip
ImageModel = Annotated[str, Field(min_length=1, max_length=MAX_NAME)]
IMAGE_MODEL = (
    "the image model: auto (the newest one the API key can use) or a name such as gpt-image-2; "
    "a model that was shut down is refused naming its replacement. Not given: photocomic's "
    "default (auto unless its settings name one)"
)
QualityArg = Annotated[Quality, Field(description="the model's quality tier (auto: its default)")]
BackendArg = Annotated[
    Backend, Field(description="openai: the image model; storyboard: an offline layout, no key")
]
DryRun = Annotated[bool, Field(description="show the prompt and images that would be sent")]


class Region(BaseModel):
    """A box on a comic, in the comic's own pixels."""

    x: int = Field(ge=0)
    y: int = Field(ge=0)
    w: int = Field(gt=0)
    h: int = Field(gt=0)


class ComicRequest(BaseModel):
    """What to draw. Unset ``style``, ``panels`` and ``layout`` mean: the earlier comic's on a
    refinement, else ghibli, 4 panels, a grid. ``panel``, ``region`` and ``markup_png`` edit
    part of the earlier comic (one of them, with ``refine``); ``variants`` draws several."""

    prompt: Annotated[PromptText, Field(min_length=1)] = Field(
        description="the story, or on a refinement what to change"
    )
    photos: Annotated[list[IdOrPath], Field(max_length=MAX_REFERENCES)] = Field(
        default_factory=list,
        description=f"photo ids from searches (or paths inside the roots), up to {MAX_REFERENCES}",
    )
    subject: Name | None = Field(
        None, description="a remembered subject: its best photos become the references"
    )
    subjects: Annotated[list[Name], Field(max_length=8)] = Field(
        default_factory=list,
        description="several remembered subjects in one comic: ['Cola', 'Max']",
    )
    style: StyleName | None = Field(
        None, description="the art style (default ghibli; a refinement keeps its comic's)"
    )
    panels: PanelCount | None = Field(None, description="panel count (default 4)")
    layout: LayoutName | None = Field(
        None, description="grid: a page; strip: 2-4 panels in a row; vertical: for phones"
    )
    refine: ComicId | None = Field(
        None, description="comic_id of an earlier comic to change; it is sent first"
    )
    size: Annotated[str, Field(max_length=20)] = Field(
        "auto", description="auto (fits the layout) or WIDTHxHEIGHT the model takes"
    )
    quality: QualityArg = "auto"
    model: ImageModel | None = Field(None, description=IMAGE_MODEL)
    backend: BackendArg = "openai"
    dry_run: DryRun = False
    panel: int | None = Field(
        None, ge=1, le=6,
        description="with refine: redraw only this panel (1-based), the rest stays",
    )  # fmt: skip
    region: Region | None = Field(
        None, description="with refine: redraw only this box {x, y, w, h} in the comic's pixels"
    )
    markup_png: Annotated[str, Field(max_length=MAX_MARKUP)] | None = Field(
        None, description="with refine: base64 PNG of strokes on a clear layer over the comic"
    )
    variants: Variants = 1
    sheet_for: Name | None = Field(
        None, description="draw the character sheet of this subject (draw_character_sheet)"
    )
    script: Script | None = Field(None, description=SCRIPT)
    animate: bool | None = Field(
        None, description="an animated GIF of one scene (a refinement keeps its comic's choice)"
    )
    frames: int | None = Field(
        None, ge=2, le=16, description="with animate: frames in the GIF, 2-16 (default 9)"
    )
    frame_ms: int | None = Field(
        None, ge=10, le=655_350,
        description="with animate: milliseconds per frame (default 200; rounded to 10 ms)",
    )  # fmt: skip

    def subject_names(self) -> list[str]:
        """The subjects asked for, ``subject`` and ``subjects`` together, each once."""
        names = [*([self.subject] if self.subject else []), *self.subjects]
        return list(dict.fromkeys(n.strip() for n in names if n.strip()))


class SheetRef(BaseModel):
    """A subject's character sheet in one style: a comic every later comic follows."""

    subject: str
    style: str
    comic_id: str


class InputImage(BaseModel):
    """One picture as it would be sent: ``source`` is a photo path or ``comic:<id>``."""

    source: str
    width: int
    height: int
    format: str
    bytes: int


class ComicRecord(BaseModel):
    """One saved comic and how it was made; ``parent_id`` links a refinement to its source."""

    comic_id: str
    parent_id: str | None = None
    path: str
    prompt: str = Field(description="the prompt as it was sent to the image model")
    user_prompt: str = Field(description="what was asked: the story, or on a refinement the change")
    story: str = Field("", description="the story of the first comic of this family")
    changes: list[str] = Field(
        default_factory=list, description="the changes made since the first comic, oldest first"
    )
    style: str
    panels: int
    layout: str = "grid"
    photos: list[PhotoRef] = Field(default_factory=list)
    model: str
    size: str = Field(description="the size asked of the model (WIDTHxHEIGHT, or auto)")
    quality: str
    backend: str
    usage: dict[str, Any] | None = Field(None, description="token usage the API reported")
    cost_usd: float | None = Field(
        None, description="estimated cost from the usage and the model's known prices"
    )
    prices_as_of: str | None = None
    created_at: str
    width: int | None = None
    height: int | None = None
    input_fidelity: str | None = None
    input_images: list[str] = Field(default_factory=list)
    subject: str | None = None
    notes: list[str] = Field(default_factory=list)
    edit: str | None = Field(
        None, description="panel, region, markup or letters: what part changed"
    )
    panel: int | None = Field(None, description="the panel redrawn (1-based)")
    edit_box: list[int] | None = Field(
        None, description="the part that changed: left, top, right, bottom in the parent's pixels"
    )
    variant: int | None = Field(None, description="which of several drawings of one request")
    variants: list[str] = Field(
        default_factory=list, description="the comic ids of all drawings of that request"
    )
    subjects: list[str] = Field(default_factory=list, description="the subjects drawn")
    sheets: list[SheetRef] = Field(
        default_factory=list, description="the character sheets sent first, with their versions"
    )
    sheet_for: str | None = Field(None, description="this is the character sheet of a subject")
    art_path: str | None = Field(
        None, description="a lettered comic's drawing without its letters (path is with them)"
    )
    script: list[ScriptPanel] | None = Field(None, description="the script it was lettered from")
    letters: list[Letter] = Field(
        default_factory=list, description="each line lettered: its panel, font and box"
    )
    format: Literal["png", "gif"] = Field("png", description="gif: an animated comic")
    frames: int | None = Field(None, description="an animated comic's frames")
    frame_ms: int | None = Field(None, description="its milliseconds per frame")

    @computed_field(
        description="sheet, relettering, panel redo, edit, variant, refinement or comic"
    )
    def kind(self) -> str:
        if self.sheet_for:
            return "sheet"
        if self.edit == "letters":
            return "relettering"
        if self.panel:
            return "panel redo"
        if self.edit:
            return "edit"
        if self.variant:
            return "variant"
        return "refinement" if self.parent_id else "comic"


class DryRunResult(BaseModel):
    """Exactly what a comic request would send; nothing was sent or written."""

    prompt: str
    images: list[InputImage]
    model: str
    size: str
    quality: str
    backend: str
    style: str
    panels: int
    layout: str = "grid"
    parent_id: str | None = None
    photos: list[PhotoRef] = Field(default_factory=list)
    input_fidelity: str | None = None
    subject: str | None = None
    notes: list[str] = Field(default_factory=list)
    edit: str | None = None
    panel: int | None = None
    edit_box: list[int] | None = None
    overlay: InputImage | None = Field(None, description="the mask or markup it would send")
    drawings: int = Field(1, description="how many variants it would draw")
    subjects: list[str] = Field(default_factory=list)
    sheets: list[SheetRef] = Field(default_factory=list)
    sheet_for: str | None = None
    script: list[ScriptPanel] | None = Field(
        None, description="the lines photocomic would letter (never sent)"
    )
    output_format: str = Field("png", description="the output_format it would ask for")
    frame_count: int | None = Field(None, description="GIF frames it would ask for")
    frame_duration_ms: int | None = Field(None, description="GIF milliseconds per frame")
    stream: bool = Field(False, description="whether it would stream partial images")
    estimated_cost_usd: float | None = Field(
        None,
        description="all variants, from what drawings of this model, size and quality cost "
        "before (None without such drawings or a known price)",
    )


class CastMember(BaseModel):
    """One subject of a comic as it is sent: its sheet (if it has one in the comic's style)
    and its photos, and what it is ('dog'), so the prompt can say who is who."""

    name: str
    kind: str | None = None
    sheet: ComicRecord | None = None
    photos: list[PhotoRef] = Field(default_factory=list)


class LineageStep(BaseModel):
    comic_id: str
    parent_id: str | None
    user_prompt: str
    model: str
    created_at: str
    photos: list[PhotoRef] = Field(default_factory=list, description="its reference photos")
    preview_jpeg: str = Field(description="base64 JPEG, 320 px (160 px in a tree)")
    variant: int | None = None
    variants: list[str] = Field(default_factory=list)
    panel: int | None = None
    panels: int | None = None
    edit: str | None = None
    letters: list[Letter] = Field(
        default_factory=list, description="its lettered lines (the viewer edits them in place)"
    )
    format: str = "png"
    frames: int | None = None


class Lineage(BaseModel):
    """A comic and the ones it was refined from, newest first; and its whole family (every
    version refined from the same first comic, branches and variants) as a tree."""

    steps: list[LineageStep]
    tree: list[LineageStep] = Field(
        default_factory=list, description="the family, oldest first; parent_id makes the branches"
    )


class ComicList(BaseModel):
    comics: list[ComicRecord] = Field(description="newest first")
    total: int
    next_offset: NextOffset = None


class ComicsRequest(Ask[ComicList]):
    op = "list_comics"

    limit: int = limit_field(20, "comics, newest first")
    offset: Offset = 0
    every: bool = Field(False, description="all comics, however many (the command line)")


class LineageRequest(Ask[Lineage]):
    op = "app_comic_lineage"

    comic_id: ComicId = Field(description="a comic_id")


class ComicFileRequest(Ask[ImageData]):
    """A comic's picture (the MCP resources comic://ID and, animated, comic://ID/gif)."""

    op = "comic_file"

    comic_id: str
    preview: bool = Field(False, description="a small JPEG instead of the full PNG")
    animation: bool = Field(False, description="an animated comic's GIF (else its first frame)")

