"""The owner of one data folder: its stores, one copy of each model, their jobs, and the one
table of operations every front door calls.

Doors (the command line, any number of MCP servers) send ``(operation, door, request)``; the
door carries its settings, its allowed roots and its OpenAI key. The engine keeps one
:class:`Library` per store and one model per model setting, whichever door asks, and enforces
each door's roots on each request. It is transport-free: ``photocomic engine`` serves it on an
owner-only Unix socket, and a door with ``PHOTOCOMIC_ENGINE=off`` calls it in its own process.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import logging
import os
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from photocomic.tools.comics.image_api import ApiAccess
from photocomic.tools.comics.previews import preview_jpeg
from photocomic.tools.config import Settings
from photocomic.tools.errors import (
    ConfigError,
    InvalidInput,
    NotFound,
    PhotocomicError,
    StoreUnavailable,
)
from photocomic.tools.folders import make_private
from photocomic.tools.owner.jobs import Job, Jobs, now_iso
from photocomic.tools.owner.library import Library
from photocomic.tools.owner.migrate import move_library
from photocomic.tools.policy import MAX_WAIT, Scope, check_wait
from photocomic.tools.requests import (
    ComicFileRequest,
    ComicRequest,
    ComicsRequest,
    DoorInfo,
    DuplicatesRequest,
    Empty,
    EngineInfo,
    FindRequest,
    IndexRequest,
    JobRequest,
    MigrateRequest,
    PhotoRequest,
    RenameSubject,
    SimilarRequest,
    SubjectName,
    SubjectRequest,
    ThumbnailsRequest,
)
from photocomic.tools.results import ComicRecord, ImageData, JobSnapshot, LibraryStatus
from photocomic.tools.store.milvus import Connection
from pydantic import BaseModel, SecretStr, ValidationError

if TYPE_CHECKING:
    from photocomic.tools.photos.embedder import Embedder

log = logging.getLogger(__name__)


def version() -> str:
    try:
        from importlib.metadata import version as installed

        return installed("photocomic")
    except Exception:
        return "0"


class Engine:
    """Libraries, models and jobs of one data folder; thread-safe."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = Path(os.path.realpath(data_dir))
        make_private(self.data_dir)
        self.jobs = Jobs(self.data_dir / "jobs")
        self.started_at = now_iso()
        self._connections: dict[tuple[str, str], Connection] = {}
        self._libraries: dict[tuple[str, str, str], Library] = {}
        self._embedders: dict[tuple[str, str, str, str], Embedder] = {}
        self._lock = threading.RLock()
        self._model_lock = threading.Lock()
        self._leases: dict[str, float] = {}
        self.last_call = time.monotonic()
        self.stop_requested = threading.Event()
        self._settings: dict[str, Settings] = {}

    # -- the table of operations ---------------------------------------------------------------

    def call(self, op: str, door: DoorInfo, body: dict[str, Any]) -> BaseModel:
        """Run one operation for one door; PhotocomicError for anything the caller can fix."""
        entry = OPERATIONS.get(op)
        if entry is None:
            raise NotFound(f"no operation {op!r}: this photocomic engine ({version()}) offers "
                           f"{', '.join(sorted(OPERATIONS))}")  # fmt: skip
        model, handler = entry
        try:
            request = model.model_validate(body)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first.get("loc", ())) or "request"
            raise InvalidInput(f"invalid {where} for {op}: {first.get('msg')}") from None
        self._seen(door)
        try:
            return handler(self, door, request)
        except StoreUnavailable:
            uri = str(door.settings.get("db") or "")
            if uri:
                self.forget(uri)
            raise

    def _seen(self, door: DoorInfo) -> None:
        now = time.monotonic()
        with self._lock:
            self.last_call = now
            if door.lease > 0:
                self._leases[door.door_id] = now + door.lease
            else:
                self._leases.pop(door.door_id, None)

    def idle_seconds(self) -> float:
        """How long nothing has kept this engine busy: no door's lease, no job, no call."""
        now = time.monotonic()
        with self._lock:
            self._leases = {d: t for d, t in self._leases.items() if t > now}
            if self._leases or self.jobs.active():
                return 0.0
            return now - self.last_call

    # -- libraries and models ------------------------------------------------------------------

    def settings_of(self, door: DoorInfo) -> Settings:
        """The door's settings (read once per distinct door configuration: environment-aware
        settings take a millisecond or two to build, a search a few)."""
        key = json.dumps(door.settings, sort_keys=True)
        found = self._settings.get(key)
        if found is None:
            found = self._settings[key] = self._read_settings(door)
        return found

    def _read_settings(self, door: DoorInfo) -> Settings:
        try:
            settings = Settings(**door.settings)  # type: ignore[arg-type]
        except ValidationError as exc:
            raise ConfigError(
                f"invalid settings from {door.kind}: {exc.errors()[0]['msg']}"
            ) from None
        if Path(os.path.realpath(settings.data_dir)) != self.data_dir:
            raise ConfigError(
                f"this photocomic engine owns {self.data_dir}, not {settings.data_dir}"
            )
        return settings

    def library(self, settings: Settings) -> Library:
        """The library of a store, reached with the asking door's own Milvus credentials: a
        connection is shared only by doors that hold the same token (kept as a digest, in
        memory), so Milvus itself judges each door's token and role."""
        token = settings.milvus_token.get_secret_value() if settings.milvus_token else ""
        remote = token and not settings.is_local_db  # Milvus Lite checks no token
        who = hashlib.sha256(token.encode()).hexdigest() if remote else ""
        key = (settings.db_uri, who, settings.collection)
        with self._lock:
            found = self._libraries.get(key)
            if found is not None:
                return found
            connection = self._connections.get((settings.db_uri, who))
            if connection is None:
                connection = Connection(settings.db_uri, settings.is_local_db, token)
                self._connections[(settings.db_uri, who)] = connection
            library = Library(settings, lambda: self.embedder(settings), connection)
            self._libraries[key] = library
            log.info("opened library %s (collection %s)", settings.db_uri, settings.collection)
            return library

    def embedder(self, settings: Settings) -> Embedder:
        """One model in memory per model setting, shared by every library and door."""
        key = (settings.model, str(settings.weights), settings.device, settings.precision)
        with self._model_lock:
            found = self._embedders.get(key)
            if found is None:
                from photocomic.tools.photos.embedder import Embedder

                started = time.monotonic()
                found = Embedder.from_settings(settings)
                self._embedders[key] = found
                log.info("loaded %s in %.1f s", settings.model, time.monotonic() - started)
            return found

    def warm(self, settings: Settings) -> None:
        """Open the store and load its model ahead of the first search (an MCP door starting)."""
        try:
            library = self.library(settings)
            library.embedder()
        except PhotocomicError as exc:
            log.info("warm-up: %s", exc)

    def close(self) -> None:
        self.jobs.cancel_all(timeout=5.0)
        with self._lock:
            for library in self._libraries.values():
                library.close()
            for connection in self._connections.values():
                connection.close()
            self._libraries.clear()
            self._connections.clear()

    # -- jobs that outlive their door -----------------------------------------------------------

    def resume(self) -> None:
        """Index runs a dead engine left are run again; its drawings are marked interrupted."""
        for job in self.jobs.saved():
            if not job.active:
                self.jobs.restore(job)
            elif job.kind == "index":
                settings = self._resumable(job)
                if settings is None:
                    self.jobs.interrupted(job)
                    continue
                log.warning("resuming index job %s of %s", job.job_id, job.folder)
                scope = Scope.of(job.origin.get("roots"))
                self.jobs.resume(job, self._index_runner(settings, scope, job.folder or ""))
            else:
                self.jobs.interrupted(job)

    def _resumable(self, job: Job) -> Settings | None:
        """The settings to run a saved index job again with, or None (logged) when they are
        invalid or belong to another data folder: a job file never sends the engine
        elsewhere."""
        try:
            settings = Settings(**job.origin.get("settings", {}))
        except ValidationError as exc:
            log.warning("not resuming job %s: invalid settings (%s)", job.job_id, exc.errors()[0])
            return None
        if Path(os.path.realpath(settings.data_dir)) != self.data_dir or not job.folder:
            log.warning("not resuming job %s: it names another data folder", job.job_id)
            return None
        return settings

    def _index_runner(self, settings: Settings, scope: Scope, folder: str) -> Callable[[Job], Any]:
        def run(job: Job) -> Any:
            with self.evicting(settings):
                library = self.library(settings)
                return library.index(
                    scope, folder, job.recursive, job.progress, job.cancel, settings
                )

        return run

    @contextlib.contextmanager
    def evicting(self, *stores: Settings) -> Iterator[None]:
        """A store that stopped answering is closed, so the next call connects afresh (a
        Milvus server that was restarted)."""
        try:
            yield
        except StoreUnavailable:
            for settings in stores:
                self.forget(settings.db_uri)
            raise

    def forget(self, uri: str) -> None:
        with self._lock:
            self._drop(uri)

    def _drop(self, uri: str) -> None:
        for key in [k for k in self._libraries if k[0] == uri]:
            with contextlib.suppress(Exception):
                self._libraries.pop(key).close()
        for key in [k for k in self._connections if k[0] == uri]:
            with contextlib.suppress(Exception):
                self._connections.pop(key).close()

    def visible(self, job: Job, scope: Scope) -> bool:
        """A door sees the jobs of the folders it may read (the command line sees all)."""
        if not scope.restricted:
            return True
        if job.kind == "index" and job.folder:
            return scope.allows(job.folder)
        return tuple(job.origin.get("roots") or ()) == scope.roots

    # -- handlers ---------------------------------------------------------------------------

    def op_hello(self, door: DoorInfo, request: Empty) -> EngineInfo:
        if door.lease > 0 and door.settings:
            settings = self.settings_of(door)
            threading.Thread(target=self.warm, args=(settings,), daemon=True).start()
        with self._lock:
            libraries = sorted({f"{uri} ({name})" for uri, _, name in self._libraries})
            models = sorted({key[0] for key in self._embedders})
        return EngineInfo(
            pid=os.getpid(), data_dir=str(self.data_dir), version=version(),
            started_at=self.started_at, libraries=libraries, models_loaded=models,
            active_jobs=len(self.jobs.active()), doors=len(self._leases),
            idle_seconds=round(self.idle_seconds(), 1),
        )  # fmt: skip

    def op_shutdown(self, door: DoorInfo, request: Empty) -> Empty:
        """Leave soon (running index jobs stop; the next engine resumes them)."""
        log.info("asked to stop by %s %d", door.kind, door.pid)
        self.stop_requested.set()
        return Empty()

    def op_status(self, door: DoorInfo, request: Empty) -> LibraryStatus:
        settings, scope = self.settings_of(door), Scope.of(door.roots)
        library = self.library(settings)
        status = library.status(scope)
        status.engine_pid = os.getpid()
        status.model_loaded = bool(self._embedders)
        status.jobs = [j.snapshot() for j in self.jobs.all() if self.visible(j, scope)]
        for job in status.jobs:
            job.preview_jpeg = None  # a status stays small
        return status

    def op_index(self, door: DoorInfo, request: IndexRequest) -> JobSnapshot:
        settings, scope = self.settings_of(door), Scope.of(door.roots)
        if len(request.folders) != 1:
            raise InvalidInput("index one folder per request")
        folder = str(scope.resolve(request.folders[0], "dir"))
        self.library(settings)  # a store that cannot open fails this call, not the job
        library_key = f"{settings.db_uri}#{settings.collection}"
        origin = {"settings": settings.payload(secrets=False), "roots": door.roots}
        run = self._index_runner(settings, scope, folder)
        job = self.jobs.start_index(library_key, folder, request.recursive, origin, run)
        snapshot = job.snapshot()
        snapshot.joined = job.origin is not origin
        return snapshot

    def op_job(self, door: DoorInfo, request: JobRequest) -> JobSnapshot:
        check_wait(min(request.wait, MAX_WAIT))
        job = self._job(door, request.job_id)
        since = request.since if request.since >= 0 else job.changes
        if request.wait > 0:
            job.wait(since, request.wait)
        return job.snapshot()

    def op_cancel(self, door: DoorInfo, request: JobRequest) -> JobSnapshot:
        job = self._job(door, request.job_id)
        job.cancel.set()
        job.wait(job.changes, 5.0)
        return job.snapshot()

    def _job(self, door: DoorInfo, job_id: str) -> Job:
        job = self.jobs.get(job_id)
        if not self.visible(job, Scope.of(door.roots)):
            raise NotFound(f"no job {job_id[:40]!r} among this server's folders")
        return job

    def op_similar(self, door: DoorInfo, request: SimilarRequest) -> BaseModel:
        settings = self.settings_of(door)
        library = self.library(settings)
        return library.similar(Scope.of(door.roots), request, settings.max_upload_bytes)

    def op_find(self, door: DoorInfo, request: FindRequest) -> BaseModel:
        return self.library(self.settings_of(door)).find(Scope.of(door.roots), request)

    def op_duplicates(self, door: DoorInfo, request: DuplicatesRequest) -> BaseModel:
        return self.library(self.settings_of(door)).duplicates(Scope.of(door.roots), request)

    def op_comic(self, door: DoorInfo, request: ComicRequest) -> JobSnapshot:
        settings, scope = self.settings_of(door), Scope.of(door.roots)
        library = self.library(settings)
        access = ApiAccess(door.openai_api_key, door.openai_base_url)

        def run(job: Job) -> Any:
            def partial(index: int, png: bytes) -> None:
                job.touch(done=index + 1, preview=preview_jpeg(png))

            record = library.comic(scope, request, access, partial, settings)
            path = getattr(record, "path", None)
            if isinstance(record, ComicRecord) and record.variants:
                job.preview = library.variants_sheet(record)
            elif path:
                job.preview = preview_jpeg(path)
            return record

        library_key = f"{settings.db_uri}#{settings.collection}"
        return self.jobs.start_comic(library_key, {"roots": door.roots}, run).snapshot()

    def op_migrate(self, door: DoorInfo, request: MigrateRequest) -> JobSnapshot:
        """Copy this library into another store, as a job (it can take minutes)."""
        settings = self.settings_of(door)
        source = self.library(settings)
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
        target = self.library(target_settings)
        library_key = f"{target_settings.db_uri}#{target_settings.collection}"

        def run(job: Job) -> Any:
            with self.evicting(settings, target_settings):
                return move_library(source, target, self.data_dir, job)

        return self.jobs.start_migration(library_key, {"roots": door.roots}, run).snapshot()

    def op_remember(self, door: DoorInfo, request: SubjectRequest) -> BaseModel:
        settings = self.settings_of(door)
        return self.library(settings).remember(Scope.of(door.roots), request, settings)

    def op_subjects(self, door: DoorInfo, request: Empty) -> BaseModel:
        return self.library(self.settings_of(door)).list_subjects(Scope.of(door.roots))

    def op_subject(self, door: DoorInfo, request: SubjectName) -> BaseModel:
        library = self.library(self.settings_of(door))
        return library.show_subject(Scope.of(door.roots), request.name)

    def op_forget_subject(self, door: DoorInfo, request: SubjectName) -> BaseModel:
        library = self.library(self.settings_of(door))
        return library.forget_subject(Scope.of(door.roots), request.name)

    def op_rename_subject(self, door: DoorInfo, request: RenameSubject) -> BaseModel:
        library = self.library(self.settings_of(door))
        return library.rename_subject(Scope.of(door.roots), request.name, request.new_name)

    def op_comics(self, door: DoorInfo, request: ComicsRequest) -> BaseModel:
        library = self.library(self.settings_of(door))
        return library.comics(Scope.of(door.roots), request.limit)

    def op_thumbnail(self, door: DoorInfo, request: PhotoRequest) -> ImageData:
        data = self.library(self.settings_of(door)).thumbnail(
            Scope.of(door.roots), request.photo_id
        )
        return ImageData(mime="image/jpeg", data=base64.b64encode(data).decode())

    def op_thumbnails(self, door: DoorInfo, request: ThumbnailsRequest) -> BaseModel:
        library = self.library(self.settings_of(door))
        return library.thumbnails(Scope.of(door.roots), request.photo_ids, request.side)

    def op_lineage(self, door: DoorInfo, request: ComicFileRequest) -> BaseModel:
        library = self.library(self.settings_of(door))
        return library.lineage(Scope.of(door.roots), request.comic_id)

    def op_comic_file(self, door: DoorInfo, request: ComicFileRequest) -> ImageData:
        library = self.library(self.settings_of(door))
        data = library.comic_file(Scope.of(door.roots), request.comic_id, request.preview)
        mime = "image/jpeg" if request.preview else "image/png"
        return ImageData(mime=mime, data=base64.b64encode(data).decode())


Handler = Callable[[Engine, DoorInfo, Any], BaseModel]
OPERATIONS: dict[str, tuple[type[BaseModel], Handler]] = {
    "hello": (Empty, Engine.op_hello),
    "shutdown": (Empty, Engine.op_shutdown),
    "status": (Empty, Engine.op_status),
    "index": (IndexRequest, Engine.op_index),
    "job": (JobRequest, Engine.op_job),
    "cancel": (JobRequest, Engine.op_cancel),
    "similar": (SimilarRequest, Engine.op_similar),
    "find": (FindRequest, Engine.op_find),
    "duplicates": (DuplicatesRequest, Engine.op_duplicates),
    "comic": (ComicRequest, Engine.op_comic),
    "comics": (ComicsRequest, Engine.op_comics),
    "migrate": (MigrateRequest, Engine.op_migrate),
    "remember": (SubjectRequest, Engine.op_remember),
    "subjects": (Empty, Engine.op_subjects),
    "subject": (SubjectName, Engine.op_subject),
    "forget_subject": (SubjectName, Engine.op_forget_subject),
    "rename_subject": (RenameSubject, Engine.op_rename_subject),
    "thumbnail": (PhotoRequest, Engine.op_thumbnail),
    "comic_file": (ComicFileRequest, Engine.op_comic_file),
    "thumbnails": (ThumbnailsRequest, Engine.op_thumbnails),
    "lineage": (ComicFileRequest, Engine.op_lineage),
}
