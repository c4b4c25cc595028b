"""Everything the library knows about one photo: its file, what the model sees in it, the
subjects it shows, its near-identical shots and the comics drawn from it, each as far as the
caller's roots let it see."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

import numpy as np
from photocomic.tools.errors import NotFound
from photocomic.tools.find.contract import (
    DuplicatePhoto,
    Filters,
    PhotoComic,
    PhotoInfo,
    PhotoInfoRequest,
    PhotoSubject,
)
from photocomic.tools.find.duplicate_neighbours import (
    CANDIDATE_FLOOR,
    NEAREST_CHECKED,
    NEIGHBOURS,
    PIXEL_FLOOR,
)
from photocomic.tools.find.duplicates import DUPLICATE_THRESHOLD
from photocomic.tools.find.pixel_match import PixelMatcher
from photocomic.tools.find.ranking import iso_time
from photocomic.tools.find.subject_model import SHOWS
from photocomic.tools.find.subjects import subject_sees
from photocomic.tools.policy import photo_items, require_roots
from photocomic.tools.store.rows import PhotoRow, raw_form

if TYPE_CHECKING:
    from photocomic.tools.owner.calls import Call


COMICS_SHOWN = 20  # the newest comics of a photo listed; comics_total counts them all


def photo_info(call: Call, request: PhotoInfoRequest) -> PhotoInfo:
    require_roots(call.scope)
    row = _row(call, photo_items([request.photo])[0])
    assert row.vector is not None
    return PhotoInfo(
        photo_id=row.photo_id, path=row.shown, raw_path=raw_form(row.path) or None,
        width=row.width, height=row.height, bytes=row.size, taken_at=iso_time(row.taken_at),
        labels=_scored(row.labels, row.label_scores),
        categories=_scored(row.categories, row.category_scores),
        subjects=_subjects(call, row), duplicates=_duplicates(call, row),
        comics=(drawn := _comics(call, row))[:COMICS_SHOWN], comics_total=len(drawn),
    )  # fmt: skip


def _row(call: Call, item: int | str) -> PhotoRow:
    store = call.library.store
    store.require()
    if isinstance(item, int):
        row = store.get([item], with_vectors=True)[0]
        call.scope.check_photo(row.photo_id, row.path)
        return row
    path = str(call.scope.resolve(item, "file"))
    known = store.find_path(path)
    if known is None:
        raise NotFound(f"{item} is not in the library yet: index its folder first")
    return store.get([known.photo_id], with_vectors=True)[0]


def _scored(names: list[str], scores: list[float]) -> dict[str, float]:
    return {n: round(float(s), 4) for n, s in zip(names, scores, strict=False)}


def _subjects(call: Call, row: PhotoRow) -> list[PhotoSubject]:
    found = []
    for subject in call.library.subjects.all(subject_sees(call)):
        confidence = float(subject.probability(row.vector[None, :], [row.tags()])[0])  # type: ignore[index]
        if row.photo_id in subject.positives:
            marked = "example"
        elif row.photo_id in subject.negatives:
            marked = "not"
        elif confidence >= SHOWS:
            marked = "model"
        else:
            continue
        found.append(
            PhotoSubject(name=subject.name, confidence=round(confidence, 4), marked=marked)
        )
    return sorted(found, key=lambda s: (s.marked == "not", -s.confidence))


def _duplicates(call: Call, row: PhotoRow) -> list[DuplicatePhoto]:
    """Near-identical shots by find_duplicates' rule: the embedding, and pixels where the
    embedding leaves it open."""
    expr = call.filters(Filters()).expression()
    hits = call.library.store.search(np.asarray([row.vector]), NEIGHBOURS + 1, expr)[0]
    others = [
        h for h in hits if h.row.photo_id != row.photo_id and call.scope.allows(h.row.path)
    ]  # by the real path: a copy reached through a link that leaves the roots is not here
    pixels = PixelMatcher(call.scope.within())
    found = []
    for rank, hit in enumerate(others):
        floor = CANDIDATE_FLOOR if rank < NEAREST_CHECKED else PIXEL_FLOOR
        score = hit.score
        if floor <= score < DUPLICATE_THRESHOLD:
            aligned = pixels.match(row.path, hit.row.path)
            score = max(score, aligned if aligned is not None else -1.0)
        if score >= DUPLICATE_THRESHOLD:
            shot = DuplicatePhoto(
                photo_id=hit.row.photo_id, path=hit.row.shown, score=round(min(1.0, score), 4)
            )
            found.append(shot)
    return sorted(found, key=lambda d: -d.score)


def _comics(call: Call, row: PhotoRow) -> list[PhotoComic]:
    """The comics drawn from it, newest first (all of them: photo_info pages nothing, so the
    answer says how many and lists the newest)."""
    real = os.path.realpath(row.path)
    return [
        PhotoComic(
            comic_id=r.comic_id,
            created_at=r.created_at,
            style=r.style,
            path=r.path,
            format=r.format,
            frames=r.frames,
            lettered=bool(r.letters),
        )
        for r in call.comics.list()
        if any(
            ref.photo_id == row.photo_id or os.path.realpath(ref.local_path()) == real
            for ref in r.photos
        )
    ]
