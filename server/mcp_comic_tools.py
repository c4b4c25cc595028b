"""The MCP tools that draw: comics, character sheets, and what the viewer page asks for.

No ``from __future__ import annotations``: the SDK reads these signatures at registration.
"""

from typing import Annotated

from mcp.server.mcpserver import Context
from mcp_types import CallToolResult
from photocomic.tools.comics.contract import (
    ComicsRequest,
    Lineage,
    LineageRequest,
    Quality,
)
from photocomic.tools.owner.contract import (
    DrawSheet,
    GenerateComic,
    JobStatus,
)
from pydantic import Field

from . import mcp_answers as answers
from . import mcp_models as out
from .mcp_apps import VIEWER
from .mcp_arguments import (
    BackendArg,
    ComicPhotos,
    DryRun,
    Layout,
    Markup,
    PanelArg,
    Panels,
    Prompt,
    Refine,
    RegionArg,
    Size,
    Style,
    SubjectArg,
    SubjectsArg,
    Variants,
    Wait,
)
from .mcp_door import door_of, run_job
from .mcp_listing import DRAWS, READ_ONLY, listed

DEFAULT_COMIC_WAIT = 45.0


@listed("Draw a comic from photos", DRAWS, page=VIEWER)
async def generate_comic(
    ctx: Context,
    prompt: Prompt,
    photos: ComicPhotos = None,
    style: Style = None,
    panels: Panels = None,
    layout: Layout = None,
    refine: Refine = None,
    size: Size = "auto",
    quality: Quality = "auto",
    backend: BackendArg = "openai",
    subject: SubjectArg = None,
    dry_run: DryRun = False,
    panel: PanelArg = None,
    region: RegionArg = None,
    variants: Variants = 1,
    markup_png: Markup = None,
    subjects: SubjectsArg = None,
    wait_seconds: Wait = DEFAULT_COMIC_WAIT,
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
    side by side) for the person to pick one to go on from."""
    request = GenerateComic(
        prompt=prompt, photos=photos or [], subject=subject, style=style, panels=panels,
        layout=layout, refine=refine, size=size, quality=quality, backend=backend,
        dry_run=dry_run, panel=panel, region=region, variants=variants, markup_png=markup_png,
        subjects=subjects or [],
    )  # fmt: skip
    return answers.comic_answer(await run_job(ctx, request, wait_seconds))


@listed("Draw a subject's character sheet", DRAWS, page=VIEWER)
async def draw_character_sheet(
    ctx: Context,
    subject: Annotated[str, Field(description="a remembered subject: 'Cola'")],
    style: Style = "ghibli",
    prompt: Annotated[
        str, Field(description="wishes for the sheet: 'a red collar', 'floppier ears'")
    ] = "",
    use: Annotated[
        str | None,
        Field(description="keep this comic_id (a version of its sheet) as the sheet instead"),
    ] = None,
    variants: Variants = 1,
    quality: Quality = "auto",
    backend: BackendArg = "openai",
    dry_run: DryRun = False,
    wait_seconds: Wait = DEFAULT_COMIC_WAIT,
) -> Annotated[CallToolResult, out.ComicOutput]:
    """Draw a remembered subject's character sheet in a style (front, side and three-quarter
    views and a few expressions, from its best photos), as animation studios do, so that
    every later comic of it in that style draws the same individual: generate_comic sends the
    sheet first whenever the subject is in a comic in that style. Draw one before the first
    comic of a subject in a style. A comic job like generate_comic (preview, cost in the dry
    run); refine it with generate_comic(refine=<its comic_id>, prompt="make the ears
    floppier"): the newest version becomes the sheet, or choose one with use=<comic_id>."""
    request = DrawSheet(
        subject=subject, style=style or "ghibli", prompt=prompt, use=use, variants=variants,
        quality=quality, backend=backend, dry_run=dry_run,
    )  # fmt: skip
    return answers.comic_answer(await run_job(ctx, request, wait_seconds))


@listed("Follow a comic being drawn", READ_ONLY, page=VIEWER)
async def comic_status(
    ctx: Context,
    job_id: Annotated[str, Field(description="the job_id generate_comic returned")],
    wait_seconds: Wait = DEFAULT_COMIC_WAIT,
) -> Annotated[CallToolResult, out.ComicOutput]:
    """The comic that generate_comic was still drawing when it answered (state running):
    waits for it and returns it like generate_comic does, or says it is still drawing (with
    the latest partial image when the model streams them)."""
    return answers.comic_answer(await run_job(ctx, JobStatus(job_id=job_id), wait_seconds))


@listed("List comics", READ_ONLY, page=VIEWER)
async def list_comics(
    ctx: Context,
    limit: Annotated[int, Field(description="how many, newest first, 1-100")] = 20,
) -> Annotated[CallToolResult, out.ComicList]:
    """The comics made so far, newest first, with the comic_id to refine each one."""
    listed = await door_of(ctx).call(ComicsRequest(limit=limit))
    return answers.comics_answer(listed)


@listed("A comic's versions for the viewer", READ_ONLY, page=VIEWER, app_only=True)
async def app_comic_lineage(
    ctx: Context, comic_id: Annotated[str, Field(description="a comic_id")]
) -> Annotated[CallToolResult, Lineage]:
    """A comic and the earlier versions it was refined from, with small previews, for the
    viewer page (app only)."""
    found = await door_of(ctx).call(LineageRequest(comic_id=comic_id))
    return answers.result(f"{len(found.steps)} versions of {comic_id}.", found)
