"""Where comics are kept, and which of them a caller sees: one facade for every module that
reads or writes a comic.

A comic is ``<id>.png`` (what a reader sees; ``<id>.gif`` when it moves), ``<id>.art.png`` when
photocomic lettered it
(the drawing without the letters, which re-lettering starts from) and ``<id>.json``, its
record, in the comics folder. The pictures are written first and the record last, each
atomically, so the record is the commit point: a crash leaves at most orphan pictures that
:meth:`ComicStore.list` does not show. Any number of processes see the same comics.

A comic exists for a caller only when every photo it and its earlier versions were drawn from
lies inside the caller's roots (:meth:`ComicStore.seen_by`); to it the others do not exist.
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
from photocomic.tools.policy import Scope
from pydantic import ValidationError

log = logging.getLogger(__name__)
COMIC_ID = re.compile(r"^c[0-9a-f]{10}$")


class ComicStore:
    """The comics of one data folder."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def image_path(self, comic_id: str, format: str = "png") -> Path:
        return self.folder / f"{comic_id}.{format}"

    def art_path(self, comic_id: str) -> Path:
        """The drawing of a lettered comic without its letters."""
        return self.folder / f"{comic_id}.art.png"

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

    def write(self, record: ComicRecord, png: bytes, art: bytes | None = None) -> None:
        """Pictures first, record last, all atomic; on any failure none of them remains."""
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise PhotocomicError(
                f"cannot create the comics folder {self.folder}: {exc.strerror or exc}"
            ) from None
        pictures = [(self.image_path(record.comic_id, record.format), png)]
        if art is not None:
            pictures.append((self.art_path(record.comic_id), art))
        try:
            try:
                for path, data in pictures:
                    atomic_write(path, data)
                body = record.model_dump_json(indent=2).encode()
                atomic_write(self.folder / f"{record.comic_id}.json", body)
            except BaseException:
                for path, _ in pictures:
                    path.unlink(missing_ok=True)
                raise
        except OSError as exc:
            raise PhotocomicError(
                f"could not save the comic in {self.folder}: {exc.strerror or exc}; nothing "
                "was kept"
            ) from None

    def new_id(self) -> str:
        while True:
            comic_id = "c" + secrets.token_hex(5)
            if not any(
                (self.folder / f"{comic_id}{end}").exists() for end in (".json", ".png", ".gif")
            ):
                return comic_id

    def load(self, comic_id: str) -> ComicRecord:
        record_path = self.folder / f"{comic_id}.json"
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
        image_path = self.image_path(comic_id, record.format)
        if not image_path.is_file():
            raise NotFound(f"comic {comic_id}'s image {image_path} is missing (deleted?)")
        # The folder may have moved with the data dir: trust where the files are now.
        art = self.art_path(comic_id)
        moved = {"path": str(image_path.absolute())}
        if record.art_path is not None:
            moved["art_path"] = str(art.absolute())
        return record.model_copy(update=moved)

    def lineage(self, comic_id: str) -> list[ComicRecord]:
        """The comic, then the one it refines, and so on back to the first (stops at a missing
        one)."""
        return list(_ancestors(self, comic_id))

    def family(self, root: str) -> list[ComicRecord]:
        """Every comic refined (at any depth) from ``root``, and ``root``, oldest first."""
        records = list(reversed(self.list()))
        parents = {r.comic_id: r.parent_id for r in records}

        def first_of(comic_id: str) -> str:
            seen: set[str] = set()
            while parents.get(comic_id) and comic_id not in seen:
                seen.add(comic_id)
                comic_id = str(parents[comic_id])
            return comic_id

        return [r for r in records if first_of(r.comic_id) == root]

    def seen_by(self, scope: Scope) -> ComicsSeen:
        return ComicsSeen(self, scope)


class ComicsSeen:
    """The comics one caller sees: the same questions as :class:`ComicStore`, answered within
    its roots, each record judged once."""

    def __init__(self, store: ComicStore, scope: Scope) -> None:
        self.store, self.scope = store, scope
        self.known: dict[str, bool] = {}

    def sees(self, record: ComicRecord) -> bool:
        if not self.scope.restricted:
            return True
        if record.comic_id in self.known:
            return self.known[record.comic_id]
        self.known[record.comic_id] = False  # a loop in damaged records shows nothing
        seen = all(self.scope.allows(ref.local_path()) for ref in record.photos)
        if seen and record.parent_id:
            with contextlib.suppress(NotFound):  # a deleted earlier version hides nothing
                seen = self.sees(self.store.get(record.parent_id))
        self.known[record.comic_id] = seen
        return seen

    def get(self, comic_id: str) -> ComicRecord:
        """A comic the caller may see and refine; NotFound, as if absent, for the others."""
        record = self.store.get(comic_id)
        if not self.sees(record):
            raise unknown_comic(comic_id)
        return record

    def list(self) -> list[ComicRecord]:
        return [r for r in self.store.list() if self.sees(r)]

    def lineage(self, comic_id: str) -> list[ComicRecord]:
        return [r for r in self.store.lineage(comic_id) if self.sees(r)]

    def family(self, root: str) -> list[ComicRecord]:
        return [r for r in self.store.family(root) if self.sees(r)]


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


def _ancestors(store: ComicStore, comic_id: str) -> Iterator[ComicRecord]:
    seen: set[str] = set()
    current: str | None = comic_id
    while current and current not in seen:
        seen.add(current)
        try:
            record = store.get(current)
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
