"""What the MCP tools answer: pydantic models whose JSON schemas become the tools' output schemas.

Why mirrors of the tools' models instead of the tools' own classes: importing those pulls in
numpy, Pillow and the store (about a second), and ``tools/list`` must answer within about two
seconds of launch. ``tests/test_mcp_models.py`` keeps the field names in step with the
originals, so ``index_status``'s summary has exactly the fields of ``photocomic index --json``.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

JobState = Literal["queued", "running", "done", "failed", "cancelled"]


class Hit(BaseModel):
    """One found photo; ``rank`` is its cell number on the contact sheet (#1, #2, ...)."""

    rank: int
    photo_id: int
    path: str
    score: float = Field(
        description="similarity (search_similar) or tag confidence (find_photos), 0-1"
    )
    taken_at: str = Field(description="when the photo was taken (EXIF, else file time), UTC")
    width: int
    height: int
    labels: list[str] = Field(default_factory=list, description="what the model sees in it")


class SearchOutput(BaseModel):
    """Hits, best first, and how to refer to them: the contact sheet numbers them #1, #2, ..."""

    query: str
    hits: list[Hit]
    note: str | None = None
    contact_sheet: str = Field(
        default="",
        description="what the attached JPEG shows: cell #N is hits[N-1]",
    )


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


class IndexJob(BaseModel):
    """An indexing run, finished or still going in the background."""

    job_id: str
    state: JobState
    folder: str
    recursive: bool
    done: int = Field(0, description="photos decoded and embedded so far")
    total: int | None = Field(None, description="photos to process (None while scanning)")
    started_at: str
    finished_at: str | None = None
    summary: IndexSummary | None = Field(
        None, description="when done: the run's summary (failed list capped at 50 entries)"
    )
    failed_count: int = Field(0, description="files that could not be indexed, in all")
    error: str | None = None
    message: str = ""


class DuplicatePhoto(BaseModel):
    photo_id: int
    path: str
    score: float = Field(description="similarity to the group's first photo (1.0 for it)")


class DuplicateGroup(BaseModel):
    """Photos of one shot; the first is the largest (most pixels), the one to keep."""

    photos: list[DuplicatePhoto]


class DuplicatesOutput(BaseModel):
    threshold: float
    checked: int = Field(description="how many photos were compared")
    groups: list[DuplicateGroup] = Field(description="largest group first (capped by limit)")
    total_groups: int


class PhotoRef(BaseModel):
    photo_id: int | None = None
    path: str


class InputImage(BaseModel):
    """A picture as a dry run would send it: ``source`` is a photo path or ``comic:<id>``."""

    source: str
    width: int
    height: int
    format: str
    bytes: int


class ComicOutput(BaseModel):
    """A comic that was made (or, for a dry run, exactly what would be sent)."""

    dry_run: bool = False
    comic_id: str | None = Field(None, description="pass as refine= to change this comic")
    parent_id: str | None = Field(None, description="the comic this one refines")
    path: str | None = Field(None, description="the full-size PNG on the server's disk")
    uri: str | None = Field(None, description="MCP resource with the full-size image")
    prompt: str = Field(description="the prompt actually sent to the image model")
    user_prompt: str | None = None
    style: str
    panels: int
    model: str
    backend: str
    size: str
    quality: str
    width: int | None = None
    height: int | None = None
    photos: list[PhotoRef] = Field(default_factory=list)
    input_images: list[InputImage] = Field(
        default_factory=list, description="dry run only: the pictures that would be sent"
    )
    notes: list[str] = Field(default_factory=list)


class ComicSummary(BaseModel):
    comic_id: str
    parent_id: str | None = None
    path: str
    uri: str
    user_prompt: str
    style: str
    panels: int
    backend: str
    model: str
    created_at: str


class ComicList(BaseModel):
    comics: list[ComicSummary] = Field(description="newest first")
    total: int


class LibraryStatus(BaseModel):
    db: str = Field(description="the Milvus store (a Milvus Lite file or a server URI)")
    collection: str
    model: str | None = Field(description="embedding model the store was built with")
    dim: int | None
    model_loaded: bool = Field(description="whether the model is in memory in this server")
    photos: int
    comics: int
    data_dir: str
    roots: list[str] = Field(description="the folders this server may read")
    max_upload_bytes: int
    jobs: list[IndexJob] = Field(description="indexing runs of this server, newest first")
