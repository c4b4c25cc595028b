"""A front door's way to the library: the engine that owns its data folder, started on demand.

Why a separate process: Milvus Lite lets one process hold a store, and a model costs about a
gigabyte per process; Claude Desktop, an IDE agent and a terminal are open on the same library
at once. The first door that needs the library starts ``photocomic engine`` detached; every
door sends its requests there over an owner-only Unix socket in the data folder (HTTP with
pydantic bodies) and imports no torch. If the engine has died, the next call starts a new one.

With ``PHOTOCOMIC_ENGINE=off`` a door runs the same engine in its own process instead.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import secrets
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from photocomic.tools import errors
from photocomic.tools.config import Settings
from photocomic.tools.contract import Ask
from photocomic.tools.errors import Audience, PhotocomicError, for_door
from photocomic.tools.folders import make_private, open_own
from photocomic.tools.owner.contract import Hello, JobSnapshot
from photocomic.tools.sockets import check_peer, socket_for
from pydantic import BaseModel

if TYPE_CHECKING:
    from photocomic.tools.owner.engine import Engine

T = TypeVar("T", bound=BaseModel)
START_TIMEOUT = 60.0  # seconds for a new engine to answer (imports, opening the store)
CALL_TIMEOUT = 900.0  # an index job's first call, a duplicates run: long but bounded
RETRIES = 3  # calls made again after the engine died under them
_SECRET_ENV = ("OPENAI_API_KEY", "OPENAI_BASE_URL", "PHOTOCOMIC_HTTP_TOKEN")


def socket_path(data_dir: Path) -> Path:
    """Where the engine of ``data_dir`` listens: in the folder, or (for a long path) in this
    user's private socket folder (:mod:`photocomic.tools.sockets`)."""
    return socket_for(Path(os.path.realpath(data_dir)) / "engine.sock", "engine.sock")


def lock_path(data_dir: Path) -> Path:
    return Path(os.path.realpath(data_dir)) / "engine.lock"


def log_path(data_dir: Path) -> Path:
    return Path(os.path.realpath(data_dir)) / "engine.log"


class _UnixConnection(http.client.HTTPConnection):
    def __init__(self, path: Path, timeout: float) -> None:
        super().__init__("photocomic", timeout=timeout)
        self._path = str(path)
        self.path_now = path

    def connect(self) -> None:
        for attempt in range(50):
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.settimeout(self.timeout)
            try:
                sock.connect(self._path)
                check_peer(sock, self._path)  # before a byte (and a key) is sent
            except BlockingIOError:  # the engine's queue of new connections is full: wait
                sock.close()
                time.sleep(0.01 * (attempt + 1))
                continue
            except BaseException:
                sock.close()
                raise
            self.sock = sock
            return
        raise ConnectionRefusedError(f"the engine at {self._path} takes no more connections")


class EngineUnreachable(PhotocomicError):
    """The engine could not be started or reached."""


class Door:
    """One front door's link to the library of its data folder."""

    def __init__(
        self,
        settings: Settings,
        kind: str = "cli",
        roots: list[str] | None = None,
        lease: float = 0.0,
    ) -> None:
        self.settings = settings
        self.kind = kind
        self.roots = roots
        self.lease = lease
        self.door_id = f"{kind}-{os.getpid()}-{secrets.token_hex(3)}"
        self.data_dir = Path(os.path.realpath(settings.data_dir))
        self._local: Engine | None = None
        self._local_lock = threading.Lock()  # a heartbeat and a tool call may come at once
        self._spawned: list[subprocess.Popen[bytes]] = []
        self._door: dict[str, Any] | None = None
        self._connections = threading.local()  # one kept-alive connection per thread
        self.on_start: Callable[[str], None] | None = None  # told when an engine is started

    @property
    def in_process(self) -> bool:
        return self.settings.engine == "off"

    def envelope(self, request: BaseModel) -> dict[str, Any]:
        if self._door is None:
            self._door = {
                "door_id": self.door_id,
                "kind": self.kind,
                "pid": os.getpid(),
                "settings": self.settings.payload(),
                "roots": self.roots,
            }
        door = {
            **self._door,
            "lease": self.lease,
            "openai_api_key": os.environ.get("OPENAI_API_KEY", "").strip() or None,
            "openai_base_url": os.environ.get("OPENAI_BASE_URL", "").strip() or None,
        }
        return {"door": door, "request": request.model_dump(mode="json")}

    def call(self, request: Ask[T], timeout: float = CALL_TIMEOUT) -> T:
        """The operation ``request`` names, answered with the answer model it names; the
        engine's own error (same class and words) on failure.

        No engine: one is started. An engine that dies during the call: a new one is started
        and the call made again (its jobs resume there), except for a comic, which could be
        paid for twice.
        """
        op, result = request.op, request.answer
        if self.in_process:
            return in_words(self._call_here(op, request, result), self.kind)  # type: ignore[arg-type,return-value]
        self._spawned = [p for p in self._spawned if p.poll() is None]  # no zombies
        body = json.dumps(self.envelope(request)).encode()
        for attempt in range(RETRIES + 1):
            try:
                status, data = self._send(op, body, timeout, request.sent_once)
                answer = _decode(status, data, result, self.data_dir)
                return in_words(answer, self.kind)  # type: ignore[return-value]
            except (FileNotFoundError, ConnectionRefusedError):
                pass  # nobody listens: start one (the call never reached an engine)
            except (ConnectionError, http.client.HTTPException, OSError) as exc:
                if request.sent_once or attempt == RETRIES:
                    raise EngineUnreachable(
                        f"the photocomic engine stopped while answering {op} ({exc}); its log "
                        f"is {log_path(self.data_dir)}. Try again."
                    ) from None
            self.start_engine()
        raise EngineUnreachable(f"the photocomic engine for {self.data_dir} could not be reached")

    def _call_here(self, op: str, request: BaseModel, result: type[T]) -> T:
        from photocomic.tools.owner.contract import DoorInfo
        from photocomic.tools.owner.engine import Engine

        with self._local_lock:
            if self._local is None:  # one engine, hence one open store, per door
                self._local = Engine(self.data_dir)
        door = DoorInfo.model_validate(self.envelope(request)["door"])
        answer = self._local.call(op, door, request.model_dump(mode="json"))
        return result.model_validate(answer.model_dump(mode="json"))

    def close(self) -> None:
        """Let go: an in-process engine closes its store; a lease on a shared one ends."""
        if self._local is not None:
            self._local.close()
            self._local = None
        elif self.lease > 0:
            self.lease = 0.0
            with contextlib.suppress(OSError, http.client.HTTPException):
                self._send(Hello.op, json.dumps(self.envelope(Hello())).encode(), 2.0)

    def _send(self, op: str, body: bytes, timeout: float, once: bool = False) -> tuple[int, bytes]:
        """One request, on this thread's kept-alive connection (a new one if it was closed).

        What is sent ``once`` (a drawing) always gets a new connection and is never sent
        twice: a kept-alive connection that fails cannot tell an engine that closed it while
        idle from one that died while drawing (and billing).
        """
        for fresh in (True,) if once else (False, True):
            connection = self._connection(timeout, fresh)
            try:
                connection.request(
                    "POST", f"/v1/{op}", body=body, headers={"Content-Type": "application/json"}
                )
                response = connection.getresponse()
                return response.status, response.read()
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
                connection.close()
                self._connections.current = None
                if fresh:
                    raise
            except BaseException:
                connection.close()
                self._connections.current = None
                raise
        raise AssertionError("unreachable")

    def _connection(self, timeout: float, fresh: bool) -> _UnixConnection:
        current: _UnixConnection | None = getattr(self._connections, "current", None)
        if current is None or fresh or current.path_now != socket_path(self.data_dir):
            if current is not None:
                current.close()
            current = _UnixConnection(socket_path(self.data_dir), timeout)
            self._connections.current = current
        current.timeout = timeout
        if current.sock is not None:
            current.sock.settimeout(timeout)
        return current

    # -- starting the engine -------------------------------------------------------------------

    def start_engine(self) -> None:
        """Start ``photocomic engine`` for this data folder (unless one is starting) and wait
        until it answers; EngineUnreachable with the reason from its log if it does not."""
        make_private(self.data_dir)  # judged (and 0700) before anything is created in it
        log = log_path(self.data_dir)
        if self.on_start is not None:
            self.on_start(f"starting the engine for {self.data_dir} (it opens the store)")
        deadline = time.monotonic() + START_TIMEOUT
        process = self._spawn(log)
        killed_once = False
        while time.monotonic() < deadline:
            if self._answers():
                return
            code = process.poll()
            if code is not None and code < 0 and not killed_once:  # killed by a signal: again
                killed_once = True
                process = self._spawn(log)
                continue
            if code is not None and code != 0:
                raise EngineUnreachable(
                    f"the photocomic engine for {self.data_dir} could not start (exit status "
                    f"{code}): {_last_line(log)}. Its log is {log}."
                )
            if code == 0:  # another engine held the lock; it may be on its way out: again
                time.sleep(0.2)
                process = self._spawn(log)
            time.sleep(0.05)
        raise EngineUnreachable(
            f"the photocomic engine for {self.data_dir} did not answer within "
            f"{START_TIMEOUT:.0f} s; its log is {log}: {_last_line(log)}"
        )

    def _spawn(self, log: Path) -> subprocess.Popen[bytes]:
        env = {k: v for k, v in os.environ.items() if k not in _SECRET_ENV}
        env["PHOTOCOMIC_DATA_DIR"] = str(self.data_dir)
        with open_own(log, "a") as log_file:
            process = subprocess.Popen(
                [sys.executable, "-m", "photocomic.server.cli", "engine",
                 "--data-dir", str(self.data_dir), "--idle", f"{self.settings.engine_idle:g}"],
                stdin=subprocess.DEVNULL, stdout=log_file, stderr=log_file,
                env=env, cwd=str(self.data_dir), start_new_session=True,
            )  # fmt: skip
        self._spawned.append(process)
        return process

    def _answers(self) -> bool:
        try:
            status, _ = self._send(Hello.op, json.dumps(self.envelope(Hello())).encode(), 5.0)
        except (OSError, http.client.HTTPException):
            return False
        return status == 200


def _decode(status: int, data: bytes, result: type[T], data_dir: Path) -> T:
    try:
        payload = json.loads(data)
    except ValueError:
        raise EngineUnreachable(
            f"the photocomic engine answered HTTP {status} with something that is not JSON; "
            f"its log is {log_path(data_dir)}"
        ) from None
    if status == 200:
        return result.model_validate(payload["result"])
    error = payload.get("error") or {}
    kind = getattr(errors, str(error.get("kind")), None)
    cls = kind if isinstance(kind, type) and issubclass(kind, PhotocomicError) else PhotocomicError
    raise cls(str(error.get("message") or f"the engine failed (HTTP {status})"))


def in_words(answer: BaseModel, kind: str) -> BaseModel:
    """An answer whose jobs' messages name remedies in the words of this door (errors do the
    same when they are shown): a job's message is written once, for every door."""
    door: Audience = "cli" if kind == "cli" else "mcp"
    jobs = [answer] if isinstance(answer, JobSnapshot) else getattr(answer, "jobs", None) or []
    listed = getattr(answer, "comics", None)
    records = list(listed) if isinstance(listed, list) else []  # a ComicList's records
    for job in jobs:
        if isinstance(job, JobSnapshot):
            job.message = for_door(job.message, door)
            job.error = for_door(job.error, door) if job.error else job.error
            records.append(job.record)
    for record in records:
        if isinstance(getattr(record, "notes", None), list):
            record.notes = [for_door(note, door) for note in record.notes]  # type: ignore[union-attr]
    return answer


def _last_line(log: Path) -> str:
    with contextlib.suppress(OSError):
        lines = [line.strip() for line in log.read_text(errors="replace").splitlines()]
        meaningful = [line for line in lines if line and not line.startswith("Traceback")]
        if meaningful:
            return meaningful[-1][:300]
    return "nothing in its log"


def job_error(job: Any) -> PhotocomicError:
    """The error a failed (or cancelled) job ended with, as its own class."""
    kind = getattr(errors, str(job.error_kind), None)
    cls = kind if isinstance(kind, type) and issubclass(kind, PhotocomicError) else PhotocomicError
    return cls(job.error or f"the job {job.job_id} ended {job.state}")
