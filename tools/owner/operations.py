"""The owner's own operations: the engine itself, the library as a whole, and the runs that
belong to the library (indexing, drawing, moving), which go on when the asking door closes.

Each function answers one request class of ``tools/owner/contract.py`` (the table is
``tools/owner/dispatch.py``).
"""

from __future__ import annotations

import os
import threading
from typing import Any

from photocomic.tools.config import version
from photocomic.tools.contract import Empty, page_of
from photocomic.tools.errors import unknown_job
from photocomic.tools.find.contract import Filters
from photocomic.tools.owner.calls import Call
from photocomic.tools.owner.contract import (
    CancelJob,
    EngineInfo,
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
        roots=list(scope.roots or []), comics=len(call.comics.list()),
        model_loaded=engine.model_loaded(), engine_pid=os.getpid(),
        forward_pass=engine.forward_pass(library.settings),
    )  # fmt: skip
    seen = [j.snapshot() for j in engine.jobs.all() if engine.visible(j, scope)]
    status.jobs = [_brief(j) for j in seen if j.state in ("queued", "running")]
    status.finished_jobs = len(seen) - len(status.jobs)  # a status stays small: a count
    status.duplicate_checks = library.searcher.duplicate_checks.running(
        call.filters(Filters()).within
    )
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
    key = call.settings.library_key
    job = call.engine.jobs.start_index(key, folder, request.recursive, origin, run)
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
        target_settings.library_key, {"roots": call.door.roots}, run
    ).snapshot()
