"""The operations that find photos (by example, by words, duplicates, pictures of photos) and
the named subjects: their requests and answers. Pydantic only (see ``tools/contract.py``)."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal

from photocomic.tools.comics.contract import SheetRef
from photocomic.tools.contract import (
    MAX_PHOTOS,
    MAX_TEXT,
    MAX_UPLOAD_TEXT,
    Ask,
    IdOrPath,
    ImageData,
    Name,
    NextOffset,
    Offset,
    PathText,
    PhotoRef,
    limit_field,
    path_from_raw,
)
from pydantic import BaseModel, Field, model_validator


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
    next_offset: int | None = Field(
        None, description="offset= for the next page of find_photos; None: the last page"
    )
    subject: str | None = Field(None, description="the remembered subject these photos show")


class SearchAnswer(BaseModel):
    """Search results, and when asked a numbered contact sheet (base64 JPEG) of the first."""

    results: list[SearchResult]
    sheet_jpeg: str | None = None


class DuplicatePhoto(BaseModel):
    photo_id: int
    path: str
    score: float = Field(description="how surely it is the same shot as the group's first photo")


class DuplicateGroup(BaseModel):
    """Photos of one shot; the first is the one to keep (most pixels, then the oldest file)."""

    photos: list[DuplicatePhoto]
    size: int = Field(0, description="photos in the group (an answer lists the first 20)")


class DuplicateReport(BaseModel):
    threshold: float
    checked: int = Field(description="how many photos were compared")
    groups: list[DuplicateGroup] = Field(description="largest group first")


class CheckUnderWay(BaseModel):
    """How far a duplicate check that has not finished yet has come."""

    state: Literal["done", "running"] = Field(
        "done", description="running: the check goes on; ask again with the same arguments"
    )
    progress: float | None = Field(None, description="about how much of it is done (0-1)")
    stage: str | None = Field(None, description="what it is doing")
    seconds: float | None = Field(None, description="how long it has run")


class DuplicateCheckRunning(CheckUnderWay):
    """A duplicate check that has not finished, as library_status lists it."""

    threshold: float
    folder: str | None = Field(None, description="the folder it checks (None: every photo)")


class DuplicatesAnswer(DuplicateReport, CheckUnderWay):
    total_groups: int = 0
    offset: int = 0
    next_offset: NextOffset = None


class Thumbnail(BaseModel):
    photo_id: int
    jpeg: str | None = Field(None, description="base64 JPEG; None when it cannot be read")


class Thumbnails(BaseModel):
    thumbnails: list[Thumbnail]


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
    sheets: list[SheetRef] = Field(
        default_factory=list, description="its character sheets, one per style"
    )


class SubjectList(BaseModel):
    subjects: list[SubjectInfo]


class SubjectAnswer(BaseModel):
    """A subject after it was taught, with its best photos now (and their contact sheet)."""

    subject: SubjectInfo
    photos: SearchAnswer


class Filters(BaseModel):
    """Conditions every hit must meet (applied inside Milvus)."""

    folder: PathText | None = Field(
        None, description="only photos under this folder (inside the allowed roots)"
    )
    taken_after: date | None = Field(None, description="only photos taken on or after, YYYY-MM-DD")
    taken_before: date | None = Field(
        None, description="only photos taken on or before, YYYY-MM-DD"
    )
    tag: Name | None = Field(
        None, description="only photos tagged with this label or category: 'dog', 'beach'"
    )


DIVERSIFY = "skip near-identical shots so the hits show variety"
PHOTO_IDS = Annotated[list[int], Field(max_length=MAX_PHOTOS)]


class SimilarRequest(Filters, Ask[SearchAnswer]):
    """Photos like examples: a file, an indexed photo or uploaded bytes (one of them), and
    photos liked and disliked; the command line may give several files and ids at once."""

    op = "search_similar"

    image: PathText | None = Field(
        None, description="a photo's path inside the allowed roots (or relative)"
    )
    photo_id: int | None = Field(None, description="an indexed photo's id")
    image_base64: Annotated[str, Field(max_length=MAX_UPLOAD_TEXT)] | None = Field(
        None, description="an image file's bytes, base64 (size-limited; prefer a path)"
    )
    like: PHOTO_IDS = Field(
        default_factory=list, description="photo ids that show what you want; may be alone"
    )
    unlike: PHOTO_IDS = Field(
        default_factory=list, description="photo ids that show what you do not want"
    )
    limit: int = limit_field(6)
    diversify: bool = Field(True, description=DIVERSIFY)
    images: Annotated[list[PathText], Field(max_length=MAX_PHOTOS)] = Field(
        default_factory=list, description="several query photos' paths (the command line)"
    )
    photo_ids: PHOTO_IDS = Field(
        default_factory=list, description="several indexed photos' ids (the command line)"
    )
    sheet: bool = Field(False, description="also make a numbered contact sheet of the hits")

    @model_validator(mode="after")
    def _one_source(self) -> SimilarRequest:
        given = [
            name
            for name in ("image", "photo_id", "image_base64")
            if getattr(self, name) is not None
        ]
        if len(given) > 1:
            raise ValueError(
                f"give exactly one query source, not {' and '.join(given)}: image (a path), "
                "photo_id, or image_base64; add like/unlike to steer it"
            )
        if not given and not (self.images or self.photo_ids or self.like):
            raise ValueError(
                "nothing to search with: give image (a path inside the photo folders), "
                "photo_id, or image_base64, or like=[photo ids] from an earlier search"
            )
        return self

    def query_images(self) -> list[str]:
        return [*self.images, *([self.image] if self.image is not None else [])]

    def query_ids(self) -> list[int]:
        return [*self.photo_ids, *([self.photo_id] if self.photo_id is not None else [])]


class FindRequest(Filters, Ask[SearchAnswer]):
    """Photos by what they show, or by a remembered subject's name."""

    op = "find_photos"

    text: Annotated[str, Field(min_length=1, max_length=MAX_TEXT)] = Field(
        description="what the photos show ('dog', 'beach') or a remembered subject's name"
    )
    limit: int = limit_field(12)
    offset: Offset = 0
    diversify: bool = Field(True, description=DIVERSIFY)
    sheet: bool = Field(False, description="also make a numbered contact sheet of the hits")


class DuplicatesRequest(Ask[DuplicatesAnswer]):
    """Groups of near-identical photos."""

    op = "find_duplicates"

    threshold: float | None = Field(
        None, gt=0, le=1, description="similarity above which photos count as one shot (0-1]"
    )
    folder: PathText | None = Field(
        None, description="only photos under this folder (inside the allowed roots)"
    )
    limit: int = limit_field(20, "groups")
    offset: Offset = 0
    every: bool = Field(False, description="all groups, however many (the command line)")
    wait: float | None = Field(
        None, ge=0, description="answer with the check's progress after this many seconds"
    )


class PhotoRequest(Ask[ImageData]):
    """A photo's thumbnail (the MCP resource photo://ID)."""

    op = "photo_thumbnail"

    photo_id: int


class ThumbnailsRequest(Ask[Thumbnails]):
    """Small pictures of photos for a page (an MCP App)."""

    op = "app_thumbnails"

    photo_ids: PHOTO_IDS = Field(description="photo ids from a search answer")
    side: int = Field(160, ge=32, le=384, description="long side in pixels, 32-384")


class SubjectRequest(Ask[SubjectAnswer]):
    """Teach a subject: photos that show it and, as feedback, photos that do not."""

    op = "remember_subject"

    name: Name = Field(description="what the person calls it: 'Cola', 'Grandma'")
    photos: Annotated[list[IdOrPath], Field(max_length=MAX_PHOTOS)] = Field(
        default_factory=list,
        description="photo ids (or paths) that show it; adding again adds examples",
    )
    not_photos: Annotated[list[IdOrPath], Field(max_length=MAX_PHOTOS)] = Field(
        default_factory=list,
        description="photo ids that do not show it (feedback on its contact sheet)",
    )
    limit: int = limit_field(12, "of its photos to show back")
    sheet: bool = Field(False, description="also make a numbered contact sheet of them")

    @model_validator(mode="after")
    def _some_example(self) -> SubjectRequest:
        if not (self.photos or self.not_photos):
            raise ValueError("give photos that show it (ids or paths), or not_photos to correct it")
        return self


class SubjectName(BaseModel):
    name: Name = Field(description="the subject's name")


class ListSubjects(Ask[SubjectList]):
    op = "list_subjects"


class ShowSubject(SubjectName, Ask[SubjectInfo]):
    op = "show_subject"


class ForgetSubject(SubjectName, Ask[SubjectInfo]):
    op = "forget_subject"


class RenameSubject(Ask[SubjectInfo]):
    op = "rename_subject"

    name: Name = Field(description="the subject's name now")
    new_name: Name = Field(description="what to call it from now on")


class PhotoSubject(BaseModel):
    name: str
    confidence: float = Field(description="the subject's model: how sure it shows it, 0-1")
    marked: Literal["example", "not", "model"] = Field(
        description="example/not: the person said so; model: the subject's model thinks so"
    )


class PhotoComic(BaseModel):
    comic_id: str
    created_at: str
    style: str
    path: str
    format: str = Field("png", description="gif: an animated comic")
    frames: int | None = None
    lettered: bool = Field(False, description="photocomic lettered its lines")


class PhotoInfo(BaseModel):
    """Everything the library knows about one photo."""

    photo_id: int
    path: str
    raw_path: str | None = Field(
        None, description="base64 of the file name's bytes, only when they are not UTF-8"
    )
    width: int
    height: int
    bytes: int = Field(description="the file's size on disk")
    taken_at: str = Field(description="when the photo was taken (EXIF, else file time), UTC")
    labels: dict[str, float] = Field(description="ImageNet labels the model sees, with scores")
    categories: dict[str, float] = Field(description="broad categories (dog, beach), scored")
    subjects: list[PhotoSubject] = Field(description="remembered subjects it shows, surest first")
    duplicates: list[DuplicatePhoto] = Field(description="near-identical photos, closest first")
    comics: list[PhotoComic] = Field(description="comics drawn from it, newest first (20 at most)")
    comics_total: int = Field(0, description="how many comics were drawn from it in all")


class PhotoInfoRequest(Ask[PhotoInfo]):
    """One photo, by id (from a search) or by path (inside the caller's roots)."""

    op = "photo_info"

    photo: IdOrPath = Field(description="a photo id from a search, or a photo's path in the roots")
