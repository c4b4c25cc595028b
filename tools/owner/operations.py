"""The owner's own operations: the engine itself, the library as a whole, and the runs that
belong to the library (indexing, drawing, moving), which go on when the asking door closes.

Each function answers one request class of ``tools/owner/contract.py`` (the table is
``tools/owner/dispatch.py``).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from typing import Any

from photocomic.tools.comics.cast import SHEET_WISH
from photocomic.tools.comics.contract import CastMember, ComicRecord, ComicRequest, DryRunResult
from photocomic.tools.comics.gallery import comics_seen, visible_comic
from photocomic.tools.comics.image_api import ApiAccess
from photocomic.tools.comics.image_models import MAX_INPUT_IMAGES
from photocomic.tools.comics.previews import preview_jpeg
from photocomic.tools.comics.studio import ComicStudio, PartialFn
from photocomic.tools.comics.styles import DEFAULT_STYLE, normalise_style
from photocomic.tools.config import Settings, version
from photocomic.tools.contract import Empty, PhotoRef, page_of
from photocomic.tools.errors import InvalidInput, NotFound, unknown_job
from photocomic.tools.find.contract import Filters
from photocomic.tools.find.subjects import (
    cast_in_photos,
    cast_of,
    keep_sheet,
    kind_of,
    subject_sees,
)
from photocomic.tools.owner.calls import Call
from photocomic.tools.owner.contract import (
    CancelJob,
    DrawSheet,
    EngineInfo,
    GenerateComic,
    Hello,
    IndexRequest,
    JobList,
    JobSnapshot,
    JobStatus,
    LibraryStatus,
    ListJobs,
    MigrateRequest,
    Shutdown,
    StatusRequest,
)
from photocomic.tools.owner.jobs import Job
from photocomic.tools.owner.migrate import move_library
from photocomic.tools.policy import MAX_WAIT, check_wait, require_roots
from photocomic.tools.store.subject_store import subject_key
from pydantic import SecretStr


def hello(call: Call, request: Hello) -> EngineInfo:
    engine, door = call.engine, call.door
    if door.lease > 0 and door.settings:
        threading.Thread(target=engine.warm, args=(call.settings,), daemon=True).start()
    libraries, models = engine.opened()
    return EngineInfo(
        pid=os.getpid(), data_dir=str(engine.data_dir), version=version(),
        started_at=engine.started_at, libraries=libraries, models_loaded=models,
        active_jobs=len(engine.jobs.active()), doors=engine.doors(),
        idle_seconds=round(engine.idle_seconds(), 1),
    )  # fmt: skip


def shutdown(call: Call, request: Shutdown) -> Empty:
    """Leave soon (running index jobs stop; the next engine resumes them)."""
    call.engine.stop_requested.set()
    return Empty()


def library_status(call: Call, request: StatusRequest) -> LibraryStatus:
    library, scope, engine = call.library, call.scope, call.engine
    info = library.store.model_info()
    status = LibraryStatus(
        db=library.store.uri, collection=library.store.collection,
        model=info.model if info else None, dim=info.dim if info else None,
        precision=str(info.precision.get("precision")) if info and info.precision else None,
        photos=library.store.count(call.filters(Filters()).expression()) if info else 0,
        data_dir=str(library.settings.data_dir),
        roots=list(scope.roots or []), comics=len(comics_seen(call)),
        model_loaded=engine.model_loaded(), engine_pid=os.getpid(),
    )  # fmt: skip
    seen = [j.snapshot() for j in engine.jobs.all() if engine.visible(j, scope)]
    status.jobs = [_brief(j) for j in seen if j.state in ("queued", "running")]
    status.finished_jobs = len(seen) - len(status.jobs)  # a status stays small: a count
    return status


def list_jobs(call: Call, request: ListJobs) -> JobList:
    engine, scope = call.engine, call.scope
    seen = [j for j in engine.jobs.all() if engine.visible(j, scope)]
    shown, after = page_of(seen, request.offset, request.limit)
    return JobList(jobs=[_brief(j.snapshot()) for j in shown], total=len(seen), next_offset=after)


def _brief(job: JobSnapshot) -> JobSnapshot:
    """A job as a listing shows it: no picture, no comic record, no list of failed files."""
    if job.summary is not None:
        job.summary = job.summary.model_copy(update={"failed": []})
    return job.model_copy(update={"preview_jpeg": None, "record": None})


def index_folder(call: Call, request: IndexRequest) -> JobSnapshot:
    settings, door = call.settings, call.door
    require_roots(call.scope)
    folder = str(call.scope.resolve(request.path, "dir"))
    call.library  # noqa: B018  (a store that cannot open fails this call, not the job)
    origin = {"settings": settings.payload(secrets=False), "roots": door.roots}
    run = call.engine.index_runner(settings, call.scope, folder)
    job = call.engine.jobs.start_index(_key(call.settings), folder, request.recursive, origin, run)
    snapshot = job.snapshot()
    snapshot.joined = job.origin is not origin
    return snapshot


def job_status(call: Call, request: JobStatus) -> JobSnapshot:
    check_wait(min(request.wait, MAX_WAIT))
    job = _job(call, request.job_id)
    since = request.since if request.since >= 0 else job.changes
    if request.wait > 0:
        job.wait(since, request.wait)
    return job.snapshot()


def cancel_job(call: Call, request: CancelJob) -> JobSnapshot:
    job = _job(call, request.job_id)
    job.cancel.set()
    job.wait(job.changes, 5.0)
    return job.snapshot()


def _job(call: Call, job_id: str) -> Job:
    job = call.engine.jobs.get(job_id)
    if not call.engine.visible(job, call.scope):
        raise unknown_job(job_id)
    return job


def _key(settings: Settings) -> str:
    """The library a job belongs to: one index run or migration per store and collection."""
    return f"{settings.db_uri}#{settings.collection}"


def generate_comic(call: Call, request: GenerateComic) -> JobSnapshot:
    """Draw (or dry-run) a comic as a job; the preview follows the model's partial images."""
    return _drawing(call, lambda access, partial: draw(call, request, access, partial))


def draw_character_sheet(call: Call, request: DrawSheet) -> JobSnapshot:
    """Draw a subject's character sheet (a comic job like any other), or keep one already
    drawn (``use``) as the subject's sheet for its style."""
    library = call.library
    subject = library.subjects.get(request.subject, subject_sees(call))
    if request.use:
        record = visible_comic(call, request.use)
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
                library.variants_sheet(record) if record.variants else preview_jpeg(record.path)
            )
        return record

    return call.engine.jobs.start_comic(
        _key(call.settings), {"roots": call.door.roots}, run
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
        visible_comic(call, request.refine)
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


def migrate(call: Call, request: MigrateRequest) -> JobSnapshot:
    """Copy this library into another store, as a job (it can take minutes)."""
    settings, engine = call.settings, call.engine
    source = call.library
    token = request.token or (
        settings.milvus_token.get_secret_value() if settings.milvus_token else None
    )
    target_settings = settings.model_copy(
        update={
            "db": request.to,
            "collection": request.collection or settings.collection,
            "milvus_token": SecretStr(token) if token else None,
        }
    )
    target = engine.library(target_settings)

    def run(job: Job) -> Any:
        with engine.evicting(settings, target_settings):
            return move_library(source, target, engine.data_dir, job)

    return engine.jobs.start_migration(
        _key(target_settings), {"roots": call.door.roots}, run
    ).snapshot()
