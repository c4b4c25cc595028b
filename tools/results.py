"""What the tools answer: the result models that the command line prints as JSON and the MCP
server returns as structured content (their JSON schemas become the tools' output schemas).

Why a module of its own that imports nothing but pydantic: the MCP server declares its tools'
output schemas at start-up, and ``tools/list`` must answer within about two seconds of launch,
before numpy, Pillow, torch or the store are imported. One definition serves both front doors,
so ``index_status``'s summary has exactly the fields of ``photocomic index --json``.
"""

from __future__ import annotations

import base64
import os
from typing import Any, Literal

from pydantic import BaseModel, Field


def path_from_raw(raw: str) -> str:
    """A path from the base64 of its bytes (how names that are not UTF-8 travel as text)."""
    return os.fsdecode(base64.b64decode(raw))


class FailedFile(BaseModel):
    path: str
    error: str


class IndexSummary(BaseModel):
    """What one indexing run did: the fields of ``photocomic index --json``."""

    scanned: int = 0
    added: int = 0
    updated: int = 0
    unchanged: int = 0
    removed: int = 0
    failed: list[FailedFile] = Field(default_factory=list)
    seconds: float = 0.0


class SearchHit(BaseModel):
    """One found photo; ``rank`` is its cell number on the contact sheet (#1, #2, ...)."""

    rank: int
    photo_id: int
    path: str
    raw_path: str | None = Field(
        None, description="base64 of the file name's bytes, only when they are not UTF-8"
    )
    score: float = Field(
        description="similarity (search_similar) or tag confidence (find_photos), 0-1"
    )
    taken_at: str = Field(description="when the photo was taken (EXIF, else file time), UTC")
    width: int
    height: int
    labels: list[str] = Field(default_factory=list, description="what the model sees in it")

    def local_path(self) -> str:
        return path_from_raw(self.raw_path) if self.raw_path else self.path


class SearchResult(BaseModel):
    """Hits, best first, for one query."""

    query: str
    hits: list[SearchHit]
    note: str | None = None
    total: int | None = Field(
        None, description="how many photos match in all (when known), for paging with offset"
    )
    subject: str | None = Field(None, description="the remembered subject these photos show")


class DuplicatePhoto(BaseModel):
    photo_id: int
    path: str
    score: float = Field(description="how surely it is the same shot as the group's first photo")


class DuplicateGroup(BaseModel):
    """Photos of one shot; the first is the one to keep (most pixels, then the oldest file)."""

    photos: list[DuplicatePhoto]


class DuplicateReport(BaseModel):
    threshold: float
    checked: int = Field(description="how many photos were compared")
    groups: list[DuplicateGroup] = Field(description="largest group first")


class PhotoRef(BaseModel):
    """A reference photo of a comic, already resolved and allowed by the caller."""

    photo_id: int | None = None
    path: str = Field(description="the file's path (as text when its name is not UTF-8)")
    raw_path: str | None = Field(
        None, description="base64 of the file name's bytes, only when they are not UTF-8"
    )

    def local_path(self) -> str:
        """The path to open: exactly the file's own bytes, UTF-8 or not."""
        return path_from_raw(self.raw_path) if self.raw_path else self.path


class InputImage(BaseModel):
    """One picture as it would be sent: ``source`` is a photo path or ``comic:<id>``."""

    source: str
    width: int
    height: int
    format: str
    bytes: int


class LibraryStatus(BaseModel):
    db: str = Field(description="the Milvus store (a Milvus Lite file or a server URI)")
    collection: str
    model: str | None = Field(description="embedding model the store was built with")
    dim: int | None
    photos: int
    data_dir: str
    roots: list[str] = Field(description="the folders this server may read")
    comics: int
    precision: str | None = Field(None, description="the precision the photos were embedded in")
    model_loaded: bool = Field(False, description="whether the model is in memory")
    engine_pid: int | None = Field(None, description="the process that owns this library")
    jobs: list[JobSnapshot] = Field(
        default_factory=list, description="indexing and drawing runs, newest first"
    )


class ComicRecord(BaseModel):
    """One saved comic and how it was made; ``parent_id`` links a refinement to its source."""

    comic_id: str
    parent_id: str | None = None
    path: str
    prompt: str = Field(description="the prompt as it was sent to the image model")
    user_prompt: str
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
    edit: str | None = Field(None, description="panel, region or markup: what part changed")
    panel: int | None = Field(None, description="the panel redrawn (1-based)")
    edit_box: list[int] | None = Field(
        None, description="the part that changed: left, top, right, bottom in the parent's pixels"
    )
    variant: int | None = Field(None, description="which of several drawings of one request")
    variants: list[str] = Field(
        default_factory=list, description="the comic ids of all drawings of that request"
    )


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
    estimated_cost_usd: float | None = Field(
        None,
        description="all variants, from what drawings of this model, size and quality cost "
        "before (None without such drawings or a known price)",
    )


JobState = Literal["queued", "running", "done", "failed", "cancelled"]


class SubjectInfo(BaseModel):
    """A named subject: how it was taught and how many photos the model thinks show it."""

    name: str
    positives: int = Field(description="photos marked as showing it")
    negatives: int = Field(description="photos marked as not showing it")
    examples: list[PhotoRef] = Field(
        default_factory=list, description="its example photos (those this caller may see)"
    )
    trained_at: str | None = None
    estimate: int | None = Field(None, description="photos in the library the model says show it")
    estimate_is_floor: bool = Field(False, description="at least this many (the count was cut)")
    notes: list[str] = Field(default_factory=list)


class SubjectList(BaseModel):
    subjects: list[SubjectInfo]


class SubjectAnswer(BaseModel):
    """A subject after it was taught, with its best photos now (and their contact sheet)."""

    subject: SubjectInfo
    photos: SearchAnswer


class MigrationSummary(BaseModel):
    """What a move of the library to another store did (``photocomic migrate``)."""

    source: str
    target: str
    collection: str
    photos: int = Field(description="photos in the target at the end (as many as the source)")
    copied: int = Field(
        description="rows copied by this run (an earlier, interrupted run the rest)"
    )
    subjects: int = 0
    resumed: bool = False
    seconds: float = 0.0


class JobSnapshot(BaseModel):
    """A run that belongs to the library (indexing a folder, drawing a comic), whichever door
    started it; it goes on when that door closes."""

    job_id: str
    kind: Literal["index", "comic", "migrate"]
    state: JobState
    folder: str | None = Field(None, description="the folder being indexed")
    recursive: bool = True
    done: int = Field(0, description="photos processed so far (index), partial images (comic)")
    total: int | None = Field(None, description="photos to process (None while scanning)")
    changes: int = Field(0, description="counts every change; pass it back as since= to wait")
    started_at: str
    finished_at: str | None = None
    summary: IndexSummary | None = Field(
        None, description="when done: the run's summary (an MCP answer lists the first 50 failures)"
    )
    failed_count: int = Field(0, description="files that could not be indexed, in all")
    error: str | None = None
    error_kind: str | None = None
    message: str = ""
    record: ComicRecord | DryRunResult | MigrationSummary | None = Field(
        None, description="the comic, when drawn (or a migration's summary)"
    )
    preview_jpeg: str | None = Field(
        None, description="base64 JPEG: the latest partial image while drawing, else the comic"
    )
    joined: bool = Field(False, description="the run was already under way for this folder")


class SearchAnswer(BaseModel):
    """Search results, and when asked a numbered contact sheet (base64 JPEG) of the first."""

    results: list[SearchResult]
    sheet_jpeg: str | None = None


class DuplicatesAnswer(DuplicateReport):
    total_groups: int = 0


class ImageData(BaseModel):
    mime: str
    data: str = Field(description="base64")


class Thumbnail(BaseModel):
    photo_id: int
    jpeg: str | None = Field(None, description="base64 JPEG; None when it cannot be read")


class Thumbnails(BaseModel):
    thumbnails: list[Thumbnail]


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


LibraryStatus.model_rebuild()
SubjectAnswer.model_rebuild()
