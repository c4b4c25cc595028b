"""The MCP tools: each one is its operation's request (``@tool``: the arguments are the
request's fields) and turns the library's answer into MCP content. Every decision (paths,
roots, limits, what to search) is the library's.

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
    IndexStatus,
    JobList,
    ListJobs,
    StatusRequest,
)
from photocomic.tools.words import plural

from . import mcp_answers as answers
from . import mcp_models as out
from .mcp_apps import PICKER
from .mcp_arguments import Wait
from .mcp_door import door_of, run_job, until_answered
from .mcp_listing import FORGETS, READ_ONLY, WRITES_STORE, tool

DEFAULT_INDEX_WAIT = 20.0
DEFAULT_DUPLICATES_WAIT = 40.0  # most checks end sooner; a client gives up after about 60 s
CONTACT_SHEET = {"sheet": True}


@tool(StatusRequest, "Library status", READ_ONLY)
async def library_status(
    ctx: Context, request: StatusRequest
) -> Annotated[CallToolResult, out.LibraryStatus]:
    """Where the photo store is, the embedding model, how many photos and comics, the folders
    this server may read (roots), and the runs under way, whichever client started them."""
    door = door_of(ctx)
    status = await door.call(request)
    full = out.LibraryStatus(**status.model_dump(), max_upload_bytes=door.settings.max_upload_bytes)
    return answers.status_answer(full)


@tool(ListJobs, "List the library's runs", READ_ONLY)
async def list_jobs(ctx: Context, request: ListJobs) -> Annotated[CallToolResult, JobList]:
    """The library's runs (indexing, drawing, moving), newest first, whichever client started
    them: state, progress and message; index_status or comic_status(job_id) follows one."""
    listed = await door_of(ctx).call(request)
    lines = [f"{plural(listed.total, 'run')}, newest first:"]
    lines += [
        f"{j.job_id} {j.kind} {j.state} {j.started_at[:16]}: {j.message}" for j in listed.jobs
    ]
    if listed.next_offset is not None:
        lines.append(f"More: list_jobs(offset={listed.next_offset}).")
    return answers.result("\n".join(lines), listed)


@tool(IndexRequest, "Index a photo folder", WRITES_STORE)
async def index_folder(
    ctx: Context, request: IndexRequest, wait_seconds: Wait = DEFAULT_INDEX_WAIT
) -> Annotated[CallToolResult, out.IndexJob]:
    """Index the photos in a folder so they can be searched: new and changed files are
    embedded, unchanged ones skipped, deleted ones removed. Sends progress notifications. A
    run that outlasts wait_seconds continues in the background (also if this client closes):
    poll index_status(job_id). Writes only to photocomic's own store."""
    return answers.index_answer(await run_job(ctx, request, wait_seconds))


@tool(IndexStatus, "Follow an indexing run", READ_ONLY, fixed={"wait": 0.0, "since": -1})
async def index_status(
    ctx: Context, request: IndexStatus, wait_seconds: Wait = 0.0
) -> Annotated[CallToolResult, out.IndexJob]:
    """The state of an indexing run (queued, running, done, failed, cancelled), its progress,
    and when done its summary: files scanned, added, updated, unchanged, removed, and those
    that failed with the reason."""
    return answers.index_answer(await run_job(ctx, request, wait_seconds))


@tool(
    SimilarRequest, "Search photos by example", READ_ONLY, page=PICKER,
    fixed={**CONTACT_SHEET, "images": [], "photo_ids": []},
)  # fmt: skip
async def search_similar(
    ctx: Context, request: SimilarRequest
) -> Annotated[CallToolResult, out.SearchOutput]:
    """Find the photos that look most like an example. Give exactly one of image, photo_id or
    image_base64 (optionally with like/unlike), or like=[photo ids] alone to refine an earlier
    search with the hits that were right. Returns the hits (photo_id, path, score, taken_at,
    width, height) and a contact sheet whose cells #1, #2, ... match the hits."""
    answer = await door_of(ctx).call(request)
    return answers.search_answer(answer, "like")


@tool(
    FindRequest, "Find photos by words or a subject's name", READ_ONLY, page=PICKER,
    fixed=CONTACT_SHEET,
)  # fmt: skip
async def find_photos(
    ctx: Context, request: FindRequest
) -> Annotated[CallToolResult, out.SearchOutput]:
    """Find photos by what they show, using the labels the model gave each photo when it was
    indexed (ImageNet labels and categories such as dog, cat, bird, food, vehicle, building,
    landscape). Same hits and numbered contact sheet as search_similar; use
    search_similar(like=[ids]) to go on from the right ones."""
    answer = await door_of(ctx).call(request)
    return answers.search_answer(answer, "for")


@tool(
    DuplicatesRequest, "Find near-duplicate photos", READ_ONLY, fixed={"every": False, "wait": None}
)  # fmt: skip
async def find_duplicates(
    ctx: Context, request: DuplicatesRequest, wait_seconds: Wait = DEFAULT_DUPLICATES_WAIT
) -> Annotated[CallToolResult, out.DuplicatesOutput]:
    """Groups of near-identical photos (the same shot resized, re-compressed, cropped or
    lightly edited), largest group first; in each group the first photo is the largest and
    the others are scored against it. Sends progress notifications. A check that outlasts
    wait_seconds (about a minute at 100,000 photos) goes on: state "running" says how far it
    is, and find_duplicates with the same arguments joins it or answers with its groups."""
    answer = await until_answered(ctx, request, wait_seconds)
    return answers.duplicates_answer(answer)


@tool(PhotoInfoRequest, "Everything known about one photo", READ_ONLY)
async def photo_info(
    ctx: Context, request: PhotoInfoRequest
) -> Annotated[CallToolResult, PhotoInfo]:
    """Everything the library knows about one photo: its path, pixel size, file size and date
    taken; the labels and categories the model sees; the remembered subjects it shows (with
    the model's confidence, or marked by the person); its near-identical shots; and the
    comics drawn from it."""
    info = await door_of(ctx).call(request)
    subjects = ", ".join(f"{s.name} ({s.confidence:.2f})" for s in info.subjects) or "none"
    text = (
        f"Photo {info.photo_id}: {info.path}, {info.width}x{info.height}, taken "
        f"{info.taken_at}. Shows: {', '.join(list(info.categories)[:3]) or 'no tags'}. "
        f"Subjects: {subjects}. {plural(len(info.duplicates), 'near-duplicate')}, in "
        f"{plural(info.comics_total, 'comic')}."
    )
    return answers.result(text, info)


@tool(
    SubjectRequest, "Remember a subject (a pet, a person)", WRITES_STORE, page=PICKER,
    fixed=CONTACT_SHEET,
)  # fmt: skip
async def remember_subject(
    ctx: Context, request: SubjectRequest
) -> Annotated[CallToolResult, out.SubjectOutput]:
    """Teach the library a named subject (a pet, a person, a car, a place) from photos that
    show it, or correct it: not_photos=[ids the person says are not it]. It is kept with the
    library for every later conversation. Answers with its best photos now and a contact sheet
    to check; find_photos(name) then pages through all of them, generate_comic(subject=name)
    picks good reference photos itself."""
    taught = await door_of(ctx).call(request)
    return answers.subject_answer(taught)


@tool(ListSubjects, "List remembered subjects", READ_ONLY)
async def list_subjects(
    ctx: Context, request: ListSubjects
) -> Annotated[CallToolResult, SubjectList]:
    """The subjects the library knows, with how many examples each has, about how many of the
    library's photos show it, and its character sheets (one per style; a subject without one
    in the comic's style: draw_character_sheet first)."""
    listed = await door_of(ctx).call(request)
    return answers.subjects_answer(listed)


@tool(ForgetSubject, "Forget a subject", FORGETS)
async def forget_subject(
    ctx: Context, request: ForgetSubject
) -> Annotated[CallToolResult, SubjectInfo]:
    """Forget a subject (its photos stay in the library)."""
    info = await door_of(ctx).call(request)
    return answers.result(f"Forgot {info.name}; its photos stay in the library.", info)


@tool(RenameSubject, "Rename a subject", WRITES_STORE)
async def rename_subject(
    ctx: Context, request: RenameSubject
) -> Annotated[CallToolResult, SubjectInfo]:
    """Give a subject another name; its examples and model stay."""
    info = await door_of(ctx).call(request)
    return answers.result(f"Renamed to {info.name}.", info)


@tool(ThumbnailsRequest, "Photo thumbnails for the picker", READ_ONLY, PICKER, app_only=True)
async def app_thumbnails(
    ctx: Context, request: ThumbnailsRequest
) -> Annotated[CallToolResult, Thumbnails]:
    """Small JPEGs of photos for the picker page (app only): the photos inside this server's
    folders; others come back empty."""
    found = await door_of(ctx).call(request)
    shown = sum(t.jpeg is not None for t in found.thumbnails)
    return answers.result(f"{plural(shown, 'thumbnail')}.", found)
