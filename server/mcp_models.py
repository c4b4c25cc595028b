"""What the MCP tools answer beyond the tools layer's own results: contact sheets, comics.

The tools' result models come from the ``contract`` modules, which import nothing but
pydantic, so declaring the output schemas costs no start-up time before ``tools/list``.
"""

from __future__ import annotations

from typing import Literal

from photocomic.tools.comics.contract import InputImage, SheetRef
from photocomic.tools.comics.script_contract import Letter
from photocomic.tools.contract import NextOffset, PhotoRef
from photocomic.tools.find.contract import (
    CheckUnderWay,
    DuplicateGroup,
    DuplicateReport,
    SearchResult,
    SubjectInfo,
)
from photocomic.tools.owner import contract as owner
from photocomic.tools.owner.contract import JobSnapshot
from pydantic import BaseModel, Field


class SearchOutput(SearchResult):
    """Hits, best first, and how to refer to them: the contact sheet numbers them #1, #2, ..."""

    contact_sheet: str = Field(
        default="",
        description="what the attached JPEG shows: cell #N is hits[N-1]",
    )


class SubjectOutput(SearchOutput):
    """A subject as taught now, and its best photos (numbered like search hits)."""

    about: SubjectInfo


class IndexJob(JobSnapshot):
    """An indexing run, finished or still going in the background (in the library's owner,
    whichever door started it)."""


class DuplicatesOutput(DuplicateReport, CheckUnderWay):
    groups: list[DuplicateGroup] = Field(description="largest group first (capped by limit)")
    total_groups: int
    next_offset: NextOffset = None


class ComicOutput(BaseModel):
    """A comic that was made, one still being drawn (state running: poll comic_status), or
    for a dry run exactly what would be sent."""

    state: Literal["done", "running"] = Field(
        "done", description="running: still drawing; call comic_status(job_id) for the comic"
    )
    job_id: str | None = Field(None, description="the drawing's job, for comic_status")
    dry_run: bool = False
    comic_id: str | None = Field(None, description="pass as refine= to change this comic")
    parent_id: str | None = Field(None, description="the comic this one refines")
    path: str | None = Field(None, description="the full-size PNG on the server's disk")
    uri: str | None = Field(None, description="MCP resource with the full-size image")
    prompt: str | None = Field(None, description="the prompt actually sent to the image model")
    user_prompt: str | None = None
    style: str | None = None
    panels: int | None = None
    layout: str | None = None
    model: str | None = None
    backend: str | None = None
    size: str | None = None
    quality: str | None = None
    width: int | None = None
    height: int | None = None
    photos: list[PhotoRef] = Field(default_factory=list)
    subject: str | None = None
    cost_usd: float | None = Field(None, description="estimated from the usage and known prices")
    partial_images: int = Field(0, description="partial images received while drawing")
    input_images: list[InputImage] = Field(
        default_factory=list, description="dry run only: the pictures that would be sent"
    )
    notes: list[str] = Field(default_factory=list)
    edit: str | None = Field(
        None, description="panel, region, markup or letters: what part changed"
    )
    panel: int | None = None
    edit_box: list[int] | None = Field(
        None, description="the part that changed: left, top, right, bottom in the parent's pixels"
    )
    variant: int | None = None
    variants: list[str] = Field(
        default_factory=list, description="all drawings of this request: pick one to go on from"
    )
    estimated_cost_usd: float | None = Field(
        None, description="dry run only: what drawing it may cost, all variants"
    )
    subjects: list[str] = Field(default_factory=list, description="the subjects drawn")
    sheets: list[SheetRef] = Field(
        default_factory=list, description="character sheets sent first (subject, style, comic_id)"
    )
    sheet_for: str | None = Field(
        None, description="this comic is that subject's character sheet (in its style)"
    )
    letters: list[Letter] = Field(
        default_factory=list,
        description="the lines photocomic lettered: panel, kind, text, font and box",
    )
    format: str = Field("png", description="gif: an animated comic (the resource uri is it)")
    frames: int | None = Field(None, description="an animation's frames (a dry run: asked)")
    frame_ms: int | None = Field(None, description="its milliseconds per frame")


class ComicSummary(BaseModel):
    comic_id: str
    parent_id: str | None = None
    path: str
    uri: str
    user_prompt: str = Field(description="what was asked (its first words): the story or a change")
    style: str
    panels: int
    layout: str = "grid"
    backend: str
    model: str
    created_at: str
    cost_usd: float | None = None
    edit: str | None = None
    panel: int | None = None
    variant: int | None = None
    kind: str = Field(
        description="sheet, relettering, panel redo, edit, variant, refinement or comic"
    )
    lettered: bool = Field(False, description="photocomic lettered it (letter_comic changes it)")
    format: str = Field("png", description="gif: an animated comic")
    frames: int | None = None
    subjects: list[str] = Field(default_factory=list, description="the subjects drawn")
    sheet_for: str | None = Field(None, description="whose character sheet this is")
    story: str = Field("", description="the first words of the family's story")
    changes: int = Field(0, description="changes made since the first comic")


class ComicList(BaseModel):
    comics: list[ComicSummary] = Field(description="newest first")
    total: int
    next_offset: NextOffset = None


class LibraryStatus(owner.LibraryStatus):
    """The library's status: its model, photos, comics, the folders this server may read, and
    every run under way (whichever door started it)."""

    max_upload_bytes: int
