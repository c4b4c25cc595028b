"""What a subject's model is trained on: its photos' vectors and labels, and a sample of the
library as background, read from the store a window at a time (never all of it)."""

from __future__ import annotations

import random
from collections.abc import Sequence

import numpy as np
from photocomic.tools.store.photo_store import PhotoStore
from photocomic.tools.store.rows import ID_MASK


def vectors_of(store: PhotoStore, ids: Sequence[int]) -> tuple[np.ndarray, list[dict[str, float]]]:
    """The photos' vectors and labels."""
    if not ids:
        info = store.require()
        return np.zeros((0, info.dim), dtype=np.float32), []
    rows = store.get_some(ids, with_vectors=True)
    kept = [rows[i] for i in ids if i in rows and rows[i].vector is not None]
    return np.stack([r.vector for r in kept]), [r.tags() for r in kept]  # type: ignore[misc]


def background_of(
    store: PhotoStore, count: int, seed: str, exclude: set[int]
) -> tuple[np.ndarray, list[dict[str, float]]]:
    """About ``count`` library vectors and labels from a few random id windows (never all
    of them)."""
    total = store.count()
    info = store.require()
    if total == 0:
        return np.zeros((0, info.dim), dtype=np.float32), []
    rng = random.Random(seed)
    windows = 4
    share = min(1.0, count / total)
    span = max(1, int((ID_MASK + 1) * share / windows))
    found: dict[int, tuple[np.ndarray, dict[str, float]]] = {}
    fields = ["id", "labels", "label_scores"]
    for _ in range(windows):
        start = rng.randrange(0, ID_MASK + 1 - span) if span < ID_MASK else 0
        expr = f"id >= {start} and id < {start + span}"
        for entity in store.iter_entities(expr, fields=fields, with_vectors=True):
            if int(entity["id"]) not in exclude:
                tags = dict(zip(entity.get("labels") or [], entity.get("label_scores") or [],
                                strict=False))  # fmt: skip
                vector = np.asarray(entity["vector"], dtype=np.float32)
                found[int(entity["id"])] = (vector, tags)
    if not found:
        return np.zeros((0, info.dim), np.float32), []
    return np.stack([v for v, _ in found.values()]), [t for _, t in found.values()]
