"""Pixel signatures for photos indexed before they were kept: made on a re-scan, from the
vectors Milvus holds and one small decode per photo, so the duplicate check of an old store
becomes as quick as a new one's after one re-scan."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from photocomic.tools.errors import Cancelled, DecodeError, PathRefused
from photocomic.tools.folders import FileEntry
from photocomic.tools.photos.cpu import available_cpus
from photocomic.tools.photos.images import open_photo
from photocomic.tools.photos.pixel_signature import SIGNATURE_SIDE, pixel_signature
from photocomic.tools.store.signatures import Signature

if TYPE_CHECKING:
    from photocomic.tools.store.photo_store import PhotoStore

_CHUNK = 256  # photos read from Milvus and decoded at a time


def sign_unchanged(
    store: PhotoStore,
    unchanged: Sequence[tuple[int, FileEntry]],
    within: Sequence[Path] | None,
    cancel: threading.Event | None = None,
) -> int:
    """Signatures for those (photo id, file) that have none for this version of the file;
    returns how many were made. A file that cannot be read now keeps none (the duplicate check
    decodes it if it must)."""
    if not unchanged:
        return 0
    signed = store.signatures.signed()
    todo = [(pid, e) for pid, e in unchanged if signed.get(pid) != (e.size, e.mtime)]
    made = 0
    with ThreadPoolExecutor(max_workers=available_cpus()) as pool:
        for start in range(0, len(todo), _CHUNK):
            if cancel is not None and cancel.is_set():
                raise Cancelled()
            chunk = todo[start : start + _CHUNK]
            rows = store.get_some([pid for pid, _ in chunk], with_vectors=True)
            thumbs = pool.map(lambda e: _thumb(e.path, within), [e for _, e in chunk])
            signatures = [
                Signature(pid, e.size, e.mtime, rows[pid].width, rows[pid].height,
                          rows[pid].vector, thumb)  # type: ignore[arg-type]
                for (pid, e), thumb in zip(chunk, thumbs, strict=True)
                if thumb is not None and pid in rows
            ]  # fmt: skip
            store.signatures.write(signatures)
            made += len(signatures)
    return made


def _thumb(path: str, within: Sequence[Path] | None) -> np.ndarray | None:
    try:
        return pixel_signature(open_photo(path, min_side=SIGNATURE_SIDE, within=within).image)
    except (DecodeError, PathRefused):
        return None
