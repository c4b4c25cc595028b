"""Runs that belong to the library, not to the door that asked: indexing a folder, drawing a comic.

Each job runs in its own thread of the process that owns the library, so it goes on when the
door that started it (an MCP server, a terminal) closes or is killed, and every door sees it.
Jobs are written to ``<data folder>/jobs/`` as they change: when the owning process itself dies,
the next one resumes the index runs that were under way (indexing is incremental, so nothing is
done twice) and marks drawings as interrupted rather than paying for them again.
"""

from __future__ import annotations

import base64
import contextlib
import json
import logging
import os
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Literal

from photocomic.tools.errors import Cancelled, PhotocomicError, unknown_job
from photocomic.tools.owner.contract import JobSnapshot, JobState
from photocomic.tools.photos.contract import IndexSummary
from pydantic import BaseModel, Field

log = logging.getLogger(__name__)

KEEP_JOBS = 50
SAVE_EVERY = 1.0  # seconds between writes of a running job's progress


def now_iso() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class Job:
    """One run. Its thread writes the fields; any door reads them through :meth:`snapshot`."""

    job_id: str
    kind: str
    library: str  # which store: jobs of one store index one at a time
    folder: str | None = None
    recursive: bool = True
    origin: dict[str, Any] = field(default_factory=dict)  # how to run it again after a crash
    state: str = "queued"
    done: int = 0
    total: int | None = None
    started_at: str = field(default_factory=now_iso)
    finished_at: str | None = None
    summary: IndexSummary | None = None
    failed_count: int = 0
    error: str | None = None
    error_kind: str | None = None
    record: Any = None
    preview: bytes | None = None
    changes: int = 0
    cancel: threading.Event = field(default_factory=threading.Event)
    changed: threading.Condition = field(default_factory=threading.Condition)

    @property
    def active(self) -> bool:
        return self.state in ("queued", "running")

    def touch(self, **updates: Any) -> None:
        with self.changed:
            for name, value in updates.items():
                setattr(self, name, value)
            self.changes += 1
            self.changed.notify_all()

    def progress(self, done: int, total: int) -> None:
        if (done, total) != (self.done, self.total):
            self.touch(done=done, total=total)

    def wait(self, since: int, timeout: float) -> None:
        """Return when the job changed after ``since`` (or finished), or after ``timeout``."""
        deadline = time.monotonic() + timeout
        with self.changed:
            while self.changes <= since and self.active:
                left = deadline - time.monotonic()
                if left <= 0:
                    return
                self.changed.wait(left)

    def message(self) -> str:
        if self.kind == "comic":
            return _comic_message(self)
        if self.kind == "migrate":
            if self.state in ("queued", "running"):
                return f"{self.done:,} of {self.total or 0:,} photos copied"
            return self.error or f"moved: {getattr(self.record, 'photos', 0):,} photos"
        if self.state == "queued":
            return "waiting for another indexing run to finish"
        if self.state == "running":
            if self.total is None:
                return f"scanning {self.folder} and loading the model"
            return f"{self.done} of {self.total} new or changed photos processed"
        if self.state == "done" and self.summary is not None:
            s = self.summary
            return (
                f"{s.scanned} files: {s.added} added, {s.updated} updated, {s.unchanged} "
                f"unchanged, {s.removed} removed, {self.failed_count} failed ({s.seconds:.1f} s)"
            )
        if self.state == "cancelled":
            return "cancelled; the photos indexed so far are kept"
        return self.error or self.state

    def snapshot(self) -> JobSnapshot:
        with self.changed:
            return JobSnapshot(
                job_id=self.job_id, kind=self.kind, state=self.state,  # type: ignore[arg-type]
                folder=self.folder, recursive=self.recursive, done=self.done, total=self.total,
                changes=self.changes, started_at=self.started_at, finished_at=self.finished_at,
                summary=self.summary, failed_count=self.failed_count, error=self.error,
                error_kind=self.error_kind, message=self.message(), record=self.record,
                preview_jpeg=base64.b64encode(self.preview).decode() if self.preview else None,
            )  # fmt: skip


def _comic_message(job: Job) -> str:
    if job.state in ("queued", "running"):
        seconds = time.time() - _epoch(job.started_at)
        parts = f"; {job.done} partial image{'s' * (job.done != 1)} so far" if job.done else ""
        return f"drawing the comic ({seconds:.0f} s{parts})"
    if job.state == "done" and job.record is not None:
        return f"comic {getattr(job.record, 'comic_id', None) or '(dry run)'} ready"
    return job.error or job.state


def _epoch(stamp: str) -> float:
    return datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc).timestamp()


Runner = Callable[[Job], Any]


class SavedOrigin(BaseModel):
    """How a job was asked for: the door's settings (no secrets) and roots."""

    settings: dict[str, Any] = Field(default_factory=dict)
    roots: list[str] | None = None


class SavedJob(BaseModel):
    """A job file, validated whole before anything of it is used."""

    job_id: str = Field(pattern=r"^[jgm][0-9a-f]{8}$")
    kind: Literal["index", "comic", "migrate"]
    library: str
    folder: str | None = None
    recursive: bool = True
    origin: SavedOrigin = Field(default_factory=SavedOrigin)
    state: JobState
    done: int = Field(0, ge=0)
    total: int | None = Field(None, ge=0)
    started_at: str = Field(pattern=r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
    finished_at: str | None = None
    error: str | None = None
    error_kind: str | None = None
    failed_count: int = Field(0, ge=0)
    summary: IndexSummary | None = None

    def job(self) -> Job:
        data = self.model_dump(exclude={"origin", "summary"})
        return Job(**data, origin=self.origin.model_dump(), summary=self.summary)


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0


class Jobs:
    """Every job of one data folder: started, joined, waited on, saved, resumed."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._jobs: OrderedDict[str, Job] = OrderedDict()
        self._lock = threading.Lock()
        self._writers: dict[str, threading.Lock] = {}
        self._saved: dict[str, float] = {}

    def start_index(
        self, library: str, folder: str, recursive: bool, origin: dict[str, Any], run: Runner
    ) -> Job:
        """A new run for ``folder``, or the one already under way for it (joined)."""
        with self._lock:
            for job in self._jobs.values():
                if (job.kind, job.library, job.folder, job.recursive) == (
                    "index", library, folder, recursive
                ) and job.active:  # fmt: skip
                    return job
            job = Job(
                "j" + secrets.token_hex(4), "index", library, folder, recursive, origin=origin
            )
            self._add(job)
        self._spawn(job, run, serial=True)
        return job

    def start_comic(self, library: str, origin: dict[str, Any], run: Runner) -> Job:
        """Comics draw beside other work: they wait on the image API, not on the store."""
        return self._start(Job("g" + secrets.token_hex(4), "comic", library, origin=origin), run)

    def start_migration(self, library: str, origin: dict[str, Any], run: Runner) -> Job:
        job = Job("m" + secrets.token_hex(4), "migrate", library, origin=origin)
        return self._start(job, run, serial=True)

    def _start(self, job: Job, run: Runner, serial: bool = False) -> Job:
        with self._lock:
            self._add(job)
        self._spawn(job, run, serial=serial)
        return job

    def get(self, job_id: str) -> Job:
        job = self._jobs.get(job_id.strip())
        if job is None:
            raise unknown_job(job_id)
        return job

    def all(self) -> list[Job]:
        with self._lock:
            return list(reversed(self._jobs.values()))

    def active(self) -> list[Job]:
        return [job for job in self.all() if job.active]

    def cancel_all(self, timeout: float) -> None:
        """Stop the runs (their work so far stays, and the next process resumes them)."""
        for job in self.active():
            job.cancel.set()
        deadline = time.monotonic() + timeout
        for job in self.active():
            job.wait(job.changes, max(0.0, deadline - time.monotonic()))

    # -- running -----------------------------------------------------------------------------

    def _add(self, job: Job) -> None:
        self._jobs[job.job_id] = job
        while len(self._jobs) > KEEP_JOBS:
            oldest = next(iter(self._jobs))
            if self._jobs[oldest].active:
                break
            gone = self._jobs.pop(oldest)
            with contextlib.suppress(OSError):
                self._file(gone.job_id).unlink()
        self._save(job, force=True)

    def _spawn(self, job: Job, run: Runner, serial: bool) -> None:
        writer = self._writers.setdefault(job.library, threading.Lock()) if serial else None

        def work() -> None:
            try:
                if writer is not None:
                    writer.acquire()
                try:
                    if job.cancel.is_set():
                        raise Cancelled()
                    job.touch(state="running")
                    self._finish(job, run(job))
                finally:
                    if writer is not None:
                        writer.release()
            except BaseException as exc:
                self._fail(job, exc)
            finally:
                self._save(job, force=True)

        threading.Thread(target=work, name=f"job-{job.job_id}", daemon=True).start()

    def _finish(self, job: Job, result: Any) -> None:
        if isinstance(result, IndexSummary):
            job.touch(
                failed_count=len(result.failed), summary=result, state="done",
                finished_at=now_iso(),
            )  # fmt: skip
        else:
            job.touch(record=result, state="done", finished_at=now_iso())

    def _fail(self, job: Job, exc: BaseException) -> None:
        if isinstance(exc, Cancelled):
            job.touch(state="cancelled", finished_at=now_iso())
            return
        if isinstance(exc, PhotocomicError):
            message, kind = exc.raw, type(exc).__name__  # each door renders its remedies
        else:
            log.exception("job %s (%s) failed", job.job_id, job.kind)
            what = "indexing" if job.kind == "index" else "drawing"
            message = (
                f"the {what} stopped by an internal error ({type(exc).__name__}); the details "
                "are in the log."
            )
            if job.kind == "index":
                message += " Photos indexed so far are kept; index again to continue."
            kind = "InternalError"
        job.touch(state="failed", error=message, error_kind=kind, finished_at=now_iso())

    # -- saving and resuming ------------------------------------------------------------------

    def _file(self, job_id: str) -> Path:
        return self.folder / f"{job_id}.json"

    def _save(self, job: Job, force: bool = False) -> None:
        """Write the job (not its comic picture) so a new process knows what was under way."""
        now = time.monotonic()
        if not force and now - self._saved.get(job.job_id, 0.0) < SAVE_EVERY:
            return
        self._saved[job.job_id] = now
        data = {
            "job_id": job.job_id, "kind": job.kind, "library": job.library, "folder": job.folder,
            "recursive": job.recursive, "origin": job.origin, "state": job.state,
            "done": job.done, "total": job.total, "started_at": job.started_at,
            "finished_at": job.finished_at, "error": job.error, "error_kind": job.error_kind,
            "failed_count": job.failed_count,
            "summary": job.summary.model_dump() if job.summary else None,
        }  # fmt: skip
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            temporary = self._file(job.job_id).with_suffix(".tmp")
            temporary.write_text(json.dumps(data), encoding="utf-8")
            os.replace(temporary, self._file(job.job_id))
        except OSError as exc:
            log.warning("could not save job %s: %s", job.job_id, exc)

    def saved(self) -> list[Job]:
        """Jobs a previous process left, oldest first. A file that is not a whole, valid job
        (hand-edited, half-written by a full disk) is set aside as ``.bad`` with a log line:
        one bad file never keeps the engine from serving."""
        found = []
        for path in sorted(self.folder.glob("[jgm]*.json"), key=_mtime):
            try:
                saved = SavedJob.model_validate_json(path.read_bytes())
                if path.stem != saved.job_id:
                    raise ValueError(f"it names job {saved.job_id}")
            except (OSError, ValueError) as exc:
                reason = " ".join(str(exc).split())[:200]
                log.warning("set aside the unreadable job file %s (%s)", path, reason)
                with contextlib.suppress(OSError):
                    os.replace(path, path.with_suffix(".bad"))
                continue
            found.append(saved.job())
        return found

    def restore(self, job: Job) -> None:
        """Keep a finished job from an earlier process so doors can still ask about it."""
        with self._lock:
            self._jobs[job.job_id] = job

    def resume(self, job: Job, run: Runner) -> Job:
        """Run an index job again under its old id (the earlier process died under it)."""
        job.state, job.done, job.total = "queued", 0, None
        with self._lock:
            self._add(job)
        self._spawn(job, run, serial=True)
        return job

    def interrupted(self, job: Job) -> None:
        """A drawing (or a move) the dead process left: not run again on its own."""
        job.state, job.finished_at = "failed", now_iso()
        if job.kind == "comic":
            job.error = (
                "the drawing was interrupted: the process that owned the library stopped while "
                "the image model was drawing. Nothing was saved or charged twice; ask again."
            )
            job.error_kind = "GenerationError"
        elif job.kind == "migrate":
            job.error = "the move was interrupted; [[migrate_again]]"
            job.error_kind = "PhotocomicError"
        else:
            job.error = (
                "the indexing was interrupted and its saved settings could not be used (see the "
                "engine's log); index the folder again: what was indexed is kept"
            )
            job.error_kind = "PhotocomicError"
        self.restore(job)
        self._save(job, force=True)
