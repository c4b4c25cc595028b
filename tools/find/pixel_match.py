"""Aligned pixels: how well one photo's small equalised greyscale thumbnail (its pixel
signature) lines up with a crop of another's, searched over crops (scales 1.0 to 0.65, nine
positions) and mirrored. Crops, greyscale, brightening and recompression keep this correlation
above 0.95; different photos stay below 0.88 (bench/quality.py, duplicate_figures).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
from photocomic.tools.errors import DecodeError, PathRefused
from photocomic.tools.photos.cpu import available_cpus
from photocomic.tools.photos.images import open_photo
from photocomic.tools.photos.pixel_signature import SIGNATURE_SIDE, pixel_signature

_SIDE = 32  # compared at 32x32
_SCALES = (1.0, 0.95, 0.9, 0.85, 0.8, 0.75, 0.7, 0.65)
_OFFSETS = (0.0, 0.5, 1.0)
_PICTURES_AT_ONCE = 32  # pictures of one shape resampled in one call


Boxes = list[tuple[float, float, np.ndarray, np.ndarray]]  # per size: width, height, lefts, tops


class _Resampling:
    """How boxes of a picture of one shape are resampled at _SIDE x _SIDE, bilinear, each
    coordinate clamped to the picture (what ``grid_sample`` does with border padding, to float
    rounding). Bilinear sampling of an upright box is separable, rows then columns, so each
    size's boxes at every pairing of its left and top edges (a scale's nine crops; every size
    with as many edges) come out of two matrix products: 0.35 ms for a picture's 72 crops."""

    def __init__(self, shape: tuple[int, int], boxes: Boxes) -> None:
        height, width = shape
        box_widths, box_heights, lefts, tops = (np.asarray(s) for s in zip(*boxes, strict=True))
        self._rows = _weights(height, tops, box_heights).reshape(len(boxes), -1, height)
        self._columns = _weights(width, lefts, box_widths).reshape(len(boxes), -1, width)
        self._columns = self._columns.transpose(0, 2, 1)  # (sizes, width, lefts * _SIDE)

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        """The boxes of each of ``batch`` (pictures of this shape, float32): (pictures, boxes,
        _SIDE * _SIDE), by size, then top edge, then left edge."""
        pictures, height, width = batch.shape
        sizes, tops, lefts = len(self._rows), self._rows.shape[1], self._columns.shape[2]
        stacked = batch.transpose(1, 0, 2).reshape(height, pictures * width)
        rows = (self._rows @ stacked).reshape(sizes, tops, pictures, width).transpose(0, 2, 1, 3)
        sampled = rows @ self._columns[:, None]  # (sizes, pictures, tops, lefts)
        grid = sampled.reshape(sizes, pictures, tops // _SIDE, _SIDE, lefts // _SIDE, _SIDE)
        return grid.transpose(1, 0, 2, 4, 3, 5).reshape(pictures, -1, _SIDE * _SIDE)


def _weights(length: int, starts: np.ndarray, sizes: np.ndarray) -> np.ndarray:
    """For each row of ``starts`` (edges of boxes of one of ``sizes``), the (_SIDE, length)
    matrices that sample ``size`` pixels from each edge at _SIDE evenly spaced pixel centres,
    linearly between the two nearest pixels (clamped to the picture)."""
    steps = (np.arange(_SIDE, dtype=np.float32) + 0.5) / _SIDE
    spans = steps * np.asarray(sizes, dtype=np.float32)[:, None, None]
    at = np.clip(np.asarray(starts, dtype=np.float32)[..., None] + spans - 0.5, 0, length - 1)
    at = at.astype(np.float64)
    below = np.floor(at).astype(np.int64)
    weights = np.zeros((*at.shape, length), dtype=np.float32)
    which = (*np.indices(at.shape),)
    weights[(*which, below)] = 1 - (at - below)
    weights[(*which, np.minimum(below + 1, length - 1))] += at - below
    return weights


def _crops(height: int, width: int, aspect: float) -> Boxes:
    """The crops searched: the largest box of ``aspect`` in the picture, at each scale, at
    nine positions (its left and its top edge each at the start, middle or end)."""
    bw, bh = (width, width / aspect) if width / aspect <= height else (height * aspect, height)
    offsets = np.asarray(_OFFSETS)
    return [
        (bw * s, bh * s, (width - bw * s) * offsets, (height - bh * s) * offsets) for s in _SCALES
    ]


def _sample(images: Sequence[np.ndarray], resampling: _Resampling) -> list[np.ndarray]:
    """The boxes of ``resampling`` taken from each of ``images`` (one shape) as zero-mean unit
    rows, a batch of pictures at a time."""
    found: list[np.ndarray] = []
    for start in range(0, len(images), _PICTURES_AT_ONCE):
        batch = np.stack(
            [np.asarray(i, dtype=np.float32) for i in images[start : start + _PICTURES_AT_ONCE]]
        )
        rows = resampling(batch)
        rows -= rows.mean(axis=2, keepdims=True)
        norms = np.sqrt(np.einsum("ijk,ijk->ij", rows, rows))[..., None]
        found.extend(rows / np.where(norms > 0, norms, 1.0))
    return found


def _with_mirror(whole: np.ndarray) -> np.ndarray:
    """The whole picture and its mirror image, as two rows."""
    return np.vstack([whole, whole.reshape(_SIDE, _SIDE)[:, ::-1].reshape(1, -1)])


ThumbLoader = Callable[[Sequence[str]], dict[str, np.ndarray]]
CROPS_KEPT = 512  # crop sets kept for reuse (295 KB each): bounded whatever the library holds
WHOLES_KEPT = 8192  # whole pictures kept (8 KB each)
THUMBS_KEPT = 16384  # kept signatures held at once (about 12 KB each)
RESAMPLINGS_KEPT = 64  # resamplings kept, one per picture shape and crop aspect (0.5 MB each)


class _Kept(OrderedDict[Any, Any]):
    """The most recently used ``most`` entries."""

    def __init__(self, most: int) -> None:
        super().__init__()
        self.most = most

    def keep(self, key: Any, value: Any) -> Any:
        self[key] = value
        if len(self) > self.most:
            self.popitem(last=False)
        return value

    def get_recent(self, key: Any) -> Any:
        value = self.get(key)
        if value is not None:
            self.move_to_end(key)
        return value


class PixelMatcher:
    """Aligned-thumbnail correlation between photos: their signatures as kept since indexing
    (``load``: paths to uint8 thumbnails), else decoded once per run."""

    def __init__(
        self,
        within: Sequence[Path] | None = None,
        load: ThumbLoader | None = None,
        enough: float | None = None,
    ) -> None:
        self.within = within  # the folders each file must really lie in (None: any)
        self._load = load
        # A pair whose pictures line up as they are at least this well is settled without
        # searching crops (None: always search them all, for the best alignment).
        self.enough = enough
        self._thumbs = _Kept(THUMBS_KEPT)  # uint8, the kept ones compared lately
        self._unreadable: set[str] = set()
        self.decoded: dict[str, np.ndarray] = {}  # those this matcher had to decode
        self._crops = _Kept(CROPS_KEPT)
        self._wholes = _Kept(WHOLES_KEPT)
        self._resamplings = _Kept(RESAMPLINGS_KEPT)  # by picture shape (and crop aspect)
        self._scores: dict[tuple[str, str], float] = {}  # pairs scored, until matched

    def _known(self, path: str) -> np.ndarray | None:
        return self.decoded.get(path) if path in self.decoded else self._thumbs.get_recent(path)

    def thumb(self, path: str) -> np.ndarray | None:
        """The photo's pixel signature: kept since indexing, else decoded now."""
        if path in self._unreadable:
            return None
        known = self._known(path)
        if known is None and self._load is not None:
            for found, thumb in self._load([path]).items():
                known = self._thumbs.keep(found, thumb)
        if known is None:
            try:
                image = open_photo(path, min_side=SIGNATURE_SIDE, within=self.within).image
                known = self.decoded[path] = pixel_signature(image)
            except (DecodeError, PathRefused):
                self._unreadable.add(path)  # moved, unreadable or outside: the embedding decides
        return known

    def prefetch(self, paths: set[str]) -> None:
        """The kept signatures of ``paths`` in one read; the others decoded on every core at
        once (decoding leaves the GIL)."""
        todo = sorted(p for p in paths if p not in self._unreadable and self._known(p) is None)
        if self._load is not None and todo:
            for found, thumb in self._load(todo).items():
                self._thumbs.keep(found, thumb)
            todo = [p for p in todo if self._known(p) is None]
        if len(todo) > 1:
            with ThreadPoolExecutor(max_workers=available_cpus()) as pool:
                list(pool.map(self.thumb, todo))

    def _whole(self, path: str, image: np.ndarray) -> np.ndarray:
        """The whole picture and its mirror image, as two rows."""
        kept = self._wholes.get_recent(path)
        if kept is not None:
            return kept
        return self._wholes.keep(
            path, _with_mirror(_sample([image], self._resampling_for(image.shape))[0])
        )

    def _crops_of(self, path: str, image: np.ndarray, aspect: float) -> np.ndarray:
        """Crops of ``image`` shaped like the other photo (aspect ``aspect``), all sizes."""
        key = (path, round(aspect * 20))
        kept = self._crops.get_recent(key)
        if kept is None:
            kept = self._crops.keep(
                key, _sample([image], self._resampling_for(image.shape, aspect))[0]
            )
        return kept

    def _resampling_for(self, shape: tuple[int, ...], aspect: float | None = None) -> _Resampling:
        """How the whole picture (``aspect`` None) or its crops are resampled."""
        height, width = shape
        key = (height, width, None if aspect is None else round(aspect * 1e6))
        kept = self._resamplings.get_recent(key)
        if kept is None:
            whole: Boxes = [(width, height, np.zeros(1), np.zeros(1))]
            boxes = whole if aspect is None else _crops(height, width, aspect)
            kept = self._resamplings.keep(key, _Resampling((height, width), boxes))
        return kept

    def prepare(self, pairs: Sequence[tuple[str, str]]) -> None:
        """Score these pairs together for :meth:`match` (those of the last call forgotten):
        their whole pictures and crops resampled a batch of same-shaped pictures at a time, the
        pairs of one shape compared whole in one product, the others searched over crops; their
        signatures read in one go (one at a time, 1,000 groups of 30 took 2,400 reads)."""
        self._scores.clear()
        self.prefetch({path for pair in pairs for path in pair})
        self._score(pairs)

    def match(self, a: str, b: str) -> float | None:
        """How well one photo's pixels (mirrored or not) line up with a crop of the other
        (None: a signature could not be read)."""
        if (a, b) not in self._scores:
            self._score([(a, b)])
        return self._scores.pop((a, b), None)

    def _score(self, pairs: Sequence[tuple[str, str]]) -> None:
        readable = [
            (a, b, ta, tb)
            for a, b in pairs
            if (ta := self.thumb(a)) is not None and (tb := self.thumb(b)) is not None
        ]
        self._sample_wholes(readable)
        self._settle_as_they_are([(a, b) for a, b, ta, tb in readable if ta.shape == tb.shape])
        searched = [(a, b, ta, tb) for a, b, ta, tb in readable if (a, b) not in self._scores]
        self._sample_crops(searched)
        self._search_crops(searched)

    def _search_crops(self, searched: Sequence[tuple[str, str, np.ndarray, np.ndarray]]) -> None:
        """Each pair's best alignment: one photo's crops (shaped like the other) against the
        other's whole picture and its mirror image, both ways (a product per pair and way:
        stacking a batch's crops first copied 38 MB a batch and took twice as long)."""
        for a, b, ta, tb in searched:
            best = -1.0
            for big, small, big_path, small_path in ((ta, tb, a, b), (tb, ta, b, a)):
                crops = self._crops_of(big_path, big, small.shape[1] / small.shape[0])
                best = max(best, float((crops @ self._whole_of(small_path).T).max()))
            self._scores[(a, b)] = best

    def _sample_wholes(self, readable: Sequence[tuple[str, str, np.ndarray, np.ndarray]]) -> None:
        wholes: dict[tuple[int, int], dict[str, np.ndarray]] = {}
        for a, b, ta, tb in readable:
            for path, image in ((a, ta), (b, tb)):
                if path not in self._wholes:
                    wholes.setdefault(image.shape, {})[path] = image  # type: ignore[index]
        for shape, todo in wholes.items():
            for path, whole in zip(
                todo, _sample(list(todo.values()), self._resampling_for(shape)), strict=True
            ):
                self._wholes.keep(path, _with_mirror(whole))

    def _sample_crops(self, searched: Sequence[tuple[str, str, np.ndarray, np.ndarray]]) -> None:
        """Each photo's crops shaped like its partner, for the first partner of each shape."""
        crops: dict[tuple[int, int, float], dict[tuple[str, int], np.ndarray]] = {}
        asked: set[tuple[str, int]] = set()
        for a, b, ta, tb in searched:
            for big, small, big_path in ((ta, tb, a), (tb, ta, b)):
                aspect = small.shape[1] / small.shape[0]
                key = (big_path, round(aspect * 20))
                if key not in self._crops and key not in asked:
                    asked.add(key)
                    crops.setdefault((*big.shape, aspect), {})[key] = big  # type: ignore[index]
        for (height, width, aspect), todo in crops.items():
            made = _sample(list(todo.values()), self._resampling_for((height, width), aspect))
            for key, rows in zip(todo, made, strict=True):
                self._crops.keep(key, rows)

    def _settle_as_they_are(self, pairs: Sequence[tuple[str, str]]) -> None:
        """Which of these pairs of pictures of one shape are settled without a search:
        compared whole (the one, against the other and its mirror image) is exactly the
        alignment at scale 1.0 that the search tries among others, so when it reaches
        ``enough`` the pair is a match whatever the crops would add. Resized, recompressed and
        brightened copies end here, all of a batch in one product; crops and different shapes
        are searched."""
        if self.enough is None or not pairs:
            return
        first = np.stack([self._whole_of(a)[0] for a, _ in pairs])
        second = np.stack([self._whole_of(b) for _, b in pairs])
        scores = np.einsum("nd,nkd->nk", first, second).max(axis=1)
        self._scores.update(
            (pair, float(score)) for pair, score in zip(pairs, scores, strict=True)
            if score >= self.enough
        )  # fmt: skip

    def _whole_of(self, path: str) -> np.ndarray:
        """The whole picture of a photo whose signature was read, resampled once."""
        kept = self._wholes.get_recent(path)
        if kept is None:
            thumb = self.thumb(path)
            assert thumb is not None, path  # only pairs whose signatures were read come here
            kept = self._whole(path, thumb)
        return kept
