"""The library owner's own operations (the engine, its jobs, the library as a whole) and the
wire between a door and the engine. Pydantic only (see ``tools/contract.py``)."""

from __future__ import annotations

from typing import Annotated, Literal

from photocomic.tools.comics.contract import (
    IMAGE_MODEL,
    BackendArg,
    ComicId,
    ComicRecord,
    ComicRequest,
    DryRun,
    DryRunResult,
    ImageModel,
    QualityArg,
    StyleName,
    Variants,
)
from photocomic.tools.comics.script_contract import Script
from photocomic.tools.contract import (
    Ask,
    Empty,
    Name,
    NextOffset,
    Offset,
    PathText,
    PromptText,
    limit_field,
)
from photocomic.tools.find.contract import DuplicateCheckRunning
from photocomic.tools.photos.contract import IndexSummary
from pydantic import BaseModel, Field


class DoorInfo(BaseModel):
    """Who sends a request: its settings (secrets included: the socket is the owner's alone),
    the folders it may read, and how long it asks the library's owner to stay up for it."""

    door_id: str
    kind: str = "cli"
    pid: int = 0
    settings: dict[str, object] = Field(default_factory=dict)
    roots: list[str] | None = None
    lease: float = Field(0.0, description="seconds to stay up for this door after this call")
    openai_api_key: str | None = Field(None, repr=False)
    openai_base_url: str | None = None


class Envelope(BaseModel):
    door: DoorInfo
    request: dict[str, object] = Field(default_factory=dict)


class EngineInfo(BaseModel):
    pid: int
    data_dir: str
    version: str
    started_at: str
    libraries: list[str]
    models_loaded: list[str]
    active_jobs: int
    doors: int
    idle_seconds: float


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


JobState = Literal["queued", "running", "done", "failed", "cancelled"]


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
    forward_pass: str | None = Field(
        None,
        description="how the loaded model runs: eager, or torchscript / openvino once a long "
        "index run compiled it for this CPU (kept: later engines load it compiled)",
    )
    engine_pid: int | None = Field(None, description="the process that owns this library")
    jobs: list[JobSnapshot] = Field(
        default_factory=list, description="the runs under way (indexing, drawing), newest first"
    )
    finished_jobs: int = Field(0, description="runs that have ended: list_jobs pages them")
    duplicate_checks: list[DuplicateCheckRunning] = Field(
        default_factory=list,
        description="duplicate checks not finished yet: find_duplicates with the same threshold "
        "and folder collects one",
    )


class JobList(BaseModel):
    """Runs of the library, newest first, without their comics' records (comic_status or
    list_comics has those)."""

    jobs: list[JobSnapshot]
    total: int
    next_offset: NextOffset = None


class ListJobs(Ask[JobList]):
    """The library's runs (indexing, drawing, moving), whichever door started them."""

    op = "list_jobs"

    limit: int = limit_field(20, "runs, newest first")
    offset: Offset = 0


class IndexRequest(Ask[JobSnapshot]):
    op = "index_folder"

    path: PathText = Field(description="a folder inside the allowed roots (or relative)")
    recursive: bool = Field(True, description="include sub-folders")


class JobRequest(BaseModel):
    job_id: Annotated[str, Field(min_length=1, max_length=64)] = Field(
        description="the job_id the run's answer gave"
    )
    wait: float = Field(0.0, ge=0, description="wait up to this many seconds for a change")
    since: int = Field(-1, description="the change count already seen; -1 answers at once")


class MigrateRequest(Ask[JobSnapshot]):
    """Copy the library (photos, vectors, tags, subjects) into another store."""

    op = "migrate"

    to: str = Field(description="the target: a Milvus URI or a Milvus Lite file")
    collection: str | None = Field(None, description="the target collection (default: same)")
    token: str | None = Field(None, repr=False, description="the target server's token")


class JobStatus(JobRequest, Ask[JobSnapshot]):
    """An index run's or a drawing's state (the MCP tools index_status and comic_status)."""

    op = "job_status"


class IndexStatus(JobStatus):
    """An index run's state (the MCP tool index_status)."""

    op = "index_status"


class ComicStatus(JobStatus):
    """A drawing's state (the MCP tool comic_status)."""

    op = "comic_status"


class CancelJob(JobRequest, Ask[JobSnapshot]):
    op = "cancel_job"


class GenerateComic(ComicRequest, Ask[JobSnapshot]):
    """Draw a comic as a job of the library (it goes on when the asking door closes)."""

    op = "generate_comic"
    sent_once = True


class LetterComic(Ask[JobSnapshot]):
    """Letter a comic's drawing again with other lines: no image model, no cost."""

    op = "letter_comic"

    comic_id: ComicId = Field(description="the comic_id of the comic to letter again")
    script: Script = Field(
        description="one entry per panel, as generate_comic's script: {scene, lines: [{who, "
        "text, kind}]}; the scenes are kept as they were drawn"
    )


class Hello(Ask[EngineInfo]):
    """Who the engine is; a door with a lease also has it open the store and load the model."""

    op = "hello"


class Shutdown(Ask[Empty]):
    op = "shutdown"


class StatusRequest(Ask[LibraryStatus]):
    op = "library_status"


class DrawSheet(Ask[JobSnapshot]):
    """Draw a subject's character sheet in a style (a comic job like any other), or, with
    ``use``, keep an earlier version of one as the sheet for that style."""

    op = "draw_character_sheet"
    sent_once = True

    subject: Name = Field(description="a remembered subject: 'Cola'")
    style: StyleName = Field("ghibli", description="the art style of the sheet")
    prompt: PromptText = Field(
        "", description="wishes for the sheet: 'a red collar', 'floppier ears'"
    )
    use: ComicId | None = Field(
        None, description="keep this comic_id (a version of its sheet) as the sheet instead"
    )
    variants: Variants = 1
    quality: QualityArg = "auto"
    model: ImageModel | None = Field(None, description=IMAGE_MODEL)
    backend: BackendArg = "openai"
    dry_run: DryRun = False
