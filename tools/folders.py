"""Photo folders on disk: walking them, the allowed roots and path safety, a file's identity.

A file is identified by its absolute path under the real path of the folder being indexed,
and counts as unchanged while its size and modification time stay the same.
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from photocomic.tools.errors import ConfigError, NotFound, PathRefused

IMAGE_EXTENSIONS = frozenset(
    {
        ".jpg",
        ".jpeg",
        ".jpe",
        ".png",
        ".webp",
        ".gif",
        ".bmp",
        ".tif",
        ".tiff",
        ".heic",
        ".heif",
        ".hif",
    }
)


def is_image_name(name: str) -> bool:
    return os.path.splitext(name)[1].lower() in IMAGE_EXTENSIONS


@dataclass(frozen=True)
class FileEntry:
    path: str
    size: int
    mtime: float


@dataclass(frozen=True)
class Problem:
    """A file that could not be indexed, and why, in words a person can act on. ``path`` is
    the real path (any bytes); show it with :func:`display_path`."""

    path: str
    error: str


@dataclass
class Scan:
    files: list[FileEntry]
    problems: list[Problem]


def display_path(path: str) -> str:
    """A path as UTF-8 text, whatever bytes the name holds (those that are not UTF-8 as \\xNN)."""
    return os.fsencode(path).decode("utf-8", "backslashreplace")


MAX_PATH_CHARS = 4096  # PATH_MAX on Linux; nothing longer can name a file


def check_text_path(raw: str) -> str:
    if not raw or not raw.strip():
        raise PathRefused("empty path")
    if "\x00" in raw:
        raise PathRefused("path contains a NUL byte")
    if len(raw) > MAX_PATH_CHARS:
        raise PathRefused(
            f"path is {len(raw):,} characters long; no file has a path over {MAX_PATH_CHARS:,}"
        )
    return raw


def short_path(text: str, keep: int = 240) -> str:
    """A path for a message: printable, and cut in the middle when very long."""
    shown = display_path(text)
    if len(shown) <= keep:
        return shown
    return shown[: keep // 2] + "…" + shown[-keep // 2 :]


def real_folder(raw: str | Path) -> Path:
    """The real path of an existing folder, or an error that names it."""
    text = check_text_path(str(raw))
    path = Path(text).expanduser()
    if not path.exists():
        raise NotFound(f"folder not found: {display_path(text)}")
    if not path.is_dir():
        raise NotFound(f"not a folder: {display_path(text)}")
    return path.resolve()


def is_within(path: Path, roots: Sequence[Path]) -> bool:
    return any(path == root or path.is_relative_to(root) for root in roots)


class Roots:
    """The folders the server may read. Everything it reads is resolved and checked here."""

    def __init__(self, roots: Sequence[Path]) -> None:
        self.configured = list(roots)
        self.real = [Path(os.path.realpath(r)) for r in roots]

    def require(self) -> list[Path]:
        if not self.real:
            raise ConfigError("no photo folders are allowed yet: [[roots]]")
        return self.real

    def resolve(self, raw: str, want: str = "any") -> Path:
        """Resolve a user-given path (relative ones against the first root) and check it.

        ``..``, absolute paths elsewhere and symlinks that lead out of the roots all end up
        outside after resolution and are refused.
        """
        roots = self.require()
        text = check_text_path(raw)
        candidate = Path(text).expanduser()
        if not candidate.is_absolute():
            candidate = roots[0] / candidate
        real = Path(os.path.realpath(candidate))
        if not is_within(real, roots):
            raise PathRefused(
                f"{short_path(text)} is outside the allowed photo folders "
                f"({', '.join(str(r) for r in self.configured)})"
            )
        try:  # a name over 255 bytes makes stat fail with ENAMETOOLONG, not "missing"
            st = os.stat(real)
        except OSError as exc:
            if exc.errno in (errno.ENOENT, errno.ENOTDIR):
                raise NotFound(f"no such file or folder: {short_path(text)}") from None
            raise NotFound(f"cannot use {short_path(text)}: {_stat_reason(exc, False)}") from None
        if want == "dir" and not stat.S_ISDIR(st.st_mode):
            raise NotFound(f"not a folder: {short_path(text)}")
        if want == "file" and not stat.S_ISREG(st.st_mode):
            raise NotFound(f"not a file: {short_path(text)}")
        return real


def scan_folder(
    folder: Path,
    recursive: bool = True,
    include_hidden: bool = False,
    roots: Sequence[Path] | None = None,
) -> Scan:
    """Every image file under ``folder`` with its size and mtime; nothing is decoded.

    Symlinked folders are followed once each (loops cannot hang the walk); with ``roots``,
    links that lead outside them are reported and skipped.
    """
    files: list[FileEntry] = []
    problems: list[Problem] = []
    seen_dirs: set[tuple[int, int]] = set()
    for path, is_link in _walk(folder, recursive, include_hidden, seen_dirs, problems, roots):
        if not is_image_name(path):
            continue
        try:
            st = os.stat(path)
        except OSError as exc:
            problems.append(Problem(path, _stat_reason(exc, is_link)))
            continue
        if not stat.S_ISREG(st.st_mode):  # a FIFO named x.jpg would block a reader forever
            problems.append(Problem(path, "not a regular file (a pipe, socket or device)"))
            continue
        if roots is not None and is_link and not is_within(Path(os.path.realpath(path)), roots):
            problems.append(Problem(path, "symbolic link to a file outside the allowed folders"))
            continue
        files.append(FileEntry(path, st.st_size, st.st_mtime))
    files.sort(key=lambda f: f.path)
    return Scan(files, problems)


def _walk(
    folder: Path,
    recursive: bool,
    include_hidden: bool,
    seen: set[tuple[int, int]],
    problems: list[Problem],
    roots: Sequence[Path] | None = None,
) -> Iterator[tuple[str, bool]]:
    stack = [str(folder)]
    while stack:
        current = stack.pop()
        try:
            st = os.stat(current)
            key = (st.st_dev, st.st_ino)
            if key in seen:
                continue
            seen.add(key)
            entries = list(os.scandir(current))
        except OSError as exc:
            problems.append(Problem(current, f"cannot read folder: {exc.strerror}"))
            continue
        for entry in entries:
            if not include_hidden and entry.name.startswith("."):
                continue
            try:
                is_link = entry.is_symlink()
                is_dir = entry.is_dir(follow_symlinks=True)
            except OSError as exc:
                problems.append(Problem(entry.path, _stat_reason(exc, True)))
                continue
            if is_dir:
                if not recursive:
                    continue
                if (
                    roots is not None
                    and is_link
                    and not is_within(Path(os.path.realpath(entry.path)), roots)
                ):
                    # Everything under it lies outside too: never read, reported once.
                    problems.append(
                        Problem(
                            entry.path,
                            "symbolic link to a folder outside the allowed folders",
                        )
                    )
                    continue
                stack.append(entry.path)
            else:
                yield entry.path, is_link


def _stat_reason(exc: OSError, is_link: bool) -> str:
    if exc.errno == errno.ELOOP:
        return "symbolic link loop"
    if exc.errno == errno.ENOENT:
        return "broken symbolic link" if is_link else "file vanished while scanning"
    if exc.errno == errno.EACCES:
        return "permission denied"
    if exc.errno == errno.ENAMETOOLONG:
        return "file name too long"
    return f"cannot read file: {exc.strerror}"


def open_own(path: Path, mode: str = "a") -> IO[str]:
    """A file of photocomic's own (a lock, a log), opened for writing without following a
    link and created 0600 from the start; refused when it is a link, not a plain file, or
    someone else's. Why: in a folder others can write, a planted ``x.lock -> ~/.bashrc``
    would otherwise have photocomic truncate and write the victim's file."""
    flags = os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC | (os.O_RDWR if "+" in mode else os.O_WRONLY)
    flags |= os.O_APPEND if mode.startswith("a") else 0
    try:
        fd = os.open(path, flags, 0o600)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise ConfigError(
                f"{path} is a link; photocomic writes its own files only, never through a "
                "link: remove the link (and check who made it)"
            ) from None
        raise ConfigError(f"cannot open {path}: {exc.strerror}") from None
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode) or info.st_uid != os.getuid():
        os.close(fd)
        whose = (
            "is not a plain file" if not stat.S_ISREG(info.st_mode) else "belongs to another user"
        )
        raise ConfigError(f"{path} {whose}; photocomic will not write to it: remove it")
    return os.fdopen(fd, mode, encoding="utf-8")


def check_store_folder(folder: Path) -> None:
    """A Milvus Lite store lives in a folder only its owner can write: in a shared folder
    (a team share, /tmp) another user could swap its lock or its socket for a link."""
    info = os.stat(folder)
    if info.st_uid != os.getuid() or info.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        raise ConfigError(
            f"the store's folder {folder} can be written by other users, so they could plant "
            "links in place of its lock and socket; keep the store (--db, PHOTOCOMIC_DB) in a "
            "folder only you can write, such as the data folder (the default)"
        )


def make_private(data_dir: Path) -> None:
    """Owner-only from here on: new files of this process are 0600 and folders 0700 (umask
    077), and the data folder itself is made 0700 even when someone else's tool created it.
    ConfigError when another user owns it."""
    os.umask(0o077)
    data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    info = os.stat(data_dir)
    if info.st_uid != os.getuid():
        raise ConfigError(
            f"the data folder {data_dir} belongs to another user (uid {info.st_uid}); use a "
            "folder of your own (PHOTOCOMIC_DATA_DIR or --data-dir)"
        )
    if stat.S_IMODE(info.st_mode) != 0o700:
        os.chmod(data_dir, 0o700)
