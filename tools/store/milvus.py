"""Connecting to Milvus: a server by URI and token, or Milvus Lite in our own process, safely.

Milvus Lite lets one process hold its files. Its own lock says only "locked"; ours says who
holds it, and pymilvus's default way of serving it (an open loopback TCP port) is replaced by an
owner-only Unix socket. One :class:`Connection` per URI serves every
collection of that store.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import sys
from pathlib import Path
from typing import Any

from photocomic.tools.config import is_remote_uri
from photocomic.tools.errors import PhotocomicError, StoreBusy, StoreUnavailable
from photocomic.tools.folders import check_store_folder, open_own
from photocomic.tools.sockets import socket_for


class StoreLock:
    """One process at a time on a Milvus Lite file, and a message naming the holder."""

    def __init__(self, db_path: str) -> None:
        self.path = Path(db_path + ".lock")
        self._handle: Any = None

    def acquire(self) -> None:
        try:
            import fcntl
        except ImportError:  # Windows: Milvus Lite does not run there either
            return
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        check_store_folder(self.path.parent)
        handle = open_own(self.path, "a+")  # held until release
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.seek(0)
            holder = handle.read().strip() or "unknown"
            handle.close()
            raise StoreBusy(
                f"the photo store {self.path.with_suffix('')} is in use by another process "
                f"({holder}). Stop that process, or point --db / PHOTOCOMIC_DB at another store."
            ) from None
        handle.seek(0)
        handle.truncate()
        command = " ".join(Path(a).name if i == 0 else a for i, a in enumerate(sys.argv[:3]))
        handle.write(f"pid {os.getpid()}: {command}\n")
        handle.flush()
        self._handle = handle

    def release(self) -> None:
        if self._handle is not None:
            self._handle.close()
            self._handle = None


def lite_lock_holder(db_path: str) -> str | None:
    """Who holds Milvus Lite's own lock on ``db_path`` (any process, photocomic or not).

    None when the lock is free. On Linux the holder's pid and command come from /proc/locks.
    """
    try:
        import fcntl
    except ImportError:
        return None
    lock = Path(db_path) / "LOCK"
    try:
        with open(lock, "rb") as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                inode = os.fstat(handle.fileno()).st_ino
            else:
                fcntl.flock(handle, fcntl.LOCK_UN)
                return None
    except OSError:
        return None
    return _lock_owner(inode) or "a process that holds its lock file"


def _lock_owner(inode: int) -> str | None:
    try:
        with open("/proc/locks", encoding="ascii", errors="replace") as handle:
            lines = handle.read().splitlines()
    except OSError:
        return None
    for line in lines:
        parts = line.split()
        # "1: FLOCK  ADVISORY  WRITE 1234 fd:01:5678 0 EOF" (a "->" marks waiters)
        if len(parts) < 6 or parts[1] != "FLOCK" or "->" in parts:
            continue
        if parts[5].rsplit(":", 1)[-1] == str(inode):
            pid = parts[4]
            try:
                raw = Path(f"/proc/{pid}/cmdline").read_bytes()
                words = " ".join(raw.decode(errors="replace").split("\0")[:3]).split()
                command = " ".join(words)[:160]
            except OSError:
                command = ""
            return f"pid {pid}" + (f": {command}" if command else "")
    return None


class LocalMilvus:
    """Milvus Lite served to pymilvus over a Unix socket, owner-only.

    Given a ``.db`` path, pymilvus starts Milvus Lite's gRPC server on a loopback TCP port,
    without authentication: while photocomic runs, any local user could connect to it and read
    or delete the photo index. A Unix socket is a file whose permissions apply (owner only):
    beside the store, or for a long path in this user's private socket folder. Never TCP: a
    Milvus Lite without the pieces to serve a socket is refused.
    """

    def __init__(self, server: Any, db: Any, socket_path: str) -> None:
        self.server = server
        self.db = db
        self.socket_path = socket_path
        self.client_uri = "unix:" + socket_path
        self._stopped = False
        import atexit

        atexit.register(self.stop)  # like pymilvus's server manager: close Milvus at exit

    @classmethod
    def start(cls, db_path: str) -> LocalMilvus:
        real = Path(os.path.realpath(db_path))
        socket_path = str(socket_for(real, real.name + ".sock"))
        try:
            from milvus_lite.adapter.grpc.server import _build_server
            from milvus_lite.db import MilvusLite
        except ImportError as exc:
            raise StoreUnavailable(
                f"this Milvus Lite cannot serve {db_path} on a private socket ({exc}); "
                "photocomic does not open it on a TCP port that other users could reach. "
                "Install the milvus-lite version photocomic asks for (pip install -e .)."
            ) from None
        db = MilvusLite(db_path)  # takes Milvus Lite's own lock (DataDirLockedError if held)
        try:
            # Both locks are ours: a socket file left by a killed run is stale.
            with contextlib.suppress(FileNotFoundError):
                os.unlink(socket_path)
            server = _build_server(db, 10)
            old_mask = os.umask(0o177)  # the socket is created owner-only (rw-------)
            try:
                bound = server.add_insecure_port("unix:" + socket_path)
            finally:
                os.umask(old_mask)
            if not bound:
                raise OSError(f"cannot listen on {socket_path}")
            server.start()
        except BaseException:
            db.close()
            raise
        return cls(server, db, socket_path)

    def stop(self) -> None:
        if self._stopped:
            return
        self._stopped = True
        with contextlib.suppress(Exception):
            self.server.stop(0.2).wait(1)
        with contextlib.suppress(Exception):
            self.db.close()
        with contextlib.suppress(OSError):
            os.unlink(self.socket_path)


class Connection:
    """A pymilvus client for one store URI, with the lock and server a local store needs."""

    def __init__(self, uri: str, local: bool, token: str = "") -> None:
        self.uri = uri
        self.local = local
        self._lock: StoreLock | None = None
        self._lite: LocalMilvus | None = None
        self._direct_writes = False
        self.client: Any = None
        if local:
            Path(uri).parent.mkdir(parents=True, exist_ok=True)
            self._lock = StoreLock(uri)
            self._lock.acquire()
        try:
            self.client = self._open(token)
        except BaseException:
            self.close()
            raise

    def _open(self, token: str) -> Any:
        from pymilvus import MilvusClient

        try:
            if self.local:
                from photocomic.tools.store import lite_writes
                from photocomic.tools.store.lite_search import install

                install()  # Milvus Lite's search without its passes over every row
                self._direct_writes = lite_writes.install()  # and writes, flushes likewise
                self._lite = LocalMilvus.start(self.uri)
                return MilvusClient(uri=self._lite.client_uri, token=token)
            return MilvusClient(uri=self.uri, token=token, timeout=10)
        except PhotocomicError:
            raise
        except Exception as exc:
            holder = lite_lock_holder(self.uri) if self.local else None
            if holder is not None:
                raise StoreBusy(
                    f"the photo store {self.uri} is in use by another process ({holder}). "
                    "Stop that process or point --db / PHOTOCOMIC_DB at another store."
                ) from None
            raise unavailable(self.uri, exc, "open") from None

    def upsert(self, collection: str, entities: list[dict[str, Any]]) -> None:
        """Rows into ``collection``: straight into a local store's Milvus Lite where that
        was checked (``lite_writes``), else through pymilvus."""
        from photocomic.tools.store import lite_writes

        if self._lite is not None and self._direct_writes:
            lite_writes.upsert(self._lite.db, collection, entities)
        else:
            self.client.upsert(collection, entities)

    def close(self) -> None:
        client, self.client = self.client, None
        if client is not None:
            with contextlib.suppress(Exception):
                client.close()
        if self._lite is not None:
            self._lite.stop()
            self._lite = None
        if self._lock is not None:
            self._lock.release()
            self._lock = None


def unavailable(uri: str, exc: Exception, doing: str) -> PhotocomicError:
    """A Milvus failure as one line: which store, what failed, what to do."""
    text = " ".join(str(exc).split())[:300]
    lowered = text.lower()
    if getattr(exc, "errno", None) == errno.ENOSPC or "no space left" in lowered:
        where = uri if is_remote_uri(uri) else str(Path(uri).parent)
        return StoreUnavailable(
            f"the disk holding {where} is full, so the photo store could not {doing}: free "
            "some space and run the command again; photos indexed so far are kept."
        )
    denied = re.search(r"Privilege(\w+): permission deny to ([\w.@-]+)", text)
    if denied:
        action, user = denied.group(1), denied.group(2)
        return StoreUnavailable(
            f"the Milvus server at {uri} does not let the user {user!r} do {action} on this "
            f"library ({denied.group(0)}), so it could not {doing}: that user's role must grant "
            f"{action} on the collection, or use the token of a user who may "
            "(PHOTOCOMIC_MILVUS_TOKEN). Nothing was changed."
        )
    refused = any(w in lowered for w in ("auth", "password", "credential", "token", "permission"))
    if not refused and doing == "open" and _answers(uri):
        refused = True  # the port answers but pymilvus cannot connect: the token, mostly
    if refused:
        return StoreUnavailable(
            f"the Milvus server at {uri} refused the connection ({text}): check the token in "
            "PHOTOCOMIC_MILVUS_TOKEN (user:password, or a Zilliz Cloud API key)."
        )
    what = (
        f"cannot open the photo store at {uri}"
        if doing == "open"
        else (f"lost the photo store at {uri} while trying to {doing}")
    )
    return StoreUnavailable(
        f"{what}: {text}. Check that the Milvus server is running and reachable (--db / "
        "PHOTOCOMIC_DB); photos indexed so far are kept, so run the command again once it is "
        "back."
    )


def _answers(uri: str) -> bool:
    """Whether anything listens at a server URI's host and port."""
    import socket
    from urllib.parse import urlparse

    parsed = urlparse(uri)
    if not parsed.hostname:
        return False
    port = parsed.port or (443 if parsed.scheme == "https" else 19530)
    try:
        with socket.create_connection((parsed.hostname, port), timeout=2):
            return True
    except OSError:
        return False
