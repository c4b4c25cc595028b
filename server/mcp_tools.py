"""The MCP tools: each one turns its arguments into a request to the library's owner and its
answer into MCP content. Every decision (paths, roots, limits, what to search) is the
library's; a tool only checks what only an MCP caller can get wrong (one query source at a
time) and how long it may wait.

No ``from __future__ import annotations``: the SDK reads these signatures at registration.
"""

from typing import Annotated

from mcp.server.mcpserver import Context
from mcp_types import CallToolResult
from photocomic.tools.find.contract import (
    DuplicatesRequest,
    FindRequest,
    ForgetSubject,
    ListSubjects,
    PhotoInfo,
    PhotoInfoRequest,
    RenameSubject,
    SimilarRequest,
    SubjectInfo,
    SubjectList,
    SubjectRequest,
    Thumbnails,
    ThumbnailsRequest,
)
from photocomic.tools.owner.contract import (
    IndexRequest,
    JobStatus,
    StatusRequest,
)
from pydantic import Field

from . import mcp_answers as answers
from . import mcp_models as out
from .mcp_apps import PICKER
from .mcp_arguments import (
    Diversify,
    Folder,
    Limit,
    Tag,
    TakenAfter,
    TakenBefore,
    Wait,
)
from .mcp_door import door_of, run_job
from .mcp_listing import FORGETS, READ_ONLY, WRITES_STORE, listed

DEFAULT_INDEX_WAIT = 20.0


@listed("Library status", READ_ONLY)
async def library_status(ctx: Context) -> Annotated[CallToolResult, out.LibraryStatus]:
    """Where the photo store is, the embedding model, how many photos and comics, the folders
    this server may read (roots), and the runs under way, whichever client started them."""
    door = door_of(ctx)
    status = await door.call(StatusRequest())
    full = out.LibraryStatus(**status.model_dump(), max_upload_bytes=door.settings.max_upload_bytes)
    return answers.status_answer(full)


@listed("Index a photo folder", WRITES_STORE)
async def index_folder(
    ctx: Context,
    path: Annotated[str, Field(description="a folder inside the allowed roots (or relative)")],
    recursive: Annotated[bool, Field(description="include sub-folders")] = True,
    wait_seconds: Wait = DEFAULT_INDEX_WAIT,
) -> Annotated[CallToolResult, out.IndexJob]:
    """Index the photos in a folder so they can be searched: new and changed files are
    embedded, unchanged ones skipped, deleted ones removed. Sends progress notifications. A
    run that outlasts wait_seconds continues in the background (also if this client closes):
    poll index_status(job_id). Writes only to photocomic's own store."""
    request = IndexRequest(folders=[path], recursive=recursive)
    return answers.index_answer(await run_job(ctx, request, wait_seconds))


@listed("Follow an indexing run", READ_ONLY)
async def index_status(
    ctx: Context,
    job_id: Annotated[str, Field(description="the job_id index_folder returned")],
    wait_seconds: Wait = 0.0,
) -> Annotated[CallToolResult, out.IndexJob]:
    """The state of an indexing run (queued, running, done, failed, cancelled), its progress,
    and when done its summary: files scanned, added, updated, unchanged, removed, and those
    that failed with the reason."""
    return answers.index_answer(await run_job(ctx, JobStatus(job_id=job_id), wait_seconds))


@listed("Search photos by example", READ_ONLY, page=PICKER)
async def search_similar(
    ctx: Context,
    image: Annotated[
        str | None, Field(description="a photo's path inside the allowed roots (or relative)")
    ] = None,
    photo_id: Annotated[int | None, Field(description="an indexed photo's id")] = None,
    image_base64: Annotated[
        str | None, Field(description="an image file's bytes, base64 (size-limited; prefer a path)")
    ] = None,
    like: Annotated[
        list[int] | None, Field(description="photo ids that show what you want; may be alone")
    ] = None,
    unlike: Annotated[
        list[int] | None, Field(description="photo ids that show what you do not want")
    ] = None,
    limit: Limit = 6,
    folder: Folder = None,
    taken_after: TakenAfter = None,
    taken_before: TakenBefore = None,
    tag: Tag = None,
    diversify: Diversify = True,
) -> Annotated[CallToolResult, out.SearchOutput]:
    """Find the photos that look most like an example. Give exactly one of image, photo_id or
    image_base64 (optionally with like/unlike), or like=[photo ids] alone to refine an earlier
    search with the hits that were right. Returns the hits (photo_id, path, score, taken_at,
    width, height) and a contact sheet whose cells #1, #2, ... match the hits."""
    from photocomic.tools.policy import check_one_source

    check_one_source(image, photo_id, image_base64, like)
    request = SimilarRequest(
        images=[image] if image is not None else [],
        photo_ids=[photo_id] if photo_id is not None else [],
        image_base64=image_base64, like=like or [], unlike=unlike or [], limit=limit,
        folder=folder, taken_after=taken_after, taken_before=taken_before, tag=tag,
        diversify=diversify, sheet=True,
    )  # fmt: skip
    answer = await door_of(ctx).call(request)
    return answers.search_answer(answer, "like")


@listed("Find photos by words or a subject's name", READ_ONLY, page=PICKER)
async def find_photos(
    ctx: Context,
    text: Annotated[
        str, Field(description="what the photos show ('dog', 'beach') or a remembered subject")
    ],
    limit: Limit = 12,
    offset: Annotated[int, Field(description="skip this many: the next page")] = 0,
    folder: Folder = None,
    taken_after: TakenAfter = None,
    taken_before: TakenBefore = None,
    tag: Tag = None,
    diversify: Diversify = True,
) -> Annotated[CallToolResult, out.SearchOutput]:
    """Find photos by what they show, using the labels the model gave each photo when it was
    indexed (ImageNet labels and categories such as dog, cat, bird, food, vehicle, building,
    landscape). Same hits and numbered contact sheet as search_similar; use
    search_similar(like=[ids]) to go on from the right ones."""
    request = FindRequest(
        text=text, limit=limit, offset=offset, folder=folder, taken_after=taken_after,
        taken_before=taken_before, tag=tag, diversify=diversify, sheet=True,
    )  # fmt: skip
    answer = await door_of(ctx).call(request)
    return answers.search_answer(answer, "for")


@listed("Find near-duplicate photos", READ_ONLY)
async def find_duplicates(
    ctx: Context,
    threshold: Annotated[
        float | None, Field(description="similarity above which photos count as one shot (0-1]")
    ] = None,
    folder: Folder = None,
    limit: Annotated[int, Field(description="how many groups to return, 1-100")] = 20,
) -> Annotated[CallToolResult, out.DuplicatesOutput]:
    """Groups of near-identical photos (the same shot resized, re-compressed, cropped or
    lightly edited), largest group first; in each group the first photo is the largest and
    the others are scored against it."""
    request = DuplicatesRequest(threshold=threshold, folder=folder, limit=limit)
    report = await door_of(ctx).call(request)
    return answers.duplicates_answer(report)


@listed("Everything known about one photo", READ_ONLY)
async def photo_info(
    ctx: Context,
    photo: Annotated[
        int | str, Field(description="a photo id from a search, or a photo's path in the roots")
    ],
) -> Annotated[CallToolResult, PhotoInfo]:
    """Everything the library knows about one photo: its path, pixel size, file size and date
    taken; the labels and categories the model sees; the remembered subjects it shows (with
    the model's confidence, or marked by the person); its near-identical shots; and the
    comics drawn from it."""
    info = await door_of(ctx).call(PhotoInfoRequest(photo=photo))
    subjects = ", ".join(f"{s.name} ({s.confidence:.2f})" for s in info.subjects) or "none"
    text = (
        f"Photo {info.photo_id}: {info.path}, {info.width}x{info.height}, taken "
        f"{info.taken_at}. Shows: {', '.join(list(info.categories)[:3]) or 'no tags'}. "
        f"Subjects: {subjects}. {len(info.duplicates)} near-duplicates, in "
        f"{len(info.comics)} comics."
    )
    return answers.result(text, info)


@listed("Remember a subject (a pet, a person)", WRITES_STORE, page=PICKER)
async def remember_subject(
    ctx: Context,
    name: Annotated[str, Field(description="what the person calls it: 'Cola', 'Grandma'")],
    photos: Annotated[
        list[int | str] | None,
        Field(description="photo ids (or paths) that show it; adding again adds examples"),
    ] = None,
    not_photos: Annotated[
        list[int | str] | None,
        Field(description="photo ids that do not show it (feedback on its contact sheet)"),
    ] = None,
    limit: Limit = 12,
) -> Annotated[CallToolResult, out.SubjectOutput]:
    """Teach the library a named subject (a pet, a person, a car, a place) from photos that
    show it, or correct it: not_photos=[ids the person says are not it]. It is kept with the
    library for every later conversation. Answers with its best photos now and a contact sheet
    to check; find_photos(name) then pages through all of them, generate_comic(subject=name)
    picks good reference photos itself."""
    request = SubjectRequest(
        name=name, photos=photos or [], not_photos=not_photos or [], limit=limit, sheet=True
    )
    taught = await door_of(ctx).call(request)
    return answers.subject_answer(taught)


@listed("List remembered subjects", READ_ONLY)
async def list_subjects(ctx: Context) -> Annotated[CallToolResult, SubjectList]:
    """The subjects the library knows, with how many examples each has, about how many of the
    library's photos show it, and its character sheets (one per style; a subject without one
    in the comic's style: draw_character_sheet first)."""
    listed = await door_of(ctx).call(ListSubjects())
    return answers.subjects_answer(listed)


@listed("Forget a subject", FORGETS)
async def forget_subject(
    ctx: Context, name: Annotated[str, Field(description="the subject's name")]
) -> Annotated[CallToolResult, SubjectInfo]:
    """Forget a subject (its photos stay in the library)."""
    info = await door_of(ctx).call(ForgetSubject(name=name))
    return answers.result(f"Forgot {info.name}; its photos stay in the library.", info)


@listed("Rename a subject", WRITES_STORE)
async def rename_subject(
    ctx: Context,
    name: Annotated[str, Field(description="the subject's name now")],
    new_name: Annotated[str, Field(description="what to call it from now on")],
) -> Annotated[CallToolResult, SubjectInfo]:
    """Give a subject another name; its examples and model stay."""
    request = RenameSubject(name=name, new_name=new_name)
    info = await door_of(ctx).call(request)
    return answers.result(f"Renamed to {info.name}.", info)


@listed("Photo thumbnails for the picker", READ_ONLY, page=PICKER, app_only=True)
async def app_thumbnails(
    ctx: Context,
    photo_ids: Annotated[list[int], Field(description="photo ids from a search answer")],
    side: Annotated[int, Field(description="long side in pixels, 32-384")] = 160,
) -> Annotated[CallToolResult, Thumbnails]:
    """Small JPEGs of photos for the picker page (app only): the photos inside this server's
    folders; others come back empty."""
    request = ThumbnailsRequest(photo_ids=photo_ids, side=side)
    found = await door_of(ctx).call(request)
    shown = sum(t.jpeg is not None for t in found.thumbnails)
    return answers.result(f"{shown} thumbnails.", found)
