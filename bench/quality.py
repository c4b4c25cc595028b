"""Search quality on real photos: find by words, several examples, duplicates, variety.

Why a benchmark and not a test: the figures need real photographs (ImageNet's, which may
not be redistributed) and minutes of indexing. Every ``*_figures`` function takes the
dataset folder(s), indexes them through the real pipeline (PhotoLibrary: timm, Milvus Lite)
into a cached work folder, and returns a flat dict of figures, so bench/run.py can import
them. Run as a script to print the tables:

    python bench/quality.py                      # all four, default dataset folders
    python bench/quality.py --only find,duplicates --work /tmp/pc-quality
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
from photocomic.tools.config import Settings
from photocomic.tools.find.filters import SearchFilters
from photocomic.tools.find.ranking import combine_examples, mmr_order
from photocomic.tools.owner.library import Library as PhotoLibrary
from photocomic.tools.policy import Scope
from photocomic.tools.store.rows import folder_expression
from PIL import Image, ImageDraw, ImageEnhance, ImageFilter, ImageOps

DATASETS = Path(__file__).resolve().parents[2] / "shared" / "datasets"
PHOTOS_1K = DATASETS / "photos-1k"
IMAGENETTE = DATASETS / "imagenette-dev"
DEFAULT_WORK = Path(tempfile.gettempdir()) / "photocomic-bench-quality"
THRESHOLDS = (0.80, 0.84, 0.86, 0.88, 0.90, 0.92, 0.95)

Figures = dict[str, Any]


# -- libraries ---------------------------------------------------------------------------------


@contextmanager
def library(work: Path, name: str, folders: Sequence[Path]) -> Iterator[PhotoLibrary]:
    """A library in ``work/name`` holding ``folders``, indexed incrementally (cheap re-runs)."""
    settings = Settings(data_dir=work / name)
    with PhotoLibrary(settings) as lib:
        for folder in folders:
            summary = lib.index(Scope(), str(folder))
            if summary.failed:
                print(f"  {len(summary.failed)} files failed to index", file=sys.stderr)
        yield lib


def wnid(path: str) -> str:
    """The ImageNet class of a dataset file (``WNID_label.JPEG`` or ``<WNID>/file``)."""
    name = os.path.basename(path)
    return name.split("_")[0] if name.startswith("n") and "_" in name else Path(path).parent.name


def _ids_by_path(lib: PhotoLibrary, expr: str = "") -> dict[str, int]:
    rows = lib.store.iter_entities(expr, fields=["path"])
    return {str(r["path"]): int(r["id"]) for r in rows}


# -- (a) find by words ------------------------------------------------------------------------


def find_figures(photos: Path = PHOTOS_1K, work: Path = DEFAULT_WORK) -> Figures:
    """``find "dog"`` precision in the top 50, and how often a class name finds its photo
    first (dog breeds, and all 1000 classes), on a folder of ``WNID_label.JPEG`` photos.
    """
    from photocomic.tools.photos.taxonomy import classes_in, imagenet_classes

    dogs = {c.wnid for c in classes_in("dog")}
    photos = photos.resolve()
    with library(work, "photos", [photos]) as lib:
        only = SearchFilters(folder=str(photos))
        started = time.perf_counter()
        top = lib.searcher.find("dog", limit=50, filters=only)
        seconds = time.perf_counter() - started
        dog_share = sum(wnid(h.path) in dogs for h in top.hits) / 50

        def first_right(classes: Sequence[Any]) -> tuple[int, list[str]]:
            right, wrong = 0, []
            for cls in classes:
                hits = lib.searcher.find(cls.label, limit=1, filters=only).hits
                if hits and wnid(hits[0].path) == cls.wnid:
                    right += 1
                else:
                    wrong.append(cls.label)
            return right, wrong

        breeds = classes_in("dog")
        breed_right, breed_wrong = first_right(breeds)
        every = imagenet_classes()
        all_right, _ = first_right(every)
    return {
        "find_dog_top50_dog_share": dog_share,
        "find_dog_seconds": round(seconds, 3),
        "breed_name_first": breed_right,
        "breeds": len(breeds),
        "breed_name_first_misses": breed_wrong,
        "class_name_first": all_right,
        "classes": len(every),
    }


# -- (b) several examples ----------------------------------------------------------------------


def _class_files(folder: Path) -> dict[str, list[str]]:
    return {
        d.name: sorted(str(f.resolve()) for f in d.iterdir() if f.is_file())
        for d in sorted(folder.iterdir())
        if d.is_dir()
    }


def _average_precision(relevant: Sequence[bool], total_relevant: int) -> float:
    hits, total = 0, 0.0
    for n, rel in enumerate(relevant, start=1):
        if rel:
            hits += 1
            total += hits / n
    return total / total_relevant if total_relevant else 0.0


def examples_figures(
    imagenette: Path = IMAGENETTE, work: Path = DEFAULT_WORK, trials: int = 20, seed: int = 0
) -> Figures:
    """Precision@10 with 1 and with 3 ``like`` examples of a class (train = library), the
    plain single-image P@10 and mAP (val photos as queries), and a relevance-feedback turn:
    the first 10 hits of a val query marked like/unlike, searched again, against simply
    reading hits 11-20.
    """
    train, val = _class_files(imagenette / "train"), _class_files(imagenette / "val")
    rng = random.Random(seed)
    with library(work, "imagenette", [imagenette / "train"]) as lib:
        ids = _ids_by_path(lib)
        cls_of = {ids[p]: c for c, files in train.items() for p in files}
        per_class = {c: [ids[p] for p in files] for c, files in train.items()}
        searcher = lib.searcher

        # plain: each val photo as a query file, full ranking for mAP
        queries = [(c, p) for c, files in val.items() for p in files]
        vectors = searcher.embed_sources([p for _, p in queries])
        rankings = lib.store.search(vectors, len(ids))
        p10, aps = [], []
        for (cls, _), hits in zip(queries, rankings, strict=True):
            relevant = [cls_of[h.row.photo_id] == cls for h in hits]
            p10.append(np.mean(relevant[:10]))
            aps.append(_average_precision(relevant, len(per_class[cls])))

        def like_p10(k: int) -> float:
            scores = []
            for cls, members in per_class.items():
                for _ in range(trials):
                    liked = rng.sample(members, k)
                    hits = searcher.similar(like=liked, limit=10)[0].hits
                    scores.append(np.mean([cls_of[h.photo_id] == cls for h in hits]))
            return float(np.mean(scores))

        like1, like3, like5 = like_p10(1), like_p10(3), like_p10(5)

        # one feedback turn, at several weights for the disliked examples
        feedback: dict[float, list[float]] = {w: [] for w in (0.0, 0.25, 0.5, 1.0)}
        next10 = []
        for (cls, _), vector, hits in zip(queries, vectors, rankings, strict=True):
            first = [h.row.photo_id for h in hits[:10]]
            next10.append(np.mean([cls_of[h.row.photo_id] == cls for h in hits[10:20]]))
            liked = [pid for pid in first if cls_of[pid] == cls]
            disliked = [pid for pid in first if cls_of[pid] != cls]
            pos = np.vstack([vector[None, :], searcher._vectors(liked)]) if liked else vector[None]
            neg = searcher._vectors(disliked) if disliked else None
            exclude = f"id not in [{', '.join(map(str, first))}]"
            for weight, out in feedback.items():
                query = combine_examples(pos, neg, unlike_weight=weight)
                again = lib.store.search(query[None, :], 10, exclude)[0]
                out.append(np.mean([cls_of[h.row.photo_id] == cls for h in again]))
    figures: Figures = {
        "single_image_p10": round(float(np.mean(p10)), 4),
        "single_image_map": round(float(np.mean(aps)), 4),
        "like1_p10": round(like1, 4),
        "like3_p10": round(like3, 4),
        "like5_p10": round(like5, 4),
        "feedback_next10_plain_p10": round(float(np.mean(next10)), 4),
    }
    for weight, scores in feedback.items():
        figures[f"feedback_p10_unlike_weight_{weight}"] = round(float(np.mean(scores)), 4)
    return figures


# -- (c) duplicates ----------------------------------------------------------------------------


def crop70(img: Image.Image) -> Image.Image:
    return _centre_crop(img, 0.70)


def _centre_crop(img: Image.Image, share: float) -> Image.Image:
    w, h = img.size
    cw, ch = round(w * share), round(h * share)
    left, top = (w - cw) // 2, (h - ch) // 2
    return img.crop((left, top, left + cw, top + ch))


def half_size(img: Image.Image) -> Image.Image:
    return img.resize((max(1, img.width // 2), max(1, img.height // 2)), Image.Resampling.LANCZOS)


def brighten(img: Image.Image) -> Image.Image:
    return ImageEnhance.Brightness(img).enhance(1.5)


def greyscale(img: Image.Image) -> Image.Image:
    return img.convert("L").convert("RGB")


def same(img: Image.Image) -> Image.Image:
    return img


# The edits named in issue 7, mixed across the photos (quality is the JPEG quality saved).
EDITS: dict[str, tuple[Callable[[Image.Image], Image.Image], int]] = {
    "crop70": (crop70, 90),
    "resize50": (half_size, 90),
    "jpeg20": (same, 20),
    "brighten": (brighten, 90),
    "greyscale": (greyscale, 90),
}


def rotate4(img: Image.Image) -> Image.Image:
    return _centre_crop(img.rotate(4, resample=Image.Resampling.BICUBIC), 0.9)


def corner_crop(img: Image.Image) -> Image.Image:
    w, h = img.size
    return img.crop((0, 0, round(w * 0.75), round(h * 0.75)))


def thumbnail(img: Image.Image) -> Image.Image:
    return img.resize((max(1, img.width // 4), max(1, img.height // 4)), Image.Resampling.BILINEAR)


def vivid(img: Image.Image) -> Image.Image:
    return ImageEnhance.Color(ImageEnhance.Contrast(img).enhance(1.4)).enhance(1.5)


def blur(img: Image.Image) -> Image.Image:
    return img.filter(ImageFilter.GaussianBlur(2.0))


def caption(img: Image.Image) -> Image.Image:
    framed = ImageOps.expand(img, border=max(4, img.width // 40), fill="white")
    draw = ImageDraw.Draw(framed)
    band = framed.height - framed.height // 8
    draw.rectangle((0, band, framed.width, framed.height), fill="black")
    draw.text((10, framed.height - framed.height // 10), "Summer 2024 <3", fill="white")
    return framed


def combo(img: Image.Image) -> Image.Image:
    return greyscale(crop70(img))


# Edits held back from tuning: the threshold must carry over to them.
HELD_OUT_EDITS: dict[str, tuple[Callable[[Image.Image], Image.Image], int]] = {
    "rotate4": (rotate4, 90),
    "corner_crop75": (corner_crop, 90),
    "thumbnail25_q50": (thumbnail, 50),
    "vivid": (vivid, 90),
    "blur2": (blur, 90),
    "mirror": (ImageOps.mirror, 90),
    "caption_frame": (caption, 85),
    "crop70_grey_q20": (combo, 20),
}


def crop80_offcentre(img: Image.Image) -> Image.Image:
    w, h = img.size
    left, top = round(w * 0.15), round(h * 0.05)
    return img.crop((left, top, left + round(w * 0.8), top + round(h * 0.8)))


def rotate2_brighten(img: Image.Image) -> Image.Image:
    return ImageEnhance.Brightness(img.rotate(2, resample=Image.Resampling.BICUBIC)).enhance(1.3)


def square_crop(img: Image.Image) -> Image.Image:
    side = min(img.size)
    return _centre_crop(img, 1.0).crop(
        ((img.width - side) // 2, (img.height - side) // 2,
         (img.width - side) // 2 + side, (img.height - side) // 2 + side)
    )  # fmt: skip


def washed_out(img: Image.Image) -> Image.Image:
    return ImageEnhance.Brightness(ImageEnhance.Contrast(img).enhance(0.6)).enhance(1.1)


def sepia(img: Image.Image) -> Image.Image:
    return ImageOps.colorize(img.convert("L"), black="#2e1f0f", white="#f5e6c8")


def downscale_sharpen(img: Image.Image) -> Image.Image:
    small = img.resize((max(1, img.width * 3 // 5), max(1, img.height * 3 // 5)))
    return small.filter(ImageFilter.UnsharpMask(radius=2, percent=120))


def border5(img: Image.Image) -> Image.Image:
    return ImageOps.expand(img, border=max(2, img.width // 20), fill="white")


def crop60(img: Image.Image) -> Image.Image:
    return _centre_crop(img, 0.60)


# A third set, first run only after the threshold and the pixel check were fixed.
FRESH_EDITS: dict[str, tuple[Callable[[Image.Image], Image.Image], int]] = {
    "crop80_offcentre_q30": (crop80_offcentre, 30),
    "rotate2_brighten": (rotate2_brighten, 90),
    "square_crop": (square_crop, 90),
    "washed_out": (washed_out, 90),
    "sepia": (sepia, 90),
    "downscale60_sharpen": (downscale_sharpen, 90),
    "border5": (border5, 90),
    "crop60": (crop60, 90),
}


def make_copies(
    originals: Sequence[str],
    edits: dict[str, tuple[Callable[[Image.Image], Image.Image], int]],
    out: Path,
) -> dict[str, tuple[str, str]]:
    """Edited copies of ``originals`` in ``out``, edits in rotation: copy → (original, edit)."""
    out.mkdir(parents=True, exist_ok=True)
    names = list(edits)
    made = {}
    for n, original in enumerate(originals):
        edit = names[n % len(names)]
        func, quality = edits[edit]
        target = out / f"{edit}__{Path(original).stem}.jpg"
        if not target.exists():
            with Image.open(original) as img:
                func(ImageOps.exif_transpose(img).convert("RGB")).save(target, quality=quality)
        made[str(target.resolve())] = (original, edit)
    return made


def _group_check(
    groups: list[list[str]], copies: dict[str, tuple[str, str]]
) -> tuple[int, dict[str, int]]:
    """How many copies sit in a group that is exactly {copy, original}, overall and per edit."""
    group_of = {path: frozenset(g) for g in groups for path in g}
    right = 0
    by_edit: dict[str, int] = {}
    for copy, (original, edit) in copies.items():
        ok = group_of.get(copy) == frozenset({copy, original})
        right += ok
        by_edit[edit] = by_edit.get(edit, 0) + ok
    return right, by_edit


def duplicate_figures(
    photos: Path = PHOTOS_1K,
    imagenette: Path | None = IMAGENETTE,
    work: Path = DEFAULT_WORK,
    count: int = 50,
    seed: int = 7,
) -> Figures:
    """Edited copies of ``count`` photos (the issue's edits, mixed) plus ``count`` other
    photos with held-back edits, added to the library: grouping per threshold, the
    similarity of each copy to its original against the closest pair of different photos,
    and whether each copy finds its original first. With ``imagenette`` (many photos of one
    subject: the hardest different-photo pairs), the same on its train folder.
    """
    photos = photos.resolve()
    files = sorted(str(p) for p in photos.iterdir() if p.suffix.lower() in {".jpeg", ".jpg"})
    rng = random.Random(seed)
    chosen = rng.sample(files, 3 * count)
    edits_dir = work / "edits" / photos.name
    copies = make_copies(chosen[:count], EDITS, edits_dir / "main")
    held = make_copies(chosen[count : 2 * count], HELD_OUT_EDITS, edits_dir / "held-out")
    fresh = make_copies(chosen[2 * count :], FRESH_EDITS, edits_dir / "fresh")
    figures: Figures = {}
    with library(work, "photos", [photos, edits_dir]) as lib:
        sets = {"main": copies, "held_out": held, "fresh": fresh}
        figures.update(_duplicate_checks(lib, photos, sets))
    if imagenette is not None:
        train = (imagenette / "train").resolve()
        gallery = sorted(str(p) for p in train.rglob("*") if p.is_file())
        picked = random.Random(seed + 1).sample(gallery, count)
        nette_dir = work / "edits" / "imagenette"
        nette = make_copies(picked, {**EDITS, **HELD_OUT_EDITS, **FRESH_EDITS}, nette_dir)
        with library(work, "imagenette-dups", [train, nette_dir]) as lib:
            checks = _duplicate_checks(lib, train, {"imagenette": nette})
            figures.update(checks)
    return figures


def _duplicate_checks(
    lib: PhotoLibrary, originals: Path, sets: dict[str, dict[str, tuple[str, str]]]
) -> Figures:
    figures: Figures = {}
    ids = _ids_by_path(lib)
    planted = {p for copies in sets.values() for c, (o, _) in copies.items() for p in (c, o)}

    # similarities: each copy to its original; each original photo to its nearest other one
    path_of = {pid: path for path, pid in ids.items()}
    originals_expr = folder_expression(str(originals))
    rows = list(lib.store.iter_entities(originals_expr, fields=["path"], with_vectors=True))
    vectors = np.asarray([r["vector"] for r in rows], dtype=np.float32)  # type: ignore[index]
    nearest = lib.store.search(vectors, 2, originals_expr)
    closest_different = sorted(
        (h[1].score, path_of[h[0].row.photo_id], h[1].row.path) for h in nearest if len(h) > 1
    )[::-1]
    figures[f"{next(iter(sets))}_closest_different_pairs"] = [
        (round(s, 4), os.path.basename(a), os.path.basename(b)) for s, a, b in closest_different[:6]
    ]
    for name, copies in sets.items():
        pairs = [(ids[c], ids[o], e) for c, (o, e) in copies.items()]
        a = np.stack([r.vector for r in lib.store.get([p[0] for p in pairs], with_vectors=True)])
        b = np.stack([r.vector for r in lib.store.get([p[1] for p in pairs], with_vectors=True)])
        sims = (a * b).sum(axis=1)
        by_edit: dict[str, list[float]] = {}
        for sim, (_, _, edit) in zip(sims, pairs, strict=True):
            by_edit.setdefault(edit, []).append(float(sim))
        figures[f"{name}_copy_similarity_min"] = round(float(sims.min()), 4)
        figures[f"{name}_copy_similarity_by_edit_min"] = {
            e: round(min(v), 4) for e, v in by_edit.items()
        }
        # search: the copy as a query file against the originals; and inside the library
        first_outside = first_inside = 0
        for copy, (original, _) in copies.items():
            hit = lib.searcher.similar(
                sources=[copy], limit=1, filters=SearchFilters(folder=str(originals))
            )[0].hits[0]
            first_outside += hit.path == original
            hits = lib.searcher.similar(photo_ids=[ids[copy]], limit=2)[0].hits
            others = [h.path for h in hits if h.path != copy]
            first_inside += bool(others) and others[0] == original
        figures[f"{name}_copy_finds_original_first"] = first_outside
        figures[f"{name}_copy_finds_original_first_in_library"] = first_inside
        figures[f"{name}_copies"] = len(copies)

    # grouping at each threshold
    for threshold in THRESHOLDS:
        started = time.perf_counter()
        report = lib.searcher.duplicates(threshold)
        seconds = time.perf_counter() - started
        groups = [[p.path for p in g.photos] for g in report.groups]
        key = f"t{threshold:.2f}"
        for name, copies in sets.items():
            right, per_edit = _group_check(groups, copies)
            figures[f"{name}_grouped_exactly_{key}"] = right
            figures[f"{name}_grouped_by_edit_{key}"] = per_edit
        stray = [g for g in groups if not planted.intersection(g)]
        figures[f"{next(iter(sets))}_stray_groups_{key}"] = len(stray)
        figures[f"{next(iter(sets))}_stray_examples_{key}"] = [
            [os.path.basename(p) for p in g] for g in stray[:3]
        ]
        figures[f"{next(iter(sets))}_duplicates_seconds_{key}"] = round(seconds, 3)
    figures[f"{next(iter(sets))}_same_groups_proposed_in_projection"] = _same_when_projected(lib)
    figures[f"{next(iter(sets))}_photos"] = len(ids)
    return figures


def _same_when_projected(lib: PhotoLibrary) -> bool:
    """Whether the groups at the default threshold stay the same when the neighbours are
    proposed in projection, as a library of more than 8,192 photos has them."""
    from photocomic.tools.find import duplicate_neighbours

    def listed() -> list[list[str]]:
        return [[p.path for p in g.photos] for g in lib.searcher.duplicates().groups]

    default = listed()
    chosen = duplicate_neighbours.proposes_in_projection
    duplicate_neighbours.proposes_in_projection = lambda count: True  # type: ignore[assignment]
    try:
        return listed() == default
    finally:
        duplicate_neighbours.proposes_in_projection = chosen


# -- (d) variety ----------------------------------------------------------------------------


def burst(img: Image.Image, rng: random.Random) -> Image.Image:
    """A near-identical next shot: a small shift and zoom, a touch of exposure change."""
    w, h = img.size
    share = rng.uniform(0.90, 0.97)
    cw, ch = round(w * share), round(h * share)
    left, top = rng.randint(0, w - cw), rng.randint(0, h - ch)
    shot = img.crop((left, top, left + cw, top + ch)).resize((w, h), Image.Resampling.BICUBIC)
    shot = shot.rotate(rng.uniform(-2, 2), resample=Image.Resampling.BICUBIC)
    return ImageEnhance.Brightness(shot).enhance(rng.uniform(0.92, 1.08))


MMR_SETTINGS = (
    (1.0, 0.0), (0.9, 0.0), (0.7, 0.0), (0.5, 0.0),
    (0.7, 0.7), (0.5, 0.7), (0.7, 0.8), (0.5, 0.8), (0.3, 0.8),
)  # fmt: skip


def diversity_figures(
    imagenette: Path = IMAGENETTE,
    work: Path = DEFAULT_WORK,
    shots: int = 6,
    settings: Sequence[tuple[float, float]] = MMR_SETTINGS,
) -> Figures:
    """Bursts of ``shots`` near-identical shots of one train photo per class join the
    library; a val query of the class then meets a burst. Reported per MMR lambda: how many
    of the top 10 are shots of one burst, and the class precision@10 (its cost), on the
    library with bursts and on the plain one. ``settings`` are (lambda, floor) pairs of
    :func:`mmr_order`; (1.0, 0.0) is the plain ranking.
    """
    train, val = _class_files(imagenette / "train"), _class_files(imagenette / "val")
    rng = random.Random(3)
    burst_dir = work / "bursts"
    burst_dir.mkdir(parents=True, exist_ok=True)
    burst_of: dict[str, str] = {}
    for cls, files in train.items():
        source = files[0]
        with Image.open(source) as img:
            base = img.convert("RGB")
        for n in range(shots):
            target = burst_dir / f"{cls}_burst{n}.jpg"
            if not target.exists():
                burst(base, rng).save(target, quality=90)
            burst_of[str(target.resolve())] = source
        burst_of[source] = source
    figures: Figures = {}
    with library(work, "imagenette-bursts", [imagenette / "train", burst_dir]) as lib:
        ids = _ids_by_path(lib)
        cls_of = {ids[p]: c for c, files in train.items() for p in files}
        cls_of.update({ids[p]: Path(p).name.split("_")[0] for p in burst_of if p in ids})
        group = {ids[p]: src for p, src in burst_of.items()}
        # queries: val photos whose nearest train photo is a burst source (they meet a burst),
        # plus each burst source itself as a query file (the burst then fills the top)
        queries = [(c, p) for c, files in val.items() for p in files]
        vectors = lib.searcher.embed_sources([p for _, p in queries])
        pools = lib.store.search(vectors, 40, with_vectors=True)
        sources = [(c, files[0]) for c, files in train.items()]
        source_vectors = lib.searcher.embed_sources([p for _, p in sources])
        source_pools = lib.store.search(source_vectors, 40, with_vectors=True)
        meets = [
            (cls, pool)
            for (cls, _), pool in zip(queries, pools, strict=True)
            if any(h.row.photo_id in group for h in pool[:10])
        ]
        all_pools = [(c, p) for (c, _), p in zip(queries, pools, strict=True)]
        burst_pools = [(c, p) for (c, _), p in zip(sources, source_pools, strict=True)]
        figures["queries_meeting_a_burst"] = len(meets)
        for lam, floor in settings:
            key = f"lambda{lam:.1f}_floor{floor:.1f}"
            for name, pool_set in (("val_meeting_burst", meets), ("burst_source", burst_pools)):
                most, p10 = [], []
                for cls, pool in pool_set:
                    picked = _rerank(pool, lam, floor)
                    counts: dict[str, int] = {}
                    for h in picked:
                        if h.row.photo_id in group:
                            counts[group[h.row.photo_id]] = counts.get(group[h.row.photo_id], 0) + 1
                    most.append(max(counts.values(), default=0))
                    p10.append(np.mean([cls_of.get(h.row.photo_id) == cls for h in picked]))
                figures[f"{name}_max_shots_of_one_burst_in_top10_{key}"] = round(
                    float(np.mean(most)), 2
                )
                figures[f"{name}_p10_{key}"] = round(float(np.mean(p10)), 4)
            plain = [
                np.mean([cls_of.get(h.row.photo_id) == cls for h in _rerank(pool, lam, floor)])
                for cls, pool in all_pools
            ]
            figures[f"all_val_p10_{key}"] = round(float(np.mean(plain)), 4)
    with library(work, "imagenette", [imagenette / "train"]) as lib:
        ids = _ids_by_path(lib)
        cls_of = {ids[p]: c for c, files in train.items() for p in files}
        queries = [(c, p) for c, files in val.items() for p in files]
        vectors = lib.searcher.embed_sources([p for _, p in queries])
        pools = lib.store.search(vectors, 40, with_vectors=True)
        for lam, floor in settings:
            p10 = [
                np.mean([cls_of[h.row.photo_id] == cls for h in _rerank(pool, lam, floor)])
                for (cls, _), pool in zip(queries, pools, strict=True)
            ]
            key = f"lambda{lam:.1f}_floor{floor:.1f}"
            figures[f"no_bursts_val_p10_{key}"] = round(float(np.mean(p10)), 4)
    return figures


def subject_figures(
    imagenette: Path = IMAGENETTE, photos: Path = PHOTOS_1K, work: Path = DEFAULT_WORK
) -> Figures:
    """Named subjects (tools/subjects.py) on Imagenette: each class in turn is the subject,
    taught from 3 of its train photos; the library is all of Imagenette (train and val) plus
    photos-1k. Precision@K and R-precision of the subject's ranking against a plain search by
    each example and a like=3 search, then after feedback on the first 24 hits (the wrong ones
    as not_photos, the right ones as photos), counted on the photos nobody judged."""
    folders = [imagenette.resolve() / "train", imagenette.resolve() / "val", photos.resolve()]
    with library(work, "subjects", folders) as lib:
        ids = _ids_by_path(lib)
        classes = sorted({wnid(p) for p in ids if "/imagenette" in p or "/train/" in p})
        classes = [c for c in classes if any(f"/train/{c}/" in p for p in ids)]
        by_class = {
            c: [i for p, i in ids.items() if wnid(p) == c] for c in classes
        }  # photos-1k too
        rows: dict[str, dict[str, float]] = {}
        for cls in classes:
            rows[cls] = _subject_run(lib, ids, by_class[cls], cls)
    keys = next(iter(rows.values())).keys()
    mean = {k: round(float(np.mean([r[k] for r in rows.values()])), 3) for k in keys}
    return {
        "subject_classes": len(rows),
        "subject_library_photos": len(ids),
        **{f"mean_{k}": v for k, v in mean.items()},
        "per_class": {c: {k: round(v, 3) for k, v in r.items()} for c, r in rows.items()},
    }


def _subject_run(
    lib: PhotoLibrary, ids: dict[str, int], members: list[int], cls: str
) -> dict[str, float]:
    rng = random.Random(cls)
    train = sorted(i for p, i in ids.items() if f"/train/{cls}/" in p)
    examples = rng.sample(train, 3)
    relevant = set(members) - set(examples)
    r = len(relevant)

    def scores(ranked: Sequence[int], skip: set[int]) -> dict[str, float]:
        kept = [i for i in ranked if i not in skip]
        pool = relevant - skip
        cap = max(1, min(100, len(pool)))  # a class here has fewer than 100 held-back photos
        return {
            "p_at_50": sum(i in pool for i in kept[:50]) / 50,
            "p_at_100": sum(i in pool for i in kept[:100]) / 100,
            "p_at_100_capped": sum(i in pool for i in kept[:cap]) / cap,
            "r_precision": sum(i in pool for i in kept[: len(pool)]) / max(1, len(pool)),
        }

    name = f"bench-{cls}"
    subject = lib.subjects.teach(name, examples, [])
    ranked = [h.row.photo_id for h in lib.subjects.rank(subject, 100).hits]
    taught = scores(ranked, set(examples))
    singles = [
        scores(
            [h.photo_id for h in lib.searcher.similar(photo_ids=[e], limit=100)[0].hits],
            {*examples},
        )
        for e in examples
    ]
    liked = lib.searcher.similar(like=examples, limit=100)[0].hits
    like3 = scores([h.photo_id for h in liked], set(examples))
    first = [i for i in ranked if i not in examples][:24]
    right = [i for i in first if i in relevant]
    wrong = [i for i in first if i not in relevant]
    subject = lib.subjects.teach(name, right, wrong)
    again = [h.row.photo_id for h in lib.subjects.rank(subject, 100).hits]
    judged = {*examples, *first}
    before_unjudged = scores(ranked, judged)
    after = scores(again, judged)
    lib.subjects.remove(name)
    figures = {f"subject_{k}": v for k, v in taught.items()}
    figures |= {f"one_example_{k}": float(np.mean([s[k] for s in singles])) for k in taught}
    figures |= {f"like3_{k}": v for k, v in like3.items()}
    figures |= {f"unjudged_before_{k}": v for k, v in before_unjudged.items()}
    figures |= {f"after_feedback_{k}": v for k, v in after.items()}
    figures["relevant"] = r
    return figures


def _rerank(pool: Sequence[Any], lam: float, floor: float, k: int = 10) -> list[Any]:
    relevance = np.array([h.score for h in pool], dtype=np.float32)
    vectors = np.stack([h.row.vector for h in pool])
    return [pool[i] for i in mmr_order(relevance, vectors, k, lam, floor)]


# -- the script ----------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--photos", type=Path, default=PHOTOS_1K)
    parser.add_argument("--imagenette", type=Path, default=IMAGENETTE)
    parser.add_argument("--work", type=Path, default=DEFAULT_WORK)
    parser.add_argument("--only", default="find,examples,duplicates,diversity,subjects")
    args = parser.parse_args(argv)
    os.environ.setdefault("TQDM_DISABLE", "1")
    wanted = args.only.split(",")
    runs: dict[str, Callable[[], Figures]] = {
        "find": lambda: find_figures(args.photos, args.work),
        "examples": lambda: examples_figures(args.imagenette, args.work),
        "duplicates": lambda: duplicate_figures(args.photos, args.imagenette, args.work),
        "diversity": lambda: diversity_figures(args.imagenette, args.work),
        "subjects": lambda: subject_figures(args.imagenette, args.photos, args.work),
    }
    for name in wanted:
        started = time.perf_counter()
        figures = runs[name]()
        print(f"== {name} ({time.perf_counter() - started:.0f} s)")
        for key, value in figures.items():
            shown = value if isinstance(value, (int, float, str)) else json.dumps(value)
            print(f"  {key:<58} {shown}")
        sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
