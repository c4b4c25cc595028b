"""The drawing operations: a comic, a subject's character sheet, and new letters on a saved
comic, each a job of the library (it goes on when the asking door closes; partial images
become its preview, a drawn sheet becomes its subject's sheet).

Each function answers one request class (the table is ``tools/owner/dispatch.py``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from photocomic.tools.comics.animation import animation_preview
from photocomic.tools.comics.cast import (
    SHEET_WISH,
    cast_in_photos,
    cast_of,
    keep_sheet,
    kind_of,
)
from photocomic.tools.comics.contract import CastMember, ComicRecord, ComicRequest, DryRunResult
from photocomic.tools.comics.image_api import ApiAccess
from photocomic.tools.comics.image_models import MAX_INPUT_IMAGES
from photocomic.tools.comics.lettering import check_script, panel_boxes
from photocomic.tools.comics.previews import preview_jpeg
from photocomic.tools.comics.studio import ComicStudio, PartialFn
from photocomic.tools.comics.styles import DEFAULT_STYLE, normalise_style
from photocomic.tools.contract import PhotoRef
from photocomic.tools.errors import InvalidInput, NotFound
from photocomic.tools.find.contract import Filters
from photocomic.tools.find.subjects import subject_sees
from photocomic.tools.policy import require_roots
from photocomic.tools.store.subject_store import subject_key

if TYPE_CHECKING:
    from photocomic.tools.owner.calls import Call
    from photocomic.tools.owner.contract import DrawSheet, GenerateComic, JobSnapshot, LetterComic
    from photocomic.tools.owner.jobs import Job


def generate_comic(call: Call, request: GenerateComic) -> JobSnapshot:
    """Draw (or dry-run) a comic as a job; the preview follows the model's partial images."""
    return _drawing(call, lambda access, partial: draw(call, request, access, partial))


def draw_character_sheet(call: Call, request: DrawSheet) -> JobSnapshot:
    """Draw a subject's character sheet (a comic job like any other), or keep one already
    drawn (``use``) as the subject's sheet for its style."""
    library = call.library
    subject = library.subjects.get(request.subject, subject_sees(call))
    if request.use:
        record = call.comics.get(request.use)
        if not record.sheet_for or subject_key(record.sheet_for) != subject.key:
            raise InvalidInput(
                f"comic {record.comic_id} is not a character sheet of {subject.name}: give a "
                "comic_id that draw_character_sheet (or a refinement of one) made for it"
            )
        return _drawing(call, lambda access, partial: record)
    style = normalise_style(request.style)
    expr = call.filters(Filters()).expression()
    rows = library.subjects.references(subject, expr, most=MAX_INPUT_IMAGES)
    if not rows:
        raise NotFound(f"no photo of {subject.name} lies inside the allowed folders")
    member = CastMember(name=subject.name, kind=kind_of(call, subject),
                        photos=[row.ref() for row in rows])  # fmt: skip
    comic = ComicRequest(
        prompt=request.prompt.strip() or SHEET_WISH, subject=subject.name, style=style,
        panels=1, quality=request.quality, model=request.model, backend=request.backend,
        dry_run=request.dry_run, variants=request.variants, sheet_for=subject.name,
    )  # fmt: skip

    def run(access: ApiAccess, partial: PartialFn) -> ComicRecord | DryRunResult:
        studio = ComicStudio(call.settings)
        return studio.generate(comic, [], access, None, partial, call.scope.within(), [member])

    return _drawing(call, run)


Drawing = Callable[[ApiAccess, PartialFn], "ComicRecord | DryRunResult"]


def _drawing(call: Call, drawing: Drawing) -> JobSnapshot:
    """A drawing as a job of the library: partial images become its preview, a drawn sheet
    becomes its subject's sheet."""
    library = call.library
    access = ApiAccess(call.door.openai_api_key, call.door.openai_base_url)

    def run(job: Job) -> Any:
        def partial(index: int, png: bytes) -> None:
            job.touch(done=index + 1, preview=preview_jpeg(png))

        record = drawing(access, partial)
        if isinstance(record, ComicRecord):
            keep_sheet(call, record)
            job.preview = (
                library.variants_sheet(record) if record.variants
                else animation_preview(record.path) if record.format == "gif"
                else preview_jpeg(record.path)
            )  # fmt: skip
        return record

    return call.engine.jobs.start_comic(
        call.settings.library_key, {"roots": call.door.roots}, run
    ).snapshot()


def draw(
    call: Call, request: GenerateComic, access: ApiAccess | None, on_partial: PartialFn | None
) -> ComicRecord | DryRunResult:
    """The drawing itself: the caller's photos, or its subjects' sheets and best photos, all
    inside its roots."""
    scope = call.scope
    require_roots(scope)
    refs = call.photo_refs(request.photos)
    names = request.subject_names()
    if names and refs:
        raise InvalidInput("give subjects or photos, not both: a subject picks its photos")
    if request.refine:
        call.comics.get(request.refine)
    style = normalise_style(request.style or DEFAULT_STYLE)
    cast: list[CastMember] = []
    notes: list[str] = []
    if names:
        cast, notes = cast_of(call, names, style, MAX_INPUT_IMAGES - bool(request.refine))
        request = request.model_copy(update={"subject": cast[0].name if len(cast) == 1 else None})
    elif refs and not request.refine:
        cast, refs = cast_in_photos(call, refs, style)
    if request.refine:  # the earlier comic goes first (no sheets); its subjects' photos follow
        refs, cast, notes = [*refs, *(p for m in cast for p in m.photos)], [], []

    def allow(ref: PhotoRef) -> None:
        scope.check_photo(ref.photo_id, ref.local_path())

    studio = ComicStudio(call.settings)  # the asking door's image model and key
    return studio.generate(request, refs, access, allow, on_partial, scope.within(), cast, notes)


def letter_comic(call: Call, request: LetterComic) -> JobSnapshot:
    """The same drawing with new lines (a translation, a typo fixed): a new version, made
    here without the image model."""
    parent = call.comics.get(request.comic_id)
    if parent.format == "gif":
        raise InvalidInput(
            f"comic {parent.comic_id} is an animation: only a still comic is lettered"
        )
    if parent.sheet_for:
        raise InvalidInput(
            f"comic {parent.comic_id} is {parent.sheet_for}'s character sheet: a sheet has no "
            "script to letter"
        )
    size = (parent.width or 1024, parent.height or 1024)
    check_script(  # refused before a job starts
        request.script, panel_boxes(parent.backend, parent.panels, parent.layout, size)
    )
    studio = ComicStudio(call.settings)
    return _drawing(call, lambda access, partial: studio.reletter(parent, request.script))
