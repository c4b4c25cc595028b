"""The operations the library's owner answers: each request class with the function that
answers it, in one table the engine dispatches from. Importing this module resolves every
handler, so a name that does not exist fails at once (and in a test), not on first use."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from photocomic.tools.comics.book_contract import BookFileRequest, BookRequest
from photocomic.tools.comics.books import book_file, make_book
from photocomic.tools.comics.contract import ComicFileRequest, ComicsRequest, LineageRequest
from photocomic.tools.comics.drawing import draw_character_sheet, generate_comic, letter_comic
from photocomic.tools.comics.gallery import app_comic_lineage, comic_file, list_comics
from photocomic.tools.find.contract import (
    DuplicatesRequest,
    FindRequest,
    ForgetSubject,
    ListSubjects,
    PhotoInfoRequest,
    PhotoRequest,
    RenameSubject,
    ShowSubject,
    SimilarRequest,
    SubjectRequest,
    ThumbnailsRequest,
)
from photocomic.tools.find.duplicate_checks import find_duplicates
from photocomic.tools.find.photo_info import photo_info
from photocomic.tools.find.search import find_photos, search_similar
from photocomic.tools.find.subjects import (
    forget_subject,
    list_subjects,
    remember_subject,
    rename_subject,
    show_subject,
)
from photocomic.tools.find.thumbnails import app_thumbnails, photo_thumbnail
from photocomic.tools.owner.contract import (
    CancelJob,
    ComicStatus,
    DrawSheet,
    GenerateComic,
    Hello,
    IndexRequest,
    IndexStatus,
    JobStatus,
    LetterComic,
    ListJobs,
    MigrateRequest,
    Shutdown,
    StatusRequest,
)
from photocomic.tools.owner.operations import (
    cancel_job,
    hello,
    index_folder,
    job_status,
    library_status,
    list_jobs,
    migrate,
    shutdown,
)
from pydantic import BaseModel

if TYPE_CHECKING:
    from photocomic.tools.contract import Ask
    from photocomic.tools.owner.calls import Call

Handler = Callable[["Call", Any], BaseModel]

HANDLERS: dict[type[Ask[Any]], Handler] = {
    ComicsRequest: list_comics,
    LineageRequest: app_comic_lineage,
    ComicFileRequest: comic_file,
    BookRequest: make_book,
    BookFileRequest: book_file,
    IndexRequest: index_folder,
    MigrateRequest: migrate,
    JobStatus: job_status,
    ListJobs: list_jobs,
    IndexStatus: job_status,
    ComicStatus: job_status,
    CancelJob: cancel_job,
    GenerateComic: generate_comic,
    LetterComic: letter_comic,
    Hello: hello,
    Shutdown: shutdown,
    StatusRequest: library_status,
    DrawSheet: draw_character_sheet,
    SimilarRequest: search_similar,
    FindRequest: find_photos,
    DuplicatesRequest: find_duplicates,
    PhotoRequest: photo_thumbnail,
    ThumbnailsRequest: app_thumbnails,
    SubjectRequest: remember_subject,
    ListSubjects: list_subjects,
    ShowSubject: show_subject,
    ForgetSubject: forget_subject,
    RenameSubject: rename_subject,
    PhotoInfoRequest: photo_info,
}

OPERATIONS: dict[str, type[Ask[Any]]] = {kind.op: kind for kind in HANDLERS}
