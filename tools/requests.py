"""What the front doors ask of the library: one pydantic model per request.

Like ``results.py`` it imports nothing but pydantic, so a door (the command line, an MCP
server) can build and send requests without loading the engine.
"""

from __future__ import annotations

from datetime import date
from typing import Literal

from pydantic import BaseModel, Field

# The allowed values, defined once: pydantic checks them, the MCP tools' schemas and argparse's
# choices are made from them (typing.get_args), and the comic modules read them from here.
Backend = Literal["openai", "storyboard"]
BaseQuality = Literal["low", "medium", "high", "auto"]
ExtraQuality = Literal["xhigh", "max"]  # GPT Image 2.5 and later
Quality = Literal[BaseQuality, ExtraQuality]
LayoutName = Literal["grid", "strip", "vertical"]
PanelCount = Literal[1, 2, 3, 4, 6]
Transport = Literal["stdio", "http"]


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

    prompt: str
    photos: list[int | str] = Field(
        default_factory=list, description="photo ids from searches, or photo paths"
    )
    subject: str | None = Field(None, description="a remembered subject whose photos to use")
    style: str | None = None
    panels: PanelCount | None = None
    layout: LayoutName | None = None
    refine: str | None = None
    size: str = Field("auto", description="WIDTHxHEIGHT the model accepts, or auto")
    quality: Quality = "auto"
    model: str | None = Field(None, description="image model; default PHOTOCOMIC_IMAGE_MODEL")
    backend: Backend = "openai"
    dry_run: bool = False
    panel: int | None = Field(None, ge=1, le=6, description="redo only this panel (1-based)")
    region: Region | None = Field(None, description="redo only this box of the earlier comic")
    markup_png: str | None = Field(
        None, description="base64 PNG: strokes on a transparent layer over the earlier comic"
    )
    variants: int = Field(1, ge=1, le=4, description="drawings to choose from (the API's n)")


class Filters(BaseModel):
    """Conditions every hit must meet (applied inside Milvus)."""

    folder: str | None = Field(None, description="only photos under this folder")
    taken_after: date | None = Field(None, description="only photos taken on or after this day")
    taken_before: date | None = Field(None, description="only photos taken on or before this day")
    tag: str | None = Field(None, description="only photos tagged so: 'dog', 'beach'")


class SimilarRequest(Filters):
    """Photos like examples: files, indexed photos, uploaded bytes, liked and disliked ids."""

    images: list[str] = Field(default_factory=list)
    photo_ids: list[int] = Field(default_factory=list)
    image_base64: str | None = None
    like: list[int] = Field(default_factory=list)
    unlike: list[int] = Field(default_factory=list)
    limit: int = 10
    diversify: bool = False
    sheet: bool = Field(False, description="also make a numbered contact sheet of the hits")


class FindRequest(Filters):
    """Photos by what they show, or by a remembered subject's name."""

    text: str
    limit: int = 10
    offset: int = 0
    diversify: bool = False
    sheet: bool = False


class DuplicatesRequest(BaseModel):
    threshold: float | None = None
    folder: str | None = None
    limit: int = 100


class IndexRequest(BaseModel):
    folders: list[str]
    recursive: bool = True


class JobRequest(BaseModel):
    job_id: str
    wait: float = Field(0.0, description="wait up to this many seconds for a change")
    since: int = Field(-1, description="the change count already seen; -1 answers at once")


class ComicsRequest(BaseModel):
    limit: int = 20


class PhotoRequest(BaseModel):
    photo_id: int


class ThumbnailsRequest(BaseModel):
    photo_ids: list[int]
    side: int = Field(160, description="the long side in pixels, 32-384")


class ComicFileRequest(BaseModel):
    comic_id: str
    preview: bool = Field(False, description="a small JPEG instead of the full PNG")


class Empty(BaseModel):
    pass


class SubjectRequest(BaseModel):
    """Teach a subject: photos that show it and, as feedback, photos that do not."""

    name: str
    photos: list[int | str] = Field(default_factory=list, description="photo ids or paths")
    not_photos: list[int | str] = Field(default_factory=list, description="photo ids or paths")
    limit: int = Field(12, description="how many of its photos to show back")
    sheet: bool = False


class SubjectName(BaseModel):
    name: str


class RenameSubject(BaseModel):
    name: str
    new_name: str


class MigrateRequest(BaseModel):
    """Copy the library (photos, vectors, tags, subjects) into another store."""

    to: str = Field(description="the target: a Milvus URI or a Milvus Lite file")
    collection: str | None = Field(None, description="the target collection (default: same)")
    token: str | None = Field(None, repr=False, description="the target server's token")


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
