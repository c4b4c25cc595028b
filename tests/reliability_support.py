"""Helpers for the reliability tests: real child processes that can be watched and killed, and
a look inside a Milvus Lite store after the fact.

Nothing here replaces a part of photocomic: the children run the real ``photocomic`` command,
the store is the real Milvus Lite folder, the locks are the real ``flock`` files.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import pty
import re
import signal
import struct
import subprocess
import sys
import termios
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from photocomic.tools.config import Settings
from photocomic.tools.store.photo_store import PhotoStore

PROGRESS = re.compile(rb"(\d+)/(\d+) \[")


def cli_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "photocomic.server.cli", *args]


class WatchedRun:
    """``photocomic ARGS`` in a child process whose stderr is a pseudo-terminal.

    With a terminal the progress bar is drawn, so the test can watch how far the run got
    (``done``/``total``) and kill it at a chosen point, as a user pressing the power button
    would. stdout (the ``--json`` summary) is a pipe.
    """

    def __init__(self, args: list[str], env: dict[str, str]) -> None:
        master, slave = pty.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 160, 0, 0))
        self.started = time.monotonic()
        self.proc = subprocess.Popen(
            cli_command(*args),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=slave,
            env={**env, "TQDM_MININTERVAL": "0.05"},
            start_new_session=True,
        )
        os.close(slave)
        self._master = master
        self.stderr = b""
        self.stdout = b""
        self.progress: tuple[int, int] | None = None
        self._readers = [
            threading.Thread(target=self._read_stderr, daemon=True),
            threading.Thread(target=self._read_stdout, daemon=True),
        ]
        for reader in self._readers:
            reader.start()

    @property
    def pid(self) -> int:
        return self.proc.pid

    def _read_stderr(self) -> None:
        while True:
            try:
                chunk = os.read(self._master, 65536)
            except OSError:  # EIO: the child closed its end
                break
            if not chunk:
                break
            self.stderr += chunk
            found = PROGRESS.findall(chunk)
            if found:
                done, total = found[-1]
                self.progress = (int(done), int(total))
        with contextlib.suppress(OSError):
            os.close(self._master)

    def _read_stdout(self) -> None:
        assert self.proc.stdout is not None
        self.stdout = self.proc.stdout.read()

    def alive(self) -> bool:
        return self.proc.poll() is None

    def wait_for(self, condition: Callable[[], bool], timeout: float) -> bool:
        """True once ``condition`` holds while the child still runs; False if it ended first."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.alive():
                return False
            if condition():
                return True
            time.sleep(0.01)
        raise TimeoutError(f"condition not reached in {timeout} s; stderr: {self.text()[-2000:]}")

    def kill9(self) -> bool:
        """SIGKILL; True when the child was still running (the kill really interrupted it)."""
        was_alive = self.alive()
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=30)
        self.join()
        return was_alive and self.proc.returncode == -signal.SIGKILL

    def finish(self, timeout: float = 180) -> int:
        self.proc.wait(timeout=timeout)
        self.join()
        return self.proc.returncode

    def join(self) -> None:
        for reader in self._readers:
            reader.join(timeout=10)

    def text(self) -> str:
        return self.stderr.decode("utf-8", "replace")

    def summary(self) -> dict[str, object]:
        return json.loads(self.stdout)


def lock_holder(db_lock: Path) -> str:
    try:
        return db_lock.read_text(encoding="utf-8")
    except OSError:
        return ""


def flock_is_free(path: Path) -> bool:
    """Whether nobody holds an exclusive flock on ``path`` (checked by taking and dropping it)."""
    if not path.exists():
        return True
    with open(path, "a+b") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            return False
        fcntl.flock(handle, fcntl.LOCK_UN)
        return True


@dataclass
class StoreContents:
    count: int
    paths: list[str]
    ids: list[int]


def engine_pid(data_dir: Path) -> int | None:
    """The pid of the engine that owns ``data_dir``, from its lock file, while it holds it."""
    lock = data_dir / "engine.lock"
    if flock_is_free(lock):
        return None
    text = lock_holder(lock)
    return int(text.split()[1]) if text.startswith("pid ") else None


@contextlib.contextmanager
def open_store(data_dir: Path) -> Iterator[PhotoStore]:
    """The real store opened in this (test) process (its engine asked to leave first) and
    fully released afterwards."""
    from conftest import stop_engine

    stop_engine(data_dir)
    store = PhotoStore(Settings(data_dir=data_dir))
    try:
        yield store
    finally:
        store.close()


def store_contents(data_dir: Path) -> StoreContents:
    with open_store(data_dir) as store:
        if not store.exists():
            return StoreContents(0, [], [])
        count = store.count()
        paths: list[str] = []
        ids: list[int] = []
        for row in store.iter_rows():
            paths.append(row.path)
            ids.append(row.photo_id)
        return StoreContents(count, paths, ids)


def run_json(
    *args: str, env: dict[str, str] | None = None, timeout: float = 180
) -> tuple[int, object, str]:
    """``photocomic ARGS --json``: exit status, the parsed JSON (or None) and stderr."""
    done = subprocess.run(
        cli_command(*args, "--json"),
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
        stdin=subprocess.DEVNULL,
    )
    try:
        parsed = json.loads(done.stdout) if done.stdout.strip() else None
    except json.JSONDecodeError:
        parsed = None
    return done.returncode, parsed, done.stderr


# -- what a server touches: reads (inotify) and writes (a snapshot of the tree) ----------------

IN_ACCESS = 0x001
IN_OPEN = 0x020
IN_ISDIR = 0x40000000
_EVENT = struct.Struct("iIII")


class ReadWatch:
    """Every open or read of a file (or listing of a folder) inside ``folders``, by any
    process, seen through Linux inotify. ``available`` is False where inotify is missing."""

    def __init__(self, folders: list[Path]) -> None:
        self.fd = -1
        self._names: dict[int, Path] = {}
        try:
            import ctypes

            libc = ctypes.CDLL(None, use_errno=True)
            fd = libc.inotify_init1(os.O_NONBLOCK | os.O_CLOEXEC)
        except (OSError, AttributeError):
            return
        if fd < 0:
            return
        self.fd = fd
        for folder in folders:
            wd = libc.inotify_add_watch(fd, os.fsencode(folder), IN_OPEN | IN_ACCESS)
            if wd < 0:
                raise OSError(ctypes.get_errno(), f"inotify_add_watch {folder}")
            self._names[wd] = folder

    @property
    def available(self) -> bool:
        return self.fd >= 0

    def events(self) -> list[str]:
        """What was opened or read since the last call, as 'OPEN path' / 'ACCESS path'."""
        found: list[str] = []
        if self.fd < 0:
            return found
        while True:
            try:
                data = os.read(self.fd, 65536)
            except BlockingIOError:
                return found
            offset = 0
            while offset < len(data):
                wd, mask, _, size = _EVENT.unpack_from(data, offset)
                name = data[offset + _EVENT.size : offset + _EVENT.size + size].rstrip(b"\0")
                offset += _EVENT.size + size
                kind = "OPEN" if mask & IN_OPEN else "ACCESS"
                where = self._names.get(wd, Path("?")) / os.fsdecode(name)
                found.append(f"{kind} {where}{'/' if mask & IN_ISDIR else ''}")

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


def tree_snapshot(base: Path, skip: tuple[Path, ...] = ()) -> dict[str, tuple[str, int, int]]:
    """Every entry under ``base`` (links not followed) with its kind, size and mtime."""
    entries: dict[str, tuple[str, int, int]] = {}
    for folder, dirs, files in os.walk(base):
        here = Path(folder)
        dirs[:] = [d for d in dirs if here / d not in skip]
        for name in [*dirs, *files]:
            path = here / name
            st = path.lstat()
            kind = "link" if path.is_symlink() else "dir" if path.is_dir() else "file"
            size = 0 if kind == "dir" else st.st_size
            entries[str(path.relative_to(base))] = (kind, size, st.st_mtime_ns)
    return entries


def files_containing(folder: Path, needle: bytes) -> list[str]:
    """Files under ``folder`` whose bytes contain ``needle`` (for secrets)."""
    found = []
    for path in folder.rglob("*"):
        if path.is_file() and not path.is_symlink():
            with contextlib.suppress(OSError):
                if needle in path.read_bytes():
                    found.append(str(path))
    return found


def server_pid(marker: str) -> int:
    """The pid of this test process's child whose command line contains ``marker``."""
    import psutil

    for child in psutil.Process().children(recursive=True):
        with contextlib.suppress(psutil.Error):
            if marker in " ".join(child.cmdline()):
                return child.pid
    raise LookupError(f"no child process running {marker!r}")
