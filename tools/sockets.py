"""Where photocomic's Unix sockets live, and who may be on the other end: one policy for the
engine's socket and Milvus Lite's.

A socket path must fit ``sun_path`` (104 bytes on macOS, 108 on Linux). A socket that fits
goes beside what it serves, in the owner-only data folder. One that does not goes in
``/tmp/photocomic-<uid>``: a fixed place (never ``$TMPDIR``, which the engine points at its
own scratch folder, nor ``$XDG_RUNTIME_DIR``, which one door may have and another not), so
every door and the engine compute the same path. That folder's name is predictable, so it is
used only when it is a real folder (not a link), owned by this user, with mode 0700; anything
else is refused, never repaired. A connecting door also checks that the listener is this user
(``SO_PEERCRED``) before it sends a byte: a folder check alone leaves a window.
"""

from __future__ import annotations

import hashlib
import os
import socket
import stat
import struct
from pathlib import Path

from photocomic.tools.errors import ConfigError

MAX_SOCKET_PATH = 100  # sun_path holds 104 (macOS) or 108 (Linux) bytes with the NUL
SHARED_TEMP = Path("/tmp")


def private_dir() -> Path:
    """This user's folder for short socket paths, created 0700 if missing; ConfigError when
    it exists but another user could have made or could use it."""
    folder = SHARED_TEMP / f"photocomic-{os.getuid()}"
    try:
        os.mkdir(folder, 0o700)
    except FileExistsError:
        pass
    except OSError as exc:
        raise ConfigError(f"cannot create {folder} for photocomic's sockets: {exc}") from None
    check_private(folder)
    return folder


def check_private(folder: Path) -> None:
    """ConfigError unless ``folder`` is a real folder of this user's that nobody else can use
    (checked without following a link)."""
    try:
        info = os.lstat(folder)
    except OSError as exc:
        raise ConfigError(f"cannot check {folder}: {exc}") from None
    problem = None
    if stat.S_ISLNK(info.st_mode) or not stat.S_ISDIR(info.st_mode):
        problem = "is not a plain folder"
    elif info.st_uid != os.getuid():
        problem = f"belongs to another user (uid {info.st_uid})"
    elif info.st_mode & 0o077:
        problem = f"can be used by other users (mode {stat.S_IMODE(info.st_mode):o})"
    if problem:
        raise ConfigError(
            f"{folder} {problem}, so photocomic will not put its sockets there. Remove it "
            "(another user may have made it to listen in), or use a data folder with a "
            f"shorter path (PHOTOCOMIC_DATA_DIR), whose sockets stay inside it."
        )


def socket_for(real_path: Path, name: str) -> Path:
    """The socket serving ``real_path``: ``<real_path's folder>/<name>`` when that fits, else a
    name derived from ``real_path`` in :func:`private_dir`."""
    beside = real_path.parent / name
    if len(os.fsencode(beside)) <= MAX_SOCKET_PATH:
        return beside
    digest = hashlib.sha256(os.fsencode(real_path)).hexdigest()[:24]
    return private_dir() / f"{digest}-{name}"


def in_private_dir(path: Path) -> bool:
    return path.parent == SHARED_TEMP / f"photocomic-{os.getuid()}"


def peer_uid(sock: socket.socket) -> int | None:
    """The user id of the process at the other end of a Unix socket (None where the system
    cannot say)."""
    option = getattr(socket, "SO_PEERCRED", None)
    if option is None:
        return None
    creds = sock.getsockopt(socket.SOL_SOCKET, option, struct.calcsize("3i"))
    return int(struct.unpack("3i", creds)[1])


def check_peer(sock: socket.socket, path: str) -> None:
    """ConfigError unless the listener at ``path`` runs as this user."""
    uid = peer_uid(sock)
    if uid is not None and uid != os.getuid():
        raise ConfigError(
            f"the socket {path} is held by another user (uid {uid}); nothing was sent to it. "
            "Remove it, or use a data folder with a shorter path (PHOTOCOMIC_DATA_DIR)."
        )
