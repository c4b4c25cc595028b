"""The MCP front door: tools, resources and a prompt over the photo library, for assistants.

Thin on purpose: every decision about photos, searches and comics is made in
``photocomic.tools``; this module checks what only an MCP caller can get wrong (paths outside
the roots, uploads, several query sources at once), turns results into structured content
plus a short text and one small picture, and errors into tool errors that say what to do.

No ``from __future__ import annotations`` here: the SDK reads the tool signatures at
registration, and the tools are closures over the server's runtime.
"""

import base64
import logging
import os
import sys
from collections.abc import Callable, Sequence
from datetime import date
from pathlib import Path
from typing import Annotated, Any, Literal

import anyio
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import (
    ResourceError,
    ResourceNotFoundError,
    ToolError,
    UnexpectedToolError,
)
from mcp_types import (
    CallToolResult,
    ContentBlock,
    ImageContent,
    ResourceLink,
    TextContent,
    ToolAnnotations,
)
from photocomic.tools.config import Settings
from photocomic.tools.errors import InvalidInput, NotFound, PathRefused, PhotocomicError
from pydantic import BaseModel, Field, ValidationError

from . import mcp_models as out
from .logs import scrub, setup_logging
from .media import decode_upload, hit_sheet, inside, preview_jpeg, thumbnail_jpeg
from .runtime import Drawing, Job, Runtime

log = logging.getLogger("photocomic.server")

MAX_LIMIT = 100  # the same bound as photocomic.tools.search.MAX_LIMIT
MAX_WAIT = 50.0  # seconds: clients give up on a call after about a minute
DEFAULT_INDEX_WAIT = 20.0
DEFAULT_COMIC_WAIT = 45.0
HEARTBEAT = 5.0

INSTRUCTIONS = """\
photocomic searches the user's own photo library by example or by words and turns chosen
photos into a comic. Typical flow: library_status -> index_folder (once per folder; large
folders continue in the background, poll index_status) -> find_photos("dog") or
search_similar(image=... | photo_id=...) -> look at the numbered contact sheet, refine with
like=[ids]/unlike=[ids] -> generate_comic(prompt, photos=[ids]) (if it answers state
"running", poll comic_status(job_id)) -> generate_comic(prompt="what to change",
refine=<comic_id>). Paths must lie inside the folders library_status lists
as roots. Refer to photos by photo_id, never by contact-sheet number alone."""

READ_ONLY = ToolAnnotations(read_only_hint=True, open_world_hint=False, idempotent_hint=True)

Folder = Annotated[
    str | None,
    Field(description="only photos under this folder (inside the allowed roots)"),
]
TakenAfter = Annotated[date | None, Field(description="only photos taken on or after, YYYY-MM-DD")]
TakenBefore = Annotated[
    date | None, Field(description="only photos taken on or before, YYYY-MM-DD")
]
Tag = Annotated[
    str | None,
    Field(description="only photos tagged with this label or category: 'dog', 'beach'"),
]
Diversify = Annotated[bool, Field(description="skip near-identical shots so the hits show variety")]


class PhotocomicMCP(MCPServer):
    """MCPServer whose tool errors read as instructions, never as tracebacks.

    Why here and not in every tool: the SDK wraps whatever a tool raises; catching it once
    at this seam covers argument validation, our own errors and crashes alike.
    """

    runtime: Runtime

    async def call_tool(
        self, name: str, arguments: dict[str, Any], context: Context | None = None
    ) -> Any:
        try:
            return await super().call_tool(name, arguments, context)
        except ToolError as exc:
            cause = exc.__cause__
            if isinstance(cause, PhotocomicError):
                raise ToolError(scrub(str(cause))) from None
            if isinstance(cause, ValidationError):
                raise ToolError(describe_invalid(name, cause)) from None
            if isinstance(exc, UnexpectedToolError):
                kind = type(cause).__name__ if cause is not None else "error"
                raise UnexpectedToolError(
                    f"{name} failed with an internal error ({kind}); the details are in the "
                    "server's log (stderr). The server is still running: try again, or "
                    "report the problem if it keeps happening."
                ) from cause
            raise ToolError(scrub(str(exc))) from None


def describe_invalid(tool: str, error: ValidationError) -> str:
    """A pydantic error as one line per bad argument, without echoing large values back."""
    parts = []
    for item in error.errors()[:5]:
        where = ".".join(str(p) for p in item.get("loc", ())) or "arguments"
        parts.append(f"{where}: {item.get('msg', 'invalid')}")
    more = f" (and {error.error_count() - 5} more)" if error.error_count() > 5 else ""
    return (
        f"invalid arguments for {tool}: " + "; ".join(parts) + more
        + ". Fix them and call again; the tool's input schema lists the allowed values."
    )  # fmt: skip


def is_digits(text: str) -> bool:
    """A photo id written as text: ASCII digits that fit an int64 ("²".isdigit() is true and
    int("0" * 5000) raises, either would end as an internal error)."""
    return text.isascii() and text.isdigit() and len(text) <= 20


def check_limit(limit: int, name: str = "limit") -> int:
    if not 1 <= limit <= MAX_LIMIT:
        raise InvalidInput(f"{name} must be between 1 and {MAX_LIMIT}, not {limit}")
    return limit


def check_wait(seconds: float) -> float:
    if not 0 <= seconds <= MAX_WAIT:
        raise InvalidInput(f"wait_seconds must be between 0 and {MAX_WAIT:g}, not {seconds}")
    return seconds


def result(text: str, structured: BaseModel, extra: Sequence[ContentBlock] = ()) -> CallToolResult:
    return CallToolResult(
        content=[TextContent(type="text", text=text), *extra],
        structured_content=structured.model_dump(mode="json"),
    )


def jpeg_block(data: bytes) -> ImageContent:
    return ImageContent(type="image", data=base64.b64encode(data).decode(), mime_type="image/jpeg")


async def quietly(send: Callable[[], Any]) -> None:
    """Send a notification; a client that went away must not fail the work."""
    try:
        await send()
    except Exception as exc:
        log.debug("notification not sent: %s", exc)


async def await_drawing(ctx: Context, job: Drawing, wait: float) -> None:
    """Wait up to ``wait`` seconds for a comic, with a progress notification every few seconds.

    Why: some clients reset their time-out on progress, and a person sees the call is alive
    while the image model draws (that takes a minute or two).
    """
    deadline = anyio.current_time() + wait
    beat = anyio.current_time() + HEARTBEAT
    ticks = 0
    while not job.finished.is_set() and anyio.current_time() < deadline:
        if anyio.current_time() >= beat:
            ticks += 1
            note = f"drawing the comic ({job.seconds():.0f} s)"
            await quietly(lambda n=ticks, m=note: ctx.report_progress(n, None, m))
            beat += HEARTBEAT
        await anyio.sleep(0.1)


def build_server(settings: Settings) -> PhotocomicMCP:
    """The MCP server for ``settings``; nothing is opened or loaded until a tool needs it."""
    setup_logging()
    runtime = Runtime(settings)

    from contextlib import asynccontextmanager

    @asynccontextmanager
    async def lifespan(_: MCPServer) -> Any:
        runtime.start_warm_up()  # after the stdio transport has moved stray output to stderr
        yield {}

    mcp = PhotocomicMCP(
        "photocomic",
        title="photocomic: your photos, searched and drawn as comics",
        instructions=INSTRUCTIONS,
        version=_version(),
        lifespan=lifespan,
        log_level="WARNING",
    )
    mcp.runtime = runtime

    # -- helpers that need the runtime ---------------------------------------------------------

    def roots() -> list[Path]:
        return runtime.library().roots.require()

    def search_filters(
        folder: str | None, after: date | None, before: date | None, tag: str | None
    ) -> Any:
        """The filters, the folder checked against the roots; with one root and no folder,
        the root itself, so hits stay inside it without costing the limit."""
        allowed = roots()
        if folder is None and len(allowed) == 1:
            folder = str(allowed[0])
        return runtime.library().search_filters(folder, after, before, tag)

    def search_answer(found: Any, what: str) -> CallToolResult:
        """Hits inside the roots, renumbered, with a contact sheet numbered the same way."""
        allowed = roots()
        kept = [h for h in found.hits if inside(h.path, allowed)]
        dropped = len(found.hits) - len(kept)
        hits = [h.model_copy(update={"rank": n}) for n, h in enumerate(kept, start=1)]
        notes = [found.note] if found.note else []
        if dropped:
            notes.append(f"{dropped} hits outside the allowed folders were left out")
        output = out.SearchOutput(query=found.query, hits=hits, note="; ".join(notes) or None)
        if not hits:
            text = (
                f"No photos found {what} {found.query}. Try fewer filters, another example, "
                "or index more folders (index_folder)."
            )
            if output.note:
                text += f" Note: {output.note}."
            return result(text, output)
        sheet = hit_sheet([h.path for h in hits], allowed)
        output.contact_sheet = (
            f"JPEG contact sheet ({len(sheet) // 1024} KB): cell #N is hits[N-1]; "
            "refer to photos by their photo_id"
        )
        lines = [
            f"{len(hits)} photos {what} {found.query} (contact sheet attached, #1-#{len(hits)}):"
        ]
        for h in hits:
            label = f" · {h.labels[0]}" if h.labels else ""
            lines.append(
                f"#{h.rank} id {h.photo_id} · {h.score:.3f} · {h.taken_at[:10]}{label} · {h.path}"
            )
        if output.note:
            lines.append(f"Note: {output.note}.")
        return result("\n".join(lines), output, [jpeg_block(sheet)])

    async def follow(ctx: Context, job: Job, wait: float) -> out.IndexJob:
        """Wait up to ``wait`` seconds for a job, sending progress notifications meanwhile."""
        deadline = anyio.current_time() + wait
        last: tuple[str, int, int | None] | None = None
        sent = 0.0
        while not job.finished.is_set():
            now = anyio.current_time()
            state = (job.state, job.done, job.total)
            if state != last or now - sent >= HEARTBEAT:
                await quietly(lambda: ctx.report_progress(job.done, job.total, job.message()))
                last, sent = state, now
            if now >= deadline:
                break
            await anyio.sleep(0.25)
        snapshot = job.snapshot()
        if snapshot.state == "done":
            await quietly(lambda: ctx.report_progress(job.done, job.total, job.message()))
        return snapshot

    def job_answer(snapshot: out.IndexJob) -> CallToolResult:
        if snapshot.state == "failed":
            raise PhotocomicError(snapshot.error or "indexing failed")
        if snapshot.state == "done":
            text = f"Indexed {snapshot.folder}: {snapshot.message}."
            summary = snapshot.summary
            if summary is not None and summary.failed:
                shown = "; ".join(f"{f.path}: {f.error}" for f in summary.failed[:5])
                text += f" Could not index: {shown}"
                if snapshot.failed_count > 5:
                    text += f" (and {snapshot.failed_count - 5} more, listed in summary.failed)"
            text += " Search it with find_photos or search_similar."
        elif snapshot.state == "cancelled":
            text = f"Indexing {snapshot.folder} was cancelled; the photos indexed so far are kept."
        else:
            text = (
                f"Indexing {snapshot.folder} continues in the background (job "
                f"{snapshot.job_id}: {snapshot.message}). Call index_status(job_id="
                f"'{snapshot.job_id}') to follow it; searches already work on what is indexed."
            )
        return result(text, snapshot)

    def drawing_answer(job: Drawing) -> CallToolResult:
        if job.finished.is_set():
            if job.error is not None:
                raise job.error
            return comic_answer(job.record)
        output = out.ComicOutput(
            state="running",
            job_id=job.job_id,
            backend=job.backend,
            size=job.size,
            quality=job.quality,
        )
        text = (
            f"Still drawing after {job.seconds():.0f} s (the image model takes one to two "
            f"minutes); the comic is saved when it is ready. Call comic_status(job_id="
            f"'{job.job_id}') to get it."
        )
        return result(text, output)

    def comic_answer(record: Any) -> CallToolResult:
        from photocomic.tools.comics import ComicRecord

        if not isinstance(record, ComicRecord):  # a dry run: nothing was sent or saved
            output = out.ComicOutput(
                dry_run=True,
                prompt=record.prompt,
                style=record.style,
                panels=record.panels,
                model=record.model,
                backend=record.backend,
                size=record.size,
                quality=record.quality,
                parent_id=record.parent_id,
                photos=record.photos,
                input_images=record.images,
                notes=record.notes,
            )
            text = (
                f"Dry run, nothing sent: {len(record.images)} images to {record.model} "
                f"({record.size}, quality {record.quality}). Prompt:\n{record.prompt}"
            )
            return result(text, output)
        uri = f"comic://{record.comic_id}"
        output = out.ComicOutput(
            comic_id=record.comic_id,
            parent_id=record.parent_id,
            path=record.path,
            uri=uri,
            prompt=record.prompt,
            user_prompt=record.user_prompt,
            style=record.style,
            panels=record.panels,
            model=record.model,
            backend=record.backend,
            size=record.size,
            quality=record.quality,
            width=record.width,
            height=record.height,
            photos=record.photos,
            notes=record.notes,
        )
        refines = f" (refines {record.parent_id})" if record.parent_id else ""
        text = (
            f"Comic {record.comic_id}{refines}: {record.panels} panels, {record.style}, "
            f"{record.model}; saved at {record.path}. A preview is attached; the full image is "
            f"the resource {uri}. To change it: generate_comic(prompt='what to change', "
            f"refine='{record.comic_id}')."
        )
        if record.notes:
            text += " Notes: " + "; ".join(record.notes)
        blocks: list[ContentBlock] = [
            jpeg_block(preview_jpeg(record.path)),
            ResourceLink(
                type="resource_link",
                uri=uri,
                name=f"{record.comic_id}.png",
                mime_type="image/png",
                description="the comic at full size",
            ),
        ]
        return result(text, output, blocks)

    # -- tools ---------------------------------------------------------------------------------

    @mcp.tool(
        title="Index a photo folder",
        annotations=ToolAnnotations(
            read_only_hint=False,
            destructive_hint=False,
            idempotent_hint=True,
            open_world_hint=False,
        ),
    )
    async def index_folder(
        ctx: Context,
        path: Annotated[
            str,
            Field(description="a folder inside the allowed roots (or relative to the first)"),
        ],
        recursive: Annotated[bool, Field(description="include sub-folders")] = True,
        wait_seconds: Annotated[
            float,
            Field(description="how long to wait before continuing in the background (0-50)"),
        ] = DEFAULT_INDEX_WAIT,
    ) -> Annotated[CallToolResult, out.IndexJob]:
        """Index the photos in a folder so they can be searched: new and changed files are
        embedded, unchanged ones skipped, deleted ones removed. Sends progress notifications.
        A run that outlasts wait_seconds continues in the background: poll index_status(job_id).
        Writes only to photocomic's own store."""
        check_wait(wait_seconds)
        folder = await runtime.call(lambda: runtime.library().allowed(path, "dir"))
        job = runtime.jobs.start(str(folder), recursive)
        return job_answer(await follow(ctx, job, wait_seconds))

    @mcp.tool(title="Follow an indexing run", annotations=READ_ONLY)
    async def index_status(
        ctx: Context,
        job_id: Annotated[str, Field(description="the job_id index_folder returned")],
        wait_seconds: Annotated[
            float, Field(description="wait up to this long for it to finish (0-50)")
        ] = 0.0,
    ) -> Annotated[CallToolResult, out.IndexJob]:
        """The state of an indexing run (queued, running, done, failed, cancelled), its
        progress, and when done its summary: files scanned, added, updated, unchanged,
        removed, and those that failed with the reason."""
        check_wait(wait_seconds)
        job = runtime.jobs.get(job_id)
        return job_answer(await follow(ctx, job, wait_seconds))

    @mcp.tool(title="Search photos by example", annotations=READ_ONLY)
    async def search_similar(
        image: Annotated[
            str | None,
            Field(description="a photo's path inside the allowed roots (or relative to the first)"),
        ] = None,
        photo_id: Annotated[int | None, Field(description="an indexed photo's id")] = None,
        image_base64: Annotated[
            str | None,
            Field(description="an image file's bytes, base64 (size-limited; prefer a path)"),
        ] = None,
        like: Annotated[
            list[int] | None,
            Field(description="photo ids that show what you want; may be used alone"),
        ] = None,
        unlike: Annotated[
            list[int] | None, Field(description="photo ids that show what you do not want")
        ] = None,
        limit: Annotated[int, Field(description="how many photos, 1-100")] = 6,
        folder: Folder = None,
        taken_after: TakenAfter = None,
        taken_before: TakenBefore = None,
        tag: Tag = None,
        diversify: Diversify = True,
    ) -> Annotated[CallToolResult, out.SearchOutput]:
        """Find the photos that look most like an example. Give exactly one of image,
        photo_id or image_base64 (optionally with like/unlike), or like=[photo ids] alone to
        refine an earlier search with the hits that were right. Returns the hits (photo_id,
        path, score, taken_at, width, height) and a contact sheet whose cells #1, #2, ...
        match the hits."""
        check_limit(limit)
        given = [
            name
            for name, value in (
                ("image", image),
                ("photo_id", photo_id),
                ("image_base64", image_base64),
            )
            if value is not None
        ]
        if len(given) > 1:
            raise InvalidInput(
                f"give exactly one query source, not {' and '.join(given)}: image (a path), "
                "photo_id, or image_base64; add like/unlike to steer it"
            )
        if not given and not like:
            raise InvalidInput(
                "nothing to search with: give image (a path inside the photo folders), "
                "photo_id, or image_base64, or like=[photo ids] from an earlier search"
            )

        def work() -> CallToolResult:
            library = runtime.library()
            sources: list[str | bytes] = []
            if image is not None:
                sources.append(str(library.allowed(image, "file")))
            if image_base64 is not None:
                sources.append(decode_upload(image_base64, settings.max_upload_bytes))
            filters = search_filters(folder, taken_after, taken_before, tag)
            found = library.searcher.similar(
                sources=sources or None,
                photo_ids=[photo_id] if photo_id is not None else None,
                like=like,
                unlike=unlike,
                limit=limit,
                filters=filters,
                diversify=diversify,
            )[0]
            if image_base64 is not None and found.query.startswith("uploaded image"):
                found.query = "the uploaded image" + found.query[len("uploaded image") :]
            return search_answer(found, "like")

        return await runtime.call(work)

    @mcp.tool(title="Find photos by words", annotations=READ_ONLY)
    async def find_photos(
        text: Annotated[
            str,
            Field(description="what the photos show: 'dog', 'border collie', 'beach', 'car'"),
        ],
        limit: Annotated[int, Field(description="how many photos, 1-100")] = 12,
        folder: Folder = None,
        taken_after: TakenAfter = None,
        taken_before: TakenBefore = None,
        tag: Tag = None,
        diversify: Diversify = True,
    ) -> Annotated[CallToolResult, out.SearchOutput]:
        """Find photos by what they show, using the labels the model gave each photo when it
        was indexed (ImageNet labels and categories such as dog, cat, bird, food, vehicle,
        building, landscape). Same hits and numbered contact sheet as search_similar; use
        search_similar(like=[ids]) to go on from the right ones."""
        check_limit(limit)

        def work() -> CallToolResult:
            library = runtime.library()
            filters = search_filters(folder, taken_after, taken_before, tag)
            found = library.searcher.find(text, limit=limit, filters=filters, diversify=diversify)
            return search_answer(found, "for")

        return await runtime.call(work)

    @mcp.tool(title="Find near-duplicate photos", annotations=READ_ONLY)
    async def find_duplicates(
        threshold: Annotated[
            float | None,
            Field(description="similarity above which photos count as one shot (0-1]"),
        ] = None,
        folder: Folder = None,
        limit: Annotated[int, Field(description="how many groups to return, 1-100")] = 20,
    ) -> Annotated[CallToolResult, out.DuplicatesOutput]:
        """Groups of near-identical photos (the same shot resized, re-compressed, cropped or
        lightly edited), largest group first; in each group the first photo is the largest
        and the others are scored against it."""
        check_limit(limit)

        def work() -> CallToolResult:
            library = runtime.library()
            allowed = roots()
            if folder is not None:
                where: str | None = str(library.allowed(folder, "dir"))
            else:
                where = str(allowed[0]) if len(allowed) == 1 else None
            kwargs: dict[str, Any] = {"folder": where}
            if threshold is not None:
                kwargs["threshold"] = threshold
            report = library.searcher.duplicates(**kwargs)
            groups = []
            for group in report.groups:
                photos = [p for p in group.photos if inside(p.path, allowed)]
                if len(photos) >= 2:
                    groups.append(out.DuplicateGroup(photos=photos))
            output = out.DuplicatesOutput(
                threshold=report.threshold,
                checked=report.checked,
                groups=groups[:limit],
                total_groups=len(groups),
            )
            if not groups:
                text = (
                    f"No near-duplicates among {report.checked} photos at threshold "
                    f"{report.threshold:g}."
                )
            else:
                extra = sum(len(g.photos) - 1 for g in groups)
                lines = [
                    f"{len(groups)} groups of near-duplicates among {report.checked} photos "
                    f"(threshold {report.threshold:g}; {extra} copies besides the first of "
                    "each group):"
                ]
                for n, group in enumerate(groups[:limit], start=1):
                    first, *rest = group.photos
                    others = ", ".join(f"{p.photo_id} ({p.score:.3f})" for p in rest)
                    lines.append(f"{n}. keep {first.photo_id} {first.path}; copies: {others}")
                text = "\n".join(lines)
            return result(text, output)

        return await runtime.call(work)

    @mcp.tool(
        title="Draw a comic from photos",
        annotations=ToolAnnotations(
            read_only_hint=False,
            destructive_hint=False,
            idempotent_hint=False,
            open_world_hint=True,
        ),
    )
    async def generate_comic(
        ctx: Context,
        prompt: Annotated[
            str,
            Field(description="the story, or on a refinement what to change"),
        ],
        photos: Annotated[
            list[int | str] | None,
            Field(description="photo ids from searches (or paths inside the roots), up to 16"),
        ] = None,
        style: Annotated[
            str | None,
            Field(description="ghibli (default), manga, watercolor, american-comic, ..."),
        ] = None,
        panels: Annotated[
            Literal[1, 2, 4, 6] | None, Field(description="panel count (default 4)")
        ] = None,
        refine: Annotated[
            str | None,
            Field(description="comic_id of an earlier comic to change; it is sent first"),
        ] = None,
        size: Literal["1024x1024", "1536x1024", "1024x1536", "auto"] = "auto",
        quality: Literal["low", "medium", "high", "auto"] = "auto",
        backend: Annotated[
            Literal["openai", "storyboard"],
            Field(description="openai: the image model; storyboard: an offline layout"),
        ] = "openai",
        dry_run: Annotated[
            bool, Field(description="show the prompt and images that would be sent")
        ] = False,
        wait_seconds: Annotated[
            float,
            Field(description="how long to wait before answering with a job_id (0-50)"),
        ] = DEFAULT_COMIC_WAIT,
    ) -> Annotated[CallToolResult, out.ComicOutput]:
        """Turn photos into a comic with the OpenAI image model (reference photos go with the
        prompt), or refine an earlier comic: refine=<comic_id> sends that comic first with the
        change you describe, keeping its style, panels and photos unless given. Returns
        comic_id, parent_id, the saved path, the prompt actually sent and a small preview; the
        full image is the resource comic://<comic_id>. Drawing takes one to two minutes: if the
        comic is not ready after wait_seconds the answer has state "running" and a job_id for
        comic_status."""
        items: list[int | str] = []
        for item in photos or []:
            text_item = item.strip() if isinstance(item, str) else item
            items.append(
                int(text_item) if isinstance(text_item, str) and is_digits(text_item) else text_item
            )
        if len(items) > MAX_LIMIT:
            raise InvalidInput(f"too many photos ({len(items)}): choose the best few (up to 16)")

        def work() -> Any:
            from photocomic.tools.comics import ComicRequest

            library = runtime.library()
            request = ComicRequest(
                prompt=prompt,
                style=style,
                panels=panels,
                refine=refine,
                size=size,
                quality=quality,
                backend=backend,
                dry_run=dry_run,
            )
            ids = [i for i in items if isinstance(i, int)]
            if ids:
                library.store.require()
                for row in library.store.get(ids):  # the store may know photos beyond the roots
                    if not inside(row.path, roots()):
                        raise PathRefused(
                            f"photo {row.photo_id} ({row.path}) is outside the allowed photo "
                            "folders; choose photos from this server's searches"
                        )
            return library.comic(request, items)

        check_wait(wait_seconds)
        job = runtime.drawings.start(work, backend=backend, size=size, quality=quality)
        await await_drawing(ctx, job, wait_seconds)
        return await runtime.call(lambda: drawing_answer(job))

    @mcp.tool(title="Follow a comic being drawn", annotations=READ_ONLY)
    async def comic_status(
        ctx: Context,
        job_id: Annotated[str, Field(description="the job_id generate_comic returned")],
        wait_seconds: Annotated[
            float, Field(description="wait up to this long for the comic (0-50)")
        ] = DEFAULT_COMIC_WAIT,
    ) -> Annotated[CallToolResult, out.ComicOutput]:
        """The comic that generate_comic was still drawing when it answered (state running):
        waits for it and returns it like generate_comic does, or says it is still drawing."""
        check_wait(wait_seconds)
        job = runtime.drawings.get(job_id)
        await await_drawing(ctx, job, wait_seconds)
        return await runtime.call(lambda: drawing_answer(job))

    @mcp.tool(title="List comics", annotations=READ_ONLY)
    async def list_comics(
        limit: Annotated[int, Field(description="how many, newest first, 1-100")] = 20,
    ) -> Annotated[CallToolResult, out.ComicList]:
        """The comics made so far, newest first, with the comic_id to refine each one."""
        check_limit(limit)

        def work() -> CallToolResult:
            from photocomic.tools.comics import ComicStudio

            records = ComicStudio(settings).list()
            comics = [
                out.ComicSummary(
                    comic_id=r.comic_id,
                    parent_id=r.parent_id,
                    path=r.path,
                    uri=f"comic://{r.comic_id}",
                    user_prompt=r.user_prompt,
                    style=r.style,
                    panels=r.panels,
                    backend=r.backend,
                    model=r.model,
                    created_at=r.created_at,
                )
                for r in records[:limit]
            ]
            output = out.ComicList(comics=comics, total=len(records))
            if not comics:
                return result("No comics yet: make one with generate_comic.", output)
            lines = [f"{len(records)} comics (newest first):"]
            for c in comics:
                parent = f" <- {c.parent_id}" if c.parent_id else ""
                lines.append(
                    f"{c.comic_id}{parent} · {c.style} · {c.created_at[:16]} · {c.user_prompt[:80]}"
                )
            return result("\n".join(lines), output)

        return await runtime.call(work)

    @mcp.tool(title="Library status", annotations=READ_ONLY)
    async def library_status() -> Annotated[CallToolResult, out.LibraryStatus]:
        """Where the photo store is, the embedding model, how many photos and comics, the
        folders this server may read (roots), and the indexing runs of this session."""

        def work() -> CallToolResult:
            library = runtime.library()
            status = library.status()
            jobs = [job.snapshot() for job in runtime.jobs.all()]
            output = out.LibraryStatus(
                **status.model_dump(),
                model_loaded=runtime.model_loaded,
                max_upload_bytes=settings.max_upload_bytes,
                jobs=jobs,
            )
            roots_text = ", ".join(output.roots) or "none (start the server with --root DIR)"
            text = (
                f"{output.photos} photos indexed with {output.model or 'no model yet'}; "
                f"{output.comics} comics. Allowed folders: {roots_text}. Store: {output.db}."
            )
            running = [j for j in jobs if j.state in ("queued", "running")]
            if running:
                text += " Indexing: " + "; ".join(
                    f"{j.job_id} {j.folder}: {j.message}" for j in running
                )
            if output.photos == 0:
                text += " Nothing indexed yet: call index_folder on a photo folder first."
            return result(text, output)

        return await runtime.call(work)

    # -- resources -----------------------------------------------------------------------------

    def resource_errors(fn: Callable[[], bytes]) -> Callable[[], bytes]:
        def guarded() -> bytes:
            try:
                return fn()
            except NotFound as exc:
                raise ResourceNotFoundError(str(exc)) from None
            except PhotocomicError as exc:
                raise ResourceError(scrub(str(exc))) from None

        return guarded

    @mcp.resource(
        "photo://{photo_id}/thumbnail",
        name="photo_thumbnail",
        title="Photo thumbnail",
        description="A JPEG thumbnail (384 px) of an indexed photo inside the allowed roots",
        mime_type="image/jpeg",
    )
    async def photo_thumbnail(photo_id: str) -> bytes:
        def read() -> bytes:
            if not is_digits(photo_id.strip()):
                raise NotFound(f"photo ids are numbers, not {photo_id[:40]!r}")
            library = runtime.library()
            library.store.require()
            row = library.store.get([int(photo_id)])[0]
            return thumbnail_jpeg(str(library.allowed(row.path, "file")))

        return await runtime.call(resource_errors(read))

    @mcp.resource(
        "comic://{comic_id}",
        name="comic_image",
        title="Comic",
        description="A comic made by generate_comic, full-size PNG",
        mime_type="image/png",
    )
    async def comic_image(comic_id: str) -> bytes:
        def read() -> bytes:
            from photocomic.tools.comics import ComicStudio

            record = ComicStudio(settings).get(comic_id)
            data_dir = Path(os.path.realpath(settings.data_dir))
            if not inside(record.path, [data_dir]):
                raise PathRefused(f"comic {comic_id} lies outside the data folder; not read")
            return Path(record.path).read_bytes()

        return await runtime.call(resource_errors(read))

    # -- prompt --------------------------------------------------------------------------------

    @mcp.prompt(
        name="photo_comic",
        title="Make a comic from my photos",
        description="Walks through finding the right photos, choosing them and drawing a comic",
    )
    def photo_comic(subject: str, story: str = "", style: str = "ghibli") -> str:
        told = f" The story: {story}." if story.strip() else ""
        return f"""\
I want a {style}-style comic starring {subject} from my own photos.{told}

Please work through it with the photocomic tools:
1. Call library_status. If no photos are indexed, or the folder with my photos is not, call
   index_folder on it (long runs continue in the background: poll index_status).
2. Find candidates: find_photos(text="{subject}") if it is a kind of thing the model knows
   (dog, cat, car, beach...), otherwise ask me for one example photo and call search_similar
   with image=<its path> or photo_id=<id>.
3. Look at the numbered contact sheet. Tell me which cells (#1, #2, ...) really show
   {subject}, then call search_similar(like=[their photo_ids], unlike=[the wrong ones]) to
   find more. Always carry photo_ids forward, not cell numbers: the numbers change with
   every search.
4. Propose the best 2-6 photos (varied poses, clear faces) and let me confirm.
5. Call generate_comic(prompt=<the story in a few sentences>, photos=[photo_ids],
   style="{style}"). If it answers with state "running", call comic_status(job_id=...)
   until the comic is ready. Show me the preview and the comic_id.
6. When I ask for changes ("make it night", "add a hat"), call generate_comic(prompt=<just the
   change>, refine=<the latest comic_id>) so the earlier comic is kept as the reference.
"""

    return mcp


def _version() -> str:
    try:
        from importlib.metadata import version

        return version("photocomic")
    except Exception:
        return "0"


def serve(
    settings: Settings,
    transport: str = "stdio",
    host: str = "127.0.0.1",
    port: int = 8765,
) -> None:
    """Run the server until the client disconnects (stdio) or it is interrupted (http).

    Ends the process when done: a client allows about two seconds between closing stdin and
    killing the server, and tearing down the interpreter's modules alone can take one.
    """
    mcp = build_server(settings)
    try:
        if transport == "stdio":
            anyio.run(mcp.run_stdio_async)
        elif transport == "http":
            from .http_transport import run_http, token_text

            app = mcp.streamable_http_app(host=host)
            run_http(app, host, port, token_text(settings.http_token))
        else:
            raise PhotocomicError(f"unknown transport {transport!r}: use stdio or http")
    except KeyboardInterrupt:
        print("photocomic: server stopped", file=sys.stderr)
    finally:
        mcp.runtime.close()
    _exit_now()


def _exit_now() -> None:
    """Run the exit handlers (Milvus Lite closes its files there), then leave at once."""
    import atexit

    atexit._run_exitfuncs()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)
