"""The operations that find photos (by example, by words, duplicates, pictures of photos) and
the named subjects: their requests and answers. Pydantic only (see ``tools/contract.py``)."""

from __future__ import annotations

from datetime import date
from typing import Literal

from photocomic.tools.comics.contract import SheetRef
from photocomic.tools.contract import Ask, ImageData, PhotoRef, path_from_raw
from pydantic import BaseModel, Field


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


class DuplicateReport(BaseModel):
    threshold: float
    checked: int = Field(description="how many photos were compared")
    groups: list[DuplicateGroup] = Field(description="largest group first")


class DuplicatesAnswer(DuplicateReport):
    total_groups: int = 0


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

    folder: str | None = Field(None, description="only photos under this folder")
    taken_after: date | None = Field(None, description="only photos taken on or after this day")
    taken_before: date | None = Field(None, description="only photos taken on or before this day")
    tag: str | None = Field(None, description="only photos tagged so: 'dog', 'beach'")


class SimilarRequest(Filters, Ask[SearchAnswer]):
    """Photos like examples: files, indexed photos, uploaded bytes, liked and disliked ids."""

    op = "search_similar"
    handler = "find.search:search_similar"

    images: list[str] = Field(default_factory=list)
    photo_ids: list[int] = Field(default_factory=list)
    image_base64: str | None = None
    like: list[int] = Field(default_factory=list)
    unlike: list[int] = Field(default_factory=list)
    limit: int = 10
    diversify: bool = False
    sheet: bool = Field(False, description="also make a numbered contact sheet of the hits")


class FindRequest(Filters, Ask[SearchAnswer]):
    """Photos by what they show, or by a remembered subject's name."""

    op = "find_photos"
    handler = "find.search:find_photos"

    text: str
    limit: int = 10
    offset: int = 0
    diversify: bool = False
    sheet: bool = False


class DuplicatesRequest(Ask[DuplicatesAnswer]):
    """Groups of near-identical photos."""

    op = "find_duplicates"
    handler = "find.duplicates:find_duplicates"

    threshold: float | None = None
    folder: str | None = None
    limit: int = 100


class PhotoRequest(Ask[ImageData]):
    """A photo's thumbnail (the MCP resource photo://ID)."""

    op = "photo_thumbnail"
    handler = "find.thumbnails:photo_thumbnail"

    photo_id: int


class ThumbnailsRequest(Ask[Thumbnails]):
    """Small pictures of photos for a page (an MCP App)."""

    op = "app_thumbnails"
    handler = "find.thumbnails:app_thumbnails"

    photo_ids: list[int]
    side: int = Field(160, description="the long side in pixels, 32-384")


class SubjectRequest(Ask[SubjectAnswer]):
    """Teach a subject: photos that show it and, as feedback, photos that do not."""

    op = "remember_subject"
    handler = "find.subjects:remember_subject"

    name: str
    photos: list[int | str] = Field(default_factory=list, description="photo ids or paths")
    not_photos: list[int | str] = Field(default_factory=list, description="photo ids or paths")
    limit: int = Field(12, description="how many of its photos to show back")
    sheet: bool = False


class SubjectName(BaseModel):
    name: str


class ListSubjects(Ask[SubjectList]):
    op = "list_subjects"
    handler = "find.subjects:list_subjects"


class ShowSubject(SubjectName, Ask[SubjectInfo]):
    op = "show_subject"
    handler = "find.subjects:show_subject"


class ForgetSubject(SubjectName, Ask[SubjectInfo]):
    op = "forget_subject"
    handler = "find.subjects:forget_subject"


class RenameSubject(Ask[SubjectInfo]):
    op = "rename_subject"
    handler = "find.subjects:rename_subject"

    name: str
    new_name: str


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
    comics: list[PhotoComic] = Field(description="comics drawn from it, newest first")


class PhotoInfoRequest(Ask[PhotoInfo]):
    """One photo, by id (from a search) or by path (inside the caller's roots)."""

    op = "photo_info"
    handler = "find.photo_info:photo_info"
    photo: int | str
