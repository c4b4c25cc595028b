"""The server's state between calls: the photo library, opened on first use, and index jobs.

Why lazily: opening Milvus Lite and importing the engine take seconds, loading the model
longer, and an MCP client expects ``tools/list`` right after launch. Why index jobs run in
their own threads: a large folder takes longer than a client waits for one call, so the work
has to outlive the request that started it and be polled with ``index_status``.
"""

from __future__ import annotations

import logging
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, TypeVar

import anyio.to_thread
from photocomic.tools.config import Settings
from photocomic.tools.errors import NotFound, PhotocomicError
from photocomic.tools.results import IndexSummary

from .mcp_models import IndexJob, JobState

if TYPE_CHECKING:
    from photocomic.tools.service import PhotoLibrary

log = logging.getLogger("photocomic.server")

T = TypeVar("T")
KEEP_JOBS = 50
MAX_FAILED_SHOWN = 50
WARM_UP_DELAY = 1.5  # seconds: let the client's handshake and tools/list go first


def now_iso() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


class Runtime:
    """One per server process: the library, the jobs, and the way into worker threads."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._library: PhotoLibrary | None = None
        self._lock = threading.Lock()
        self._warm_started = False
        self._closed = False
        self.jobs = IndexJobs(self)
        self.drawings = Drawings()

    def library(self) -> PhotoLibrary:
        """The library, opened on first use (blocking: call from a worker thread).

        A failure (another process holds the store) is raised to this caller and retried by
        the next one, so the server recovers once the other process lets go.
        """
        with self._lock:
            if self._closed:
                raise PhotocomicError("the server is shutting down")
            if self._library is None:
                from photocomic.tools.service import PhotoLibrary

                self._library = PhotoLibrary(self.settings, restrict_to_roots=True)
            return self._library

    @property
    def model_loaded(self) -> bool:
        library = self._library
        return library is not None and getattr(library, "_embedder", None) is not None

    async def call(self, fn: Callable[[], T]) -> T:
        """Run blocking work (Milvus, torch, file IO) off the event loop."""
        return await anyio.to_thread.run_sync(fn)

    def start_warm_up(self) -> None:
        """Open the store in the background shortly after launch; errors wait for a tool."""
        with self._lock:
            if self._warm_started:
                return
            self._warm_started = True

        def warm() -> None:
            time.sleep(WARM_UP_DELAY)
            try:
                self.library()
            except Exception as exc:  # reported again, with its message, by the first tool
                log.debug("warm-up: %s", exc)

        threading.Thread(target=warm, name="warm-up", daemon=True).start()

    def close(self) -> None:
        """Stop index jobs (rows written so far stay) and release the store's lock.

        Bounded: a client gives a server about two seconds to exit after closing stdin, so
        a library still being opened is left to the process exit (Milvus Lite closes its
        files at exit; a killed run is finished by the next one anyway).
        """
        self._closed = True
        self.jobs.shutdown(timeout=0.5)
        if not self._lock.acquire(timeout=0.5):
            return
        try:
            library, self._library = self._library, None
        finally:
            self._lock.release()
        if library is not None:
            library.close()


@dataclass
class Job:
    """One indexing run. Written by its thread, read by the event loop: plain fields only."""

    job_id: str
    folder: str
    recursive: bool
    state: JobState = "queued"
    done: int = 0
    total: int | None = None
    started_at: str = field(default_factory=now_iso)
    finished_at: str | None = None
    summary: IndexSummary | None = None
    failed_count: int = 0
    error: str | None = None
    cancel: threading.Event = field(default_factory=threading.Event)
    finished: threading.Event = field(default_factory=threading.Event)

    def progress(self, done: int, total: int) -> None:
        self.done, self.total = done, total

    def message(self) -> str:
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

    def snapshot(self) -> IndexJob:
        return IndexJob(
            job_id=self.job_id,
            state=self.state,
            folder=self.folder,
            recursive=self.recursive,
            done=self.done,
            total=self.total,
            started_at=self.started_at,
            finished_at=self.finished_at,
            summary=self.summary,
            failed_count=self.failed_count,
            error=self.error,
            message=self.message(),
        )


class IndexJobs:
    """Index runs in background threads, one at a time (they write the same store)."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self._jobs: OrderedDict[str, Job] = OrderedDict()
        self._threads: dict[str, threading.Thread] = {}
        self._lock = threading.Lock()
        self._one_at_a_time = threading.Lock()

    def start(self, folder: str, recursive: bool) -> Job:
        """A new run for ``folder`` (already checked against the roots), or the one under way."""
        with self._lock:
            for job in self._jobs.values():
                if (
                    job.folder == folder
                    and job.recursive == recursive
                    and job.state in ("queued", "running")
                ):
                    return job
            job = Job(job_id="j" + secrets.token_hex(4), folder=folder, recursive=recursive)
            self._jobs[job.job_id] = job
            while len(self._jobs) > KEEP_JOBS:
                oldest = next(iter(self._jobs))
                if self._jobs[oldest].state in ("queued", "running"):
                    break
                del self._jobs[oldest]
            thread = threading.Thread(
                target=self._run, args=(job,), name=f"index-{job.job_id}", daemon=True
            )
            self._threads[job.job_id] = thread
        thread.start()
        return job

    def get(self, job_id: str) -> Job:
        job = self._jobs.get(job_id.strip())
        if job is None:
            raise NotFound(
                f"no index job {job_id[:40]!r} in this server: jobs are kept while the server "
                "runs (the last 50); library_status lists them. Start one with index_folder."
            )
        return job

    def all(self) -> list[Job]:
        with self._lock:
            return list(reversed(self._jobs.values()))

    def _run(self, job: Job) -> None:
        from photocomic.tools.indexer import Cancelled

        try:
            with self._one_at_a_time:
                if job.cancel.is_set():
                    raise Cancelled()
                job.state = "running"
                indexer = self.runtime.library().indexer()
                summary = indexer.index(
                    [job.folder], recursive=job.recursive, progress=job.progress, cancel=job.cancel
                )
            job.failed_count = len(summary.failed)
            job.summary = summary.model_copy(update={"failed": summary.failed[:MAX_FAILED_SHOWN]})
            job.state = "done"
        except Cancelled:
            job.state = "cancelled"
        except PhotocomicError as exc:
            job.error = str(exc)
            job.state = "failed"
        except Exception as exc:  # a bug: keep the server alive, the details in the log
            log.exception("index job %s for %s failed", job.job_id, job.folder)
            job.error = (
                f"indexing stopped by an internal error ({type(exc).__name__}); the details "
                "are in the server's log. Photos indexed so far are kept; run index_folder "
                "again to continue."
            )
            job.state = "failed"
        finally:
            job.finished_at = now_iso()
            job.finished.set()
            with self._lock:
                self._threads.pop(job.job_id, None)

    def shutdown(self, timeout: float) -> None:
        with self._lock:
            threads = list(self._threads.values())
            for job in self._jobs.values():
                job.cancel.set()
        deadline = time.monotonic() + timeout
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()))


@dataclass
class Drawing:
    """One comic being made in a background thread: its record, or the error it raised.

    Why in the background: the image model takes one to two minutes, longer than many clients
    wait for a call; the comic is saved when it is ready whether or not anyone is waiting.
    """

    job_id: str
    backend: str
    size: str
    quality: str
    started: float = field(default_factory=time.monotonic)
    record: Any = None
    error: BaseException | None = None
    finished: threading.Event = field(default_factory=threading.Event)

    def seconds(self) -> float:
        return time.monotonic() - self.started


class Drawings:
    """Comics being made, each in its own thread (they only wait on the image API)."""

    def __init__(self) -> None:
        self._jobs: OrderedDict[str, Drawing] = OrderedDict()
        self._lock = threading.Lock()

    def start(self, work: Callable[[], Any], backend: str, size: str, quality: str) -> Drawing:
        job = Drawing("g" + secrets.token_hex(4), backend=backend, size=size, quality=quality)
        with self._lock:
            self._jobs[job.job_id] = job
            while len(self._jobs) > KEEP_JOBS:
                oldest = next(iter(self._jobs))
                if not self._jobs[oldest].finished.is_set():
                    break
                del self._jobs[oldest]

        def run() -> None:
            try:
                job.record = work()
            except BaseException as exc:  # handed to whoever asks for the result
                if not isinstance(exc, PhotocomicError):  # a bug: logged even if nobody asks
                    log.exception("comic job %s failed", job.job_id)
                job.error = exc
            finally:
                job.finished.set()

        threading.Thread(target=run, name=f"comic-{job.job_id}", daemon=True).start()
        return job

    def get(self, job_id: str) -> Drawing:
        job = self._jobs.get(job_id.strip())
        if job is None:
            raise NotFound(
                f"no comic job {job_id[:40]!r} in this server: jobs are kept while the server "
                "runs (the last 50). Finished comics are listed by list_comics."
            )
        return job
