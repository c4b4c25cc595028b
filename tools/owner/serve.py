"""``photocomic engine``: the process that owns one data folder, serving doors on a Unix socket.

One per data folder, enforced by a lock file beside the socket: a second engine started at the
same moment (two doors racing) sees the lock taken and leaves quietly, and a socket left by a
killed engine is replaced by the next one. The socket is created owner-only inside the data
folder, and each connection's peer must be the same user. The engine leaves by itself once no
door has called or held a lease, and no job has run, for ``--idle`` seconds.
"""

from __future__ import annotations

import contextlib
import faulthandler
import json
import logging
import os
import signal
import socketserver
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

from photocomic.tools.errors import PhotocomicError
from photocomic.tools.folders import make_private, open_own
from photocomic.tools.logs import redact_handlers
from photocomic.tools.owner.client import lock_path, log_path, socket_path
from photocomic.tools.owner.contract import Envelope
from photocomic.tools.owner.engine import Engine
from photocomic.tools.sockets import check_private, in_private_dir, peer_uid, private_dir
from pydantic import ValidationError

log = logging.getLogger("photocomic.engine")
MAX_BODY = 64 * 1024 * 1024  # an upload of PHOTOCOMIC_MAX_UPLOAD_BYTES, base64, and some
GONE_CHECK = 10.0  # seconds between checks that the data folder still exists


class _Handler(BaseHTTPRequestHandler):
    engine: Engine
    protocol_version = "HTTP/1.1"  # a door keeps its connection between calls
    timeout = 300  # an idle connection is closed after five minutes; the door opens a new one

    def log_message(self, format: str, *args: Any) -> None:  # requests are not logged
        return

    def do_POST(self) -> None:
        op = self.path.removeprefix("/v1/").strip("/")
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY:
            self._send(413, {"error": {"kind": "InvalidInput", "message": "request too large"}})
            return
        try:
            envelope = Envelope.model_validate_json(self.rfile.read(length))
            result = self.engine.call(op, envelope.door, envelope.request)
        except PhotocomicError as exc:
            self._send(400, {"error": {"kind": type(exc).__name__, "message": exc.raw}})
            return
        except ValidationError as exc:
            message = f"malformed request: {exc.errors()[0].get('msg')}"
            self._send(400, {"error": {"kind": "InvalidInput", "message": message}})
            return
        except Exception as exc:
            log.exception("%s failed", op)
            message = (
                f"{op} failed with an internal error ({type(exc).__name__}) in the photocomic "
                f"engine; the details are in {log_path(self.engine.data_dir)}. The engine is "
                "still running: try again, or report the problem if it keeps happening."
            )
            self._send(500, {"error": {"kind": "PhotocomicError", "message": message}})
            return
        self._send(200, {"result": result.model_dump(mode="json")})

    def _send(self, status: int, payload: dict[str, Any]) -> None:
        body = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class _Server(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True
    request_queue_size = 256  # dozens of doors' calls may arrive at the same moment

    def verify_request(self, request: Any, client_address: Any) -> bool:
        """Only this user's processes may talk to the engine (the socket's mode says so too)."""
        try:
            uid = peer_uid(request)
        except OSError:
            return False
        return uid is None or uid == os.getuid()

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A door that stopped waiting (a start-up probe's time-out, a closed client) is one
        line in the log, not a traceback that reads like the engine's own failure."""
        error = sys.exc_info()[1]
        if isinstance(error, (BrokenPipeError, ConnectionResetError)):
            log.info("a door left before its answer was sent (%s)", type(error).__name__)
            return
        super().handle_error(request, client_address)


def _take_lock(data_dir: Path) -> Any | None:
    """The engine lock of ``data_dir``, or None when another engine holds it."""
    import fcntl

    handle = open_own(lock_path(data_dir), "a+")  # held for life
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        handle.close()
        return None
    handle.seek(0)
    handle.truncate()
    handle.write(f"pid {os.getpid()}\n")
    handle.flush()
    return handle


def _bind(path: Path) -> _Server:
    """Listen on ``path``, owner-only; a socket file left by a dead engine is removed first.
    ``path`` lies in the data folder or in the private socket folder, both checked."""
    if in_private_dir(path):
        private_dir()
    else:
        check_private(path.parent)
    with contextlib.suppress(FileNotFoundError):
        path.unlink()  # we hold the engine lock: any socket here is stale
    old_mask = os.umask(0o177)
    try:
        return _Server(str(path), _Handler)
    finally:
        os.umask(old_mask)


def _still_there(data_dir: Path, inode: int) -> bool:
    """Whether the data folder this engine serves is still the one it started in."""
    try:
        return os.stat(data_dir).st_ino == inode
    except OSError:
        return False


def _setup_logging(data_dir: Path) -> None:
    log_file = log_path(data_dir)
    with contextlib.suppress(OSError):
        if log_file.stat().st_size > 2 * 1024 * 1024:
            os.replace(log_file, log_file.with_suffix(".log.1"))
    logging.basicConfig(
        level=logging.INFO,
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        force=True,
    )
    for noisy in ("pymilvus", "milvus_lite", "timm", "httpx", "grpc", "openai", "httpcore"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    redact_handlers(logging.getLogger())


def run_engine(data_dir: Path, idle: float) -> int:
    """Serve ``data_dir`` until idle for ``idle`` seconds or told to stop. 0 when another
    engine already serves it (the caller's request goes there)."""
    data_dir = Path(os.path.realpath(data_dir))
    make_private(data_dir)
    lock = _take_lock(data_dir)
    if lock is None:
        print(f"photocomic: an engine already serves {data_dir}", file=sys.stderr)
        return 0
    _setup_logging(data_dir)
    engine = Engine(data_dir)
    _Handler.engine = engine
    server = _bind(socket_path(data_dir))
    stop = threading.Event()

    home = os.stat(data_dir).st_ino

    def watch() -> None:
        checked = time.monotonic()
        while not stop.wait(0.5):
            if engine.stop_requested.is_set():
                break
            if engine.idle_seconds() >= idle:
                log.info("idle for %.0f s: leaving", idle)
                break
            if time.monotonic() - checked >= GONE_CHECK:
                checked = time.monotonic()
                if not _still_there(data_dir, home):
                    log.info("%s was removed or replaced: leaving", data_dir)
                    break
        server.shutdown()

    def on_signal(number: int, _frame: Any) -> None:
        log.info("signal %d: leaving", number)
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    # `kill -USR1 <pid>`: every thread's stack into the log, for an engine that seems stuck
    faulthandler.register(signal.SIGUSR1, all_threads=True)
    log.info("engine %d serving %s on %s", os.getpid(), data_dir, socket_path(data_dir))
    engine.resume()
    threading.Thread(target=watch, name="idle-watch", daemon=True).start()
    try:
        server.serve_forever(poll_interval=0.2)
    finally:
        stop.set()
        started = time.monotonic()
        with contextlib.suppress(FileNotFoundError):
            socket_path(data_dir).unlink()
        server.server_close()
        engine.close()
        log.info("engine %d stopped (%.1f s to close)", os.getpid(), time.monotonic() - started)
        lock.close()
    return 0
