"""The owner of one data folder: its stores, one copy of each model, their jobs, and the
dispatch of every operation a front door asks for.

Doors (the command line, any number of MCP servers) send ``(operation, door, request)``; the
door carries its settings, its allowed roots and its OpenAI key. The engine keeps one
:class:`Library` per store and one model per model setting, whichever door asks, and hands
each request, with its caller (:class:`Call`), to the handler its request class names.
It is transport-free: ``photocomic engine`` serves it on an owner-only Unix socket, and a door
with ``PHOTOCOMIC_ENGINE=off`` calls it in its own process.
"""

from __future__ import annotations

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

from photocomic.tools.config import Settings, version
from photocomic.tools.errors import (
    ConfigError,
    InvalidInput,
    NotFound,
    PhotocomicError,
    StoreUnavailable,
)
from photocomic.tools.folders import make_private
from photocomic.tools.owner.calls import Call
from photocomic.tools.owner.contract import DoorInfo
from photocomic.tools.owner.dispatch import HANDLERS, OPERATIONS
from photocomic.tools.owner.jobs import Job, Jobs, now_iso
from photocomic.tools.owner.library import Library
from photocomic.tools.policy import Scope
from photocomic.tools.store.milvus import Connection
from pydantic import BaseModel, ValidationError

if TYPE_CHECKING:
    from photocomic.tools.photos.embedding import PhotoEmbedder

log = logging.getLogger(__name__)


class Engine:
    """Libraries, models and jobs of one data folder; thread-safe."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = Path(os.path.realpath(data_dir))
        make_private(self.data_dir)
        self.jobs = Jobs(self.data_dir / "jobs")
        self.started_at = now_iso()
        self._connections: dict[tuple[str, str], Connection] = {}
        self._libraries: dict[tuple[str, str, str], Library] = {}
        self._embedders: dict[tuple[str, str, str, str, str], PhotoEmbedder] = {}
        self._lock = threading.RLock()
        self._model_lock = threading.Lock()
        self._leases: dict[str, float] = {}
        self.last_call = time.monotonic()
        self.stop_requested = threading.Event()
        self._settings: dict[str, Settings] = {}

    # -- dispatch: one table, request class to handler (tools/owner/dispatch.py) ----------

    def call(self, op: str, door: DoorInfo, body: dict[str, Any]) -> BaseModel:
        """Run one operation for one door; PhotocomicError for anything the caller can fix."""
        kind = OPERATIONS.get(op)
        if kind is None:
            raise NotFound(f"no operation {op!r}: this photocomic engine ({version()}) offers "
                           f"{', '.join(sorted(OPERATIONS))}")  # fmt: skip
        try:
            request = kind.model_validate(body)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first.get("loc", ())) or "request"
            raise InvalidInput(f"invalid {where} for {op}: {first.get('msg')}") from None
        self._seen(door)
        try:
            return HANDLERS[kind](Call(self, door), request)
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

    @staticmethod
    def _model_key(settings: Settings) -> tuple[str, str, str, str, str]:
        return (
            settings.model, str(settings.weights), settings.device, settings.precision,
            settings.forward,
        )  # fmt: skip

    def embedder(self, settings: Settings) -> PhotoEmbedder:
        """One model in memory per model setting, shared by every library and door."""
        key = self._model_key(settings)
        with self._model_lock:
            found = self._embedders.get(key)
            if found is None:
                from photocomic.tools.photos.loading import load_embedder

                started = time.monotonic()
                found = load_embedder(settings, verdict_apart=True)
                self._embedders[key] = found
                log.info(
                    "loaded %s (%s) in %.1f s",
                    settings.model, found.forward_name, time.monotonic() - started,
                )  # fmt: skip
            return found

    def opened(self) -> tuple[list[str], list[str]]:
        """The stores open and the models loaded, for a door that asks who the engine is."""
        with self._lock:
            libraries = sorted({f"{uri} ({name})" for uri, _, name in self._libraries})
            models = sorted({key[0] for key in self._embedders})
        return libraries, models

    def model_loaded(self) -> bool:
        return bool(self._embedders)

    def forward_pass(self, settings: Settings) -> str | None:
        """How this library's model runs, if it is loaded (eager, torchscript, openvino)."""
        with self._model_lock:
            found = self._embedders.get(self._model_key(settings))
        return found.forward_name if found is not None else None

    def doors(self) -> int:
        return len(self._leases)

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
                self.jobs.resume(job, self.index_runner(settings, scope, job.folder or ""))
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

    def index_runner(self, settings: Settings, scope: Scope, folder: str) -> Callable[[Job], Any]:
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
