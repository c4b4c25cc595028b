"""Named subjects (a pet, a person, a car, a place): taught with a few photos, kept with the
library, found by name, and drawn in comics.

The model is a logistic regression (scikit-learn) on the stored embeddings: the examples are
positives, the counter-examples negatives, and a sample of the library is unlabelled background
(mostly other things, so counted as negatives with less weight). It trains in milliseconds and
its decision is a direction in embedding space, so Milvus ranks the library by it directly;
candidates near each example join in, and the model scores them all exactly. Judged photos keep
their label: examples always come first, counter-examples never appear.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone

import numpy as np
from photocomic.tools.errors import InvalidInput, NotFound
from photocomic.tools.find.filters import all_of
from photocomic.tools.find.ranking import diversified
from photocomic.tools.find.subject_data import background_of, vectors_of
from photocomic.tools.find.subject_fit import (
    calibrate,
    fit_labels,
    high_component,
    spread,
    unit,
)
from photocomic.tools.find.subject_fit import direction as fit_direction
from photocomic.tools.store.photo_store import PhotoStore
from photocomic.tools.store.rows import Hit, PhotoRow, quote
from photocomic.tools.store.subject_store import Subject, SubjectStore, check_name, subject_key

log = logging.getLogger(__name__)

BACKGROUND = 1500  # library photos sampled as background for training
# The background weighs as much as the examples in all (it holds some positives too) and
# C = 1; background weights 0.3-3 and C 0.3-30 measured, all within 0.01 (bench/quality.py).
BACKGROUND_WEIGHT = 1.0
NEGATIVE_WEIGHT = 3.0  # a counter-example the person named counts more than background
# Query expansion: the photos the model ranks first, beside the examples, move the direction
# towards them (two rounds, each adding EXPAND_WEIGHT of their mean); at most EXPAND_MOST of
# them and at most a half of the estimated count, so that a subject with few photos in the
# library is not pulled towards look-alikes. bench/quality.py (subjects): R-precision 0.840 ->
# 0.884, P@50 0.906 -> 0.960; the hardest class 0.556 -> 0.767.
EXPAND_MOST = 20
EXPAND_WEIGHT = 2.0
EXPAND_ROUNDS = 2
POOL = 200  # candidates beyond the page: near the model's direction and near each example
ESTIMATE_PROBE = 2000
CONFIDENT = 0.8  # probability a photo needs to be a comic's reference
SHOWS = 0.5  # probability from which a photo counts as showing the subject
MIN_SIDE = 384  # pixels: smaller photos make poor references
REFERENCES = 4
CANDIDATE_LABELS = 5  # the subject's strongest labels that bring their photos in as candidates


@dataclass
class Ranked:
    """A subject's photos in order, with the model's probability as the score."""

    hits: list[Hit]
    total: int
    estimate: int
    estimate_is_floor: bool


Sees = Callable[[Subject], bool]  # whether the caller may see a subject (its examples)


def _everyone(subject: Subject) -> bool:
    return True


class Subjects:
    """The subjects of one photo store. ``sees`` narrows each call to the subjects a caller may
    see (an MCP door, by its roots); the command line sees all."""

    def __init__(self, store: PhotoStore) -> None:
        self.store = store
        self.kept = SubjectStore(store)

    # -- naming ------------------------------------------------------------------------------

    def get(self, name: str, sees: Sees = _everyone) -> Subject:
        """The subject of that name; NotFound (listing the known ones the caller may see)
        when there is none, or the caller may not see it."""
        found = self.kept.get(name)
        if found is None or not sees(found):
            known = ", ".join(s.name for s in self.all(sees)) or "none yet"
            raise NotFound(
                f"no subject named {name.strip()[:60]!r}; known subjects: {known}. Teach one "
                "with [[teach_subject]]"
            )
        return found

    def find(self, text: str, sees: Sees = _everyone) -> Subject | None:
        """The subject that ``text`` names, if any (names win over tag words)."""
        key = subject_key(text)
        found = self.kept.get(key) if key else None
        return found if found is not None and sees(found) else None

    def all(self, sees: Sees = _everyone) -> list[Subject]:
        return [s for s in self.kept.all() if sees(s)]

    def remove(self, name: str, sees: Sees = _everyone) -> Subject:
        subject = self.get(name, sees)
        self.kept.delete(subject.key)
        return subject

    def rename(self, old: str, new: str, sees: Sees = _everyone) -> Subject:
        subject = self.get(old, sees)
        new_name = check_name(new)
        if subject_key(new_name) != subject.key and self.kept.get(new_name) is not None:
            raise InvalidInput(f"there is already a subject named {new_name!r}")
        self.kept.delete(subject.key)
        subject.name = new_name
        self.kept.save(subject, self.store.require().dim)
        return subject

    # -- character sheets ---------------------------------------------------------------------

    def set_sheet(self, subject: Subject, style: str, comic_id: str) -> None:
        """Keep ``comic_id`` as the subject's character sheet in ``style`` (with the subject's
        row, so it moves with the library and goes when the subject is forgotten)."""
        sheets = dict(subject.info.get("sheets") or {})
        sheets[style] = {"comic_id": comic_id, "chosen_at": datetime.now(timezone.utc).isoformat()}
        subject.info["sheets"] = sheets
        self.kept.save(subject, self.store.require().dim)

    # -- teaching ----------------------------------------------------------------------------

    def teach(
        self,
        name: str,
        positives: Sequence[int],
        negatives: Sequence[int],
        sees: Sees = _everyone,
    ) -> Subject:
        """Add examples and counter-examples (photo ids), then train the model again.

        A photo marked both ways keeps the newer mark: feedback corrects earlier choices.
        """
        name = check_name(name)
        info = self.store.require()
        subject = self.kept.get(name) or Subject(name=name)
        if not sees(subject):
            raise InvalidInput(f"the name {name!r} cannot be used here; choose another name")
        subject.positives = _merge(subject.positives, positives, drop=negatives)
        subject.negatives = _merge(subject.negatives, negatives, drop=positives)
        if not subject.positives:
            raise InvalidInput(
                f"{name!r} needs at least one photo that shows it, not only photos that do not"
            )
        self.train(subject)
        self.kept.save(subject, info.dim)
        return subject

    def train(self, subject: Subject) -> list[str]:
        """Fit the model on the current examples; notes about examples no longer indexed."""
        notes = self._drop_missing(subject)
        pos, pos_tags = vectors_of(self.store, subject.positives)
        neg, neg_tags = vectors_of(self.store, subject.negatives)
        judged = set(subject.positives) | set(subject.negatives)
        background, bg_tags = background_of(self.store, BACKGROUND, subject.key, judged)
        features = np.vstack([pos, neg, background])
        labels = np.r_[np.ones(len(pos)), np.zeros(len(neg) + len(background))]
        weights = np.r_[
            np.ones(len(pos)),
            np.full(len(neg), NEGATIVE_WEIGHT),
            np.full(len(background), BACKGROUND_WEIGHT * len(pos) / max(1, len(background))),
        ]
        if labels.min() == labels.max():  # an empty library: only positives
            subject.weights = unit(pos.mean(axis=0))
            subject.info.update(bias=0.0, scale=10.0)
        else:
            self._fit(subject, features, labels, weights, (pos, neg, background))
            expanded = self._expand(subject, pos, background, judged)
            if expanded:
                self._fit(subject, features, labels, weights, None)
            subject.info.update(expanded_with=expanded)
            tags = [*pos_tags, *neg_tags, *bg_tags]
            fit_labels(subject, (features, labels, weights, tags), background, bg_tags,
                       lambda want: self._candidates(subject, want, ""))  # fmt: skip
        subject.info.update(
            trained_at=datetime.now(timezone.utc).isoformat(timespec="seconds"),
            positives=len(pos), negatives=len(neg), background=len(background),
        )  # fmt: skip
        estimate, floor = self.estimate(subject)
        subject.info.update(estimate=estimate, estimate_is_floor=floor)
        return notes

    @staticmethod
    def _fit(
        subject: Subject,
        features: np.ndarray,
        labels: np.ndarray,
        weights: np.ndarray,
        parts: tuple[np.ndarray, np.ndarray, np.ndarray] | None,
    ) -> None:
        """A new direction from ``parts`` (positives, negatives, background), or, with None,
        the current one; then the probability calibration along it."""
        if parts is not None:
            subject.weights = fit_direction(features, labels, weights, *parts)
        assert subject.weights is not None
        scale, bias = calibrate(features @ subject.weights, labels, weights)
        subject.info.update(bias=bias, scale=scale)

    def _expand(
        self, subject: Subject, pos: np.ndarray, background: np.ndarray, judged: set[int]
    ) -> int:
        """Query expansion (see EXPAND_MOST); how many photos it used in the last round."""
        estimate, _ = self.estimate(subject)
        most = min(EXPAND_MOST, estimate // 2)
        if most < 3 or subject.weights is None:
            return 0
        direction = subject.weights
        for _ in range(EXPAND_ROUNDS):
            hits = self.store.search([direction], most + len(judged), with_vectors=True)[0]
            near = [h.row.vector for h in hits if h.row.photo_id not in judged][:most]
            if not near:
                return 0
            mean = unit(np.vstack([*near, pos]).mean(axis=0))
            direction = unit(
                direction / spread(background, direction)
                + EXPAND_WEIGHT * mean / spread(background, mean)
            )
        subject.weights = direction
        return len(near)

    def _drop_missing(self, subject: Subject) -> list[str]:
        found = self.store.get_some([*subject.positives, *subject.negatives])
        gone = [i for i in [*subject.positives, *subject.negatives] if i not in found]
        if not gone:
            return []
        subject.positives = [i for i in subject.positives if i in found]
        subject.negatives = [i for i in subject.negatives if i in found]
        note = f"{len(gone)} example photo(s) are no longer indexed and were dropped"
        subject.info["notes"] = [note]
        return [note]

    # -- ranking -----------------------------------------------------------------------------

    def rank(
        self,
        subject: Subject,
        limit: int,
        offset: int = 0,
        expr: str = "",
        diversify: bool = False,
        seen: Callable[[str], bool] | None = None,
    ) -> Ranked:
        """The photos of ``subject`` under ``expr``, best first, from ``offset``.

        One count: the model's estimate under ``expr`` is how many photos show it, and they
        are exactly the first that many of its ranking, so ``total`` equals the estimate and
        paging ends there. ``diversify`` reorders them (near-identical shots later), so it
        changes no count. ``seen``: whether the caller may see a file (its real path).
        """
        estimate, floor = self.estimate(subject, expr)
        candidates = self._candidates(subject, estimate + POOL, expr)
        judged_out = set(subject.negatives)
        kept = [c for c in candidates if c.row.photo_id not in judged_out]
        if seen is not None:
            kept = [c for c in kept if seen(c.row.path)]
        scored = self._score(subject, kept)
        shown = scored[:estimate]
        if diversify:
            shown = diversified(shown, len(shown))
        page = shown[offset : offset + limit]
        plain = [Hit(_without_vector(h.row), h.score) for h in page]
        return Ranked(plain, len(shown), len(shown), floor)

    def _candidates(self, subject: Subject, want: int, expr: str) -> list[Hit]:
        want = min(want, 16_000)
        seen: dict[int, Hit] = {}
        examples, _ = vectors_of(self.store, subject.positives[-8:])
        searches = [(v, max(20, want // 4), expr) for v in examples]
        if subject.weights is not None:
            searches.insert(0, (subject.weights, want, expr))
            labels = list(subject.info.get("label_weights") or {})[:CANDIDATE_LABELS]
            if labels:  # photos with the subject's labels, nearest to its direction first
                tagged = f"array_contains_any(labels, [{', '.join(map(quote, labels))}])"
                searches.insert(1, (subject.weights, want, all_of(expr, tagged)))
        for query, limit, where in searches:
            for hit in self.store.search([query], limit, where, with_vectors=True)[0]:
                seen.setdefault(hit.row.photo_id, hit)
        missing = [i for i in subject.positives if i not in seen]
        if missing:  # examples under the filters always count, even far from the model
            allowed = self.store.matching(missing, expr)
            rows = self.store.get_some(sorted(allowed), with_vectors=True)
            seen.update({pid: Hit(row, 1.0) for pid, row in rows.items()})
        return list(seen.values())

    def _score(self, subject: Subject, hits: list[Hit]) -> list[Hit]:
        if not hits:
            return []
        vectors = np.stack([h.row.vector for h in hits])  # type: ignore[misc]
        probability = subject.probability(vectors, [h.row.tags() for h in hits])
        positives = set(subject.positives)
        scored = [
            Hit(h.row, 1.0 if h.row.photo_id in positives else float(p))
            for h, p in zip(hits, probability, strict=True)
        ]
        scored.sort(key=lambda h: (-(h.row.photo_id in positives), -h.score, h.row.photo_id))
        return scored

    def estimate(self, subject: Subject, expr: str = "") -> tuple[int, bool]:
        """How many photos the model thinks show the subject: (count, only a lower bound?)."""
        if subject.weights is None:
            return len(subject.positives), False
        probe = min(ESTIMATE_PROBE, max(1, self.store.count()))
        hits = self.store.search([subject.weights], probe, expr, with_vectors=True)[0]
        if len(hits) < 4:
            return len(hits), False
        vectors = np.stack([h.row.vector for h in hits])  # type: ignore[misc]
        above = max(high_component(subject.decision(vectors)), len(set(subject.positives)))
        return above, above >= len(hits) and len(hits) == ESTIMATE_PROBE

    # -- comics ------------------------------------------------------------------------------

    def references(self, subject: Subject, expr: str, most: int = REFERENCES) -> list[PhotoRow]:
        """Photos to draw the subject from: confident, large enough, sharp, not the same shot
        twice, at most ``most``; the examples themselves when nothing else qualifies."""
        ranked = self._score(subject, self._candidates(subject, 60, expr))
        good = [
            h for h in ranked
            if h.row.photo_id not in subject.negatives
            and h.score >= CONFIDENT and min(h.row.width, h.row.height) >= MIN_SIDE
        ]  # fmt: skip
        good = _sharp_enough(good, most)
        if not good:
            good = [h for h in ranked if h.row.photo_id in subject.positives]
        picked = diversified(good, most)[:most]
        return [_without_vector(h.row) for h in picked]


def _sharp_enough(hits: list[Hit], most: int) -> list[Hit]:
    """Drop the blurriest of the candidates (variance of the Laplacian of a small grey copy)
    when there are more than needed."""
    if len(hits) <= most:
        return hits
    from photocomic.tools.errors import DecodeError
    from photocomic.tools.photos.images import thumbnail
    from PIL import ImageFilter

    sharpness: list[tuple[float, Hit]] = []
    for hit in hits[: most * 4]:
        try:
            grey = thumbnail(hit.row.path, 256).convert("L").filter(ImageFilter.FIND_EDGES)
        except DecodeError:
            continue
        sharpness.append((float(np.asarray(grey, dtype=np.float32).var()), hit))
    if not sharpness:
        return hits
    cut = np.percentile([s for s, _ in sharpness], 25)
    return [h for s, h in sharpness if s >= cut]


def _without_vector(row: PhotoRow) -> PhotoRow:
    row.vector = None
    return row


def _merge(old: Sequence[int], new: Sequence[int], drop: Sequence[int]) -> list[int]:
    dropped = set(drop)
    return [i for i in dict.fromkeys([*old, *new]) if i not in dropped]
