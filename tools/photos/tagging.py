"""Tags from the classifier head the embedding pass already runs: ImageNet labels and categories.

A model without an ImageNet head still indexes; its photos simply carry no tags.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
from photocomic.tools.photos.taxonomy import CATEGORIES, category_matrix, imagenet_classes
from photocomic.tools.store.photo_store import MAX_TAGS

if TYPE_CHECKING:
    from photocomic.tools.photos.embedding import PhotoEmbedder

# A label or category is kept when the model gives it at least this probability; the first
# label is always kept so every photo of a tagging model has at least one.
MIN_LABEL_SCORE = 0.03
MIN_CATEGORY_SCORE = 0.10


@dataclass(frozen=True)
class Tags:
    labels: list[str] = field(default_factory=list)
    label_scores: list[float] = field(default_factory=list)
    categories: list[str] = field(default_factory=list)
    category_scores: list[float] = field(default_factory=list)


class Tagger:
    """Turns class probabilities into the few tags worth storing per photo."""

    Tags = Tags

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        if enabled:
            self._labels = [c.label for c in imagenet_classes()]
            self._matrix = category_matrix()

    @classmethod
    def for_embedder(cls, embedder: PhotoEmbedder) -> Tagger:
        return cls(embedder.has_imagenet_head)

    def tags(self, probs: np.ndarray | None, count: int) -> list[Tags]:
        """Tags for ``count`` photos; empty ones when the model has no ImageNet head."""
        if probs is None or not self.enabled:
            return [Tags() for _ in range(count)]
        per_category = probs @ self._matrix
        out = []
        for row, cats in zip(probs, per_category, strict=True):
            top = np.argsort(row)[::-1][:MAX_TAGS]
            keep = [i for n, i in enumerate(top) if n == 0 or row[i] >= MIN_LABEL_SCORE]
            top_c = np.argsort(cats)[::-1][:MAX_TAGS]
            keep_c = [i for n, i in enumerate(top_c) if n == 0 or cats[i] >= MIN_CATEGORY_SCORE]
            out.append(
                Tags(
                    labels=[self._labels[i] for i in keep],
                    label_scores=[round(float(row[i]), 4) for i in keep],
                    categories=[CATEGORIES[i] for i in keep_c],
                    category_scores=[round(float(cats[i]), 4) for i in keep_c],
                )
            )
        return out
