"""The conditions a caller puts on hits (folder, dates, tags, its roots), as one Milvus filter.

Why in Milvus: a filtered vector search returns ``limit`` matching photos, where filtering
afterwards in Python would return fewer (or none) from a large library.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, time, timedelta, timezone

from photocomic.tools.errors import InvalidInput
from photocomic.tools.photos.taxonomy import TagQuery, no_match_message, resolve_words
from photocomic.tools.store.rows import (
    ancestor_ids,
    any_folder_expression,
    folder_expression,
    folder_id,
    quote,
)
from pydantic import BaseModel, Field


class SearchFilters(BaseModel):
    """Conditions a hit must meet; they become one Milvus filter expression.

    Why in Milvus: a filtered vector search returns ``limit`` matching photos, where
    filtering afterwards in Python would return fewer (or none) from a large library.
    """

    folder: str | None = Field(
        None, description="only photos under this folder (its resolved path, a prefix)"
    )
    taken_after: date | None = Field(None, description="only photos taken on or after this day")
    taken_before: date | None = Field(None, description="only photos taken on or before this day")
    tag: str | None = Field(
        None, description="words naming a tag label or category: 'dog', 'golf ball', 'boats'"
    )
    within: list[str] | None = Field(
        None, description="only photos under one of these folders (a caller's allowed roots)"
    )

    def expression(self) -> str:
        """The Milvus filter for these conditions ("" when there are none)."""
        parts: list[str] = []
        if self.within is not None:
            parts.append(any_folder_expression(self.within) if self.within else "id < 0")
        if self.folder:
            parts.append(folder_expression(self.folder))
        if self.taken_after and self.taken_before and self.taken_after > self.taken_before:
            raise InvalidInput(
                f"taken_after ({self.taken_after}) is later than taken_before "
                f"({self.taken_before}); no photo can match"
            )
        if self.taken_after:
            parts.append(f"taken_at >= {_epoch(self.taken_after)}")
        if self.taken_before:
            parts.append(f"taken_at < {_epoch(self.taken_before + timedelta(days=1))}")
        if self.tag:
            parts.append(tag_expression(resolve_tags(self.tag)))
        return all_of(*parts)

    def path_test(self) -> Callable[[str], bool] | None:
        """The same conditions as a test of a stored photo's path, judged by the folder ids
        its row holds, exactly as the expression is; None when they hold more than folders
        (dates, tags), which only Milvus can judge."""
        if self.taken_after or self.taken_before or self.tag:
            return None
        self.expression()  # the same refusals (a folder nested too deep)
        roots = None if self.within is None else {folder_id(f) for f in self.within}
        folder = folder_id(self.folder) if self.folder else None

        def passes(path: str) -> bool:
            held = set(ancestor_ids(path))
            return (roots is None or not roots.isdisjoint(held)) and (
                folder is None or folder in held
            )

        return passes


def _epoch(day: date) -> int:
    """Midnight UTC at the start of ``day``, in the epoch seconds ``taken_at`` holds."""
    return int(datetime.combine(day, time.min, tzinfo=timezone.utc).timestamp())


def all_of(*parts: str) -> str:
    """Filter expressions joined with ``and`` (empty ones skipped)."""
    kept = [p for p in parts if p]
    if len(kept) <= 1:
        return kept[0] if kept else ""
    return " and ".join(f"({p})" for p in kept)


def resolve_tags(text: str) -> TagQuery:
    """The labels and categories that ``text`` names; InvalidInput with suggestions if none."""
    if not text.strip():
        raise InvalidInput("give some words to find: a kind of thing ('dog', 'golf ball')")
    query = resolve_words(text)
    if not query:
        raise InvalidInput(no_match_message(text))
    return query


def tag_expression(query: TagQuery) -> str:
    """Photos tagged with any label or category the query names."""
    parts = []
    if query.categories:
        listed = ", ".join(quote(c) for c in query.categories)
        parts.append(f"array_contains_any(categories, [{listed}])")
    if query.labels:
        listed = ", ".join(quote(label) for label in query.labels)
        parts.append(f"array_contains_any(labels, [{listed}])")
    return " or ".join(parts)


def tag_score(query: TagQuery, entity: dict[str, object]) -> float:
    """How sure the model is that a photo shows what the query names: the summed probability
    of the named categories and labels (a category score is already a sum over its classes).
    """
    wanted_categories, wanted_labels = set(query.categories), set(query.labels)
    total = 0.0
    for names, scores, wanted in (
        ("categories", "category_scores", wanted_categories),
        ("labels", "label_scores", wanted_labels),
    ):
        for name, score in zip(entity.get(names) or [], entity.get(scores) or [], strict=False):  # type: ignore[call-overload]
            if name in wanted:
                total += float(score)
    return min(1.0, total)
