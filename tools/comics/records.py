"""Where comics are kept: ``<id>.png`` and ``<id>.json`` in the comics folder.

The PNG is written first and the JSON record last, each atomically, so the record is the commit
point: a crash leaves at most an orphan image that :meth:`ComicShelf.list` does not show. Any
number of processes (doors, engines after a restart) see the same comics.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import secrets
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, TypeVar

from photocomic.tools.comics.contract import ComicRecord
from photocomic.tools.errors import NotFound, PhotocomicError, unknown_comic
from pydantic import ValidationError

log = logging.getLogger(__name__)
COMIC_ID = re.compile(r"^c[0-9a-f]{10}$")


class ComicShelf:
    """The comics of one data folder."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def image_path(self, comic_id: str) -> Path:
        return self.folder / f"{comic_id}.png"

    def list(self) -> list[ComicRecord]:
        """Every saved comic whose image is present, newest first."""
        if not self.folder.is_dir():
            return []
        records = []
        for path in self.folder.glob("c*.json"):
            if not COMIC_ID.match(path.stem):
                continue
            try:
                records.append(self.load(path.stem))
            except PhotocomicError as exc:
                log.warning("skipping comic %s: %s", path.stem, exc)
        records.sort(key=lambda r: (r.created_at, r.comic_id), reverse=True)
        return records

    def get(self, comic_id: str) -> ComicRecord:
        """The record of one comic; NotFound if there is no such comic or its image is gone."""
        comic_id = comic_id.strip()
        if not COMIC_ID.match(comic_id):
            raise NotFound(
                f"no comic with id {comic_id[:40]!r}: comic ids look like 'c1a2b3c4d5e' "
                "([[list_comics]])"
            )
        return self.load(comic_id)

    def write(self, record: ComicRecord, png: bytes) -> None:
        """Image first, record last, both atomic; on any failure neither file remains."""
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise PhotocomicError(
                f"cannot create the comics folder {self.folder}: {exc.strerror or exc}"
            ) from None
        image = self.image_path(record.comic_id)
        try:
            atomic_write(image, png)
            try:
                body = record.model_dump_json(indent=2).encode()
                atomic_write(self.folder / f"{record.comic_id}.json", body)
            except BaseException:
                image.unlink(missing_ok=True)
                raise
        except OSError as exc:
            raise PhotocomicError(
                f"could not save the comic in {self.folder}: {exc.strerror or exc}; nothing "
                "was kept"
            ) from None

    def new_id(self) -> str:
        while True:
            comic_id = "c" + secrets.token_hex(5)
            if (
                not (self.folder / f"{comic_id}.json").exists()
                and not (self.folder / f"{comic_id}.png").exists()
            ):
                return comic_id

    def load(self, comic_id: str) -> ComicRecord:
        record_path = self.folder / f"{comic_id}.json"
        image_path = self.folder / f"{comic_id}.png"
        try:
            raw = record_path.read_bytes()
        except FileNotFoundError:
            raise unknown_comic(comic_id) from None
        except OSError as exc:
            raise PhotocomicError(
                f"cannot read the record of comic {comic_id}: {exc.strerror or exc}"
            ) from None
        try:
            record = ComicRecord.model_validate_json(raw)
        except ValidationError:
            raise PhotocomicError(
                f"the record of comic {comic_id} ({record_path}) is damaged and cannot be read"
            ) from None
        if not image_path.is_file():
            raise NotFound(f"comic {comic_id}'s image {image_path} is missing (deleted?)")
        # The folder may have moved with the data dir: trust where the files are now.
        return record.model_copy(update={"path": str(image_path.absolute())})


def atomic_write(path: Path, data: bytes) -> None:
    """Write to a temporary file beside ``path``, flush it to disk, then rename over."""
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}-", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp_name, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp_name)
        raise


def iter_lineage(shelf: ComicShelf, comic_id: str) -> Iterator[ComicRecord]:
    """A comic, then its parent, grandparent...: how it came to be (stops at a missing one)."""
    seen: set[str] = set()
    current: str | None = comic_id
    while current and current not in seen:
        seen.add(current)
        try:
            record = shelf.get(current)
        except NotFound:
            return
        yield record
        current = record.parent_id


T = TypeVar("T", bound=Any)


def as_tree(comics: Sequence[T]) -> list[tuple[int, T]]:
    """Comics (anything with ``comic_id`` and ``parent_id``) as branches, in the given order:
    each under the one it refines when that one is among them, with its depth."""
    listed = {c.comic_id for c in comics}
    children: dict[str | None, list[T]] = {}
    for c in comics:
        children.setdefault(c.parent_id if c.parent_id in listed else None, []).append(c)
    ordered: list[tuple[int, T]] = []

    def walk(parent: str | None, depth: int) -> None:
        for c in children.get(parent, []):
            ordered.append((depth, c))
            walk(c.comic_id, depth + 1)

    walk(None, 0)
    return ordered
