"""The MCP tools that draw: comics, character sheets, and what the viewer page asks for.

No ``from __future__ import annotations``: the SDK reads these signatures at registration.
"""

from typing import Annotated

from mcp.server.mcpserver import Context
from mcp_types import CallToolResult
from photocomic.tools.comics.book_contract import Book, BookRequest
from photocomic.tools.comics.contract import ComicsRequest, Lineage, LineageRequest
from photocomic.tools.owner.contract import ComicStatus, DrawSheet, GenerateComic, LetterComic
from photocomic.tools.words import plural

from . import mcp_answers as answers
from . import mcp_models as out
from .mcp_apps import VIEWER
from .mcp_arguments import Wait
from .mcp_door import door_of, run_job
from .mcp_listing import DRAWS, MAKES, READ_ONLY, tool

DEFAULT_COMIC_WAIT = 45.0


@tool(GenerateComic, "Draw a comic from photos", DRAWS, page=VIEWER, fixed={"sheet_for": None})
async def generate_comic(
    ctx: Context, request: GenerateComic, wait_seconds: Wait = DEFAULT_COMIC_WAIT
) -> Annotated[CallToolResult, out.ComicOutput]:
    """Turn photos into a comic with the OpenAI image model (reference photos go with the
    prompt; subject=<a remembered name> picks good ones itself, subjects=[names] puts several
    in one comic; a subject with a character sheet in the style is drawn from it, so it looks
    the same in every comic), or refine an earlier comic:
    refine=<comic_id> sends that comic first with the change you describe, keeping its style,
    panels, layout and photos unless given. Returns comic_id, parent_id, the saved path, the
    prompt actually sent and a small preview; the full image is the resource
    comic://<comic_id>. Drawing takes one to two minutes: if the comic is not ready after
    wait_seconds the answer has state "running" and a job_id for comic_status; the comic is
    saved when it is ready either way. To fix one part: refine=<id> with panel=N ("in panel 3,
    make her jump higher") or region={x, y, w, h}; everything else stays as it was. Any earlier
    version can be refined, which makes a branch. variants=2..4 draws several at once (shown
    side by side) for the person to pick one to go on from. For words a reader reads (speech,
    thoughts, captions, sound words), give script=[{scene, lines: [{who, text, kind}]}, ...],
    one entry per panel: the image model draws the scenes without text and photocomic letters
    the lines itself, spelled exactly, in any language; letter_comic changes them later
    without drawing. animate=true draws one scene that moves as a GIF (frames=2..16,
    frame_ms per frame; GPT Image 2.6 with the GIF preview): the answer carries a still strip
    of a few frames and the resource comic://<comic_id>/gif; refining it draws a new GIF, and
    refine=<a still comic> with animate=true animates that comic."""
    return answers.comic_answer(await run_job(ctx, request, wait_seconds))


@tool(LetterComic, "Letter a comic again", MAKES, page=VIEWER)
async def letter_comic(
    ctx: Context, request: LetterComic, wait_seconds: Wait = DEFAULT_COMIC_WAIT
) -> Annotated[CallToolResult, out.ComicOutput]:
    """Set other lines on a comic's drawing: a translation you wrote, a typo fixed, a line
    moved to another panel. Give the whole script again, one entry per panel ({scene, lines:
    [{who, text, kind}]}; kind is speech, thought, caption or sound). No image model call and
    no cost; the result is a new version (comic_id) refining the old one, and its refinements
    keep these lines."""
    return answers.comic_answer(await run_job(ctx, request, wait_seconds))


@tool(BookRequest, "Make a book of comics", MAKES)
async def make_book(ctx: Context, request: BookRequest) -> Annotated[CallToolResult, Book]:
    """Collect comics, in the order given, into one file to print, send or read on a tablet:
    format pdf (a cover with the title, then one page per comic at print resolution) or cbz
    (for comic reader apps, with a ComicInfo.xml). Answers the file's path and its resource
    book://<book_id>.<format>."""
    made = await door_of(ctx).call(request)
    return answers.book_answer(made)


@tool(DrawSheet, "Draw a subject's character sheet", DRAWS, page=VIEWER)
async def draw_character_sheet(
    ctx: Context, request: DrawSheet, wait_seconds: Wait = DEFAULT_COMIC_WAIT
) -> Annotated[CallToolResult, out.ComicOutput]:
    """Draw a remembered subject's character sheet in a style (front, side and three-quarter
    views and a few expressions, from its best photos), as animation studios do, so that
    every later comic of it in that style draws the same individual: generate_comic sends the
    sheet first whenever the subject is in a comic in that style. Draw one before the first
    comic of a subject in a style. A comic job like generate_comic (preview, cost in the dry
    run); refine it with generate_comic(refine=<its comic_id>, prompt="make the ears
    floppier"): the newest version becomes the sheet, or choose one with use=<comic_id>."""
    return answers.comic_answer(await run_job(ctx, request, wait_seconds))


@tool(
    ComicStatus, "Follow a comic being drawn", READ_ONLY, page=VIEWER,
    fixed={"wait": 0.0, "since": -1},
)  # fmt: skip
async def comic_status(
    ctx: Context, request: ComicStatus, wait_seconds: Wait = DEFAULT_COMIC_WAIT
) -> Annotated[CallToolResult, out.ComicOutput]:
    """The comic that generate_comic was still drawing when it answered (state running):
    waits for it and returns it like generate_comic does, or says it is still drawing (with
    the latest partial image when the model streams them)."""
    return answers.comic_answer(await run_job(ctx, request, wait_seconds))


@tool(ComicsRequest, "List comics", READ_ONLY, page=VIEWER, fixed={"every": False})
async def list_comics(
    ctx: Context, request: ComicsRequest
) -> Annotated[CallToolResult, out.ComicList]:
    """The comics made so far, newest first, with the comic_id to refine each one."""
    listed = await door_of(ctx).call(request)
    return answers.comics_answer(listed)


@tool(LineageRequest, "A comic's versions for the viewer", READ_ONLY, VIEWER, app_only=True)
async def app_comic_lineage(
    ctx: Context, request: LineageRequest
) -> Annotated[CallToolResult, Lineage]:
    """A comic and the earlier versions it was refined from, with small previews, for the
    viewer page (app only)."""
    found = await door_of(ctx).call(request)
    return answers.result(f"{plural(len(found.steps), 'version')} of {request.comic_id}.", found)
