"""A photo collection with a history: rows in several flushed segments, new versions of some,
rows not flushed yet, deletes of flushed and unflushed rows, a deleted key written again."""

from __future__ import annotations

from typing import Any

import numpy as np
from photocomic.tools.store.rows import PhotoRow, photo_id_for

DIM = 16


def row(n: int, version: int = 0) -> PhotoRow:
    rng = np.random.default_rng(n * 7 + version)
    vector = rng.standard_normal(DIM).astype(np.float32)
    folder = f"/library/roll{n % 4}"
    return PhotoRow(
        photo_id=photo_id_for(f"{folder}/IMG_{n:04d}.jpg"), path=f"{folder}/IMG_{n:04d}.jpg",
        size=1000 + version, mtime=1.0 + version, width=640, height=480,
        taken_at=1_700_000_000 + n * 3600, vector=vector / np.linalg.norm(vector),
    )  # fmt: skip


def build_history(store: Any) -> dict[str, Any]:
    """Writes the history into ``store`` (a PhotoStore); what a search must now see."""
    store.ensure_collection("test-model", DIM, None)
    store.upsert([row(n) for n in range(0, 150)])
    store.flush()
    store.upsert([row(n) for n in range(150, 300)])
    store.flush()
    store.upsert([row(n, 1) for n in range(0, 40)])  # new versions, flushed
    store.flush()
    store.delete([row(n).photo_id for n in range(200, 220)])  # flushed rows deleted
    store.flush()
    store.upsert([row(n, 2) for n in range(40, 60)])  # new versions, not flushed
    store.upsert([row(n) for n in range(300, 320)])  # new rows, not flushed
    store.delete([row(n).photo_id for n in range(310, 315)])  # unflushed rows deleted
    store.delete([row(n).photo_id for n in range(100, 105)])
    store.upsert([row(n, 3) for n in range(100, 103)])  # deleted, then written again
    gone = {row(n).photo_id for n in [*range(200, 220), *range(310, 315), 103, 104]}
    versions = {row(n).photo_id: 1 for n in range(0, 40)}
    versions.update({row(n).photo_id: 2 for n in range(40, 60)})
    versions.update({row(n).photo_id: 3 for n in range(100, 103)})
    return {"gone": gone, "versions": versions}
