"""Tags, filters, several examples, variety and duplicates, on a real Milvus Lite store.

One library is indexed once for the module (real JPEGs from conftest, the two real photos
scikit-learn ships when it is installed, edited copies and a burst of near-identical shots);
the tests only read it. The CLI tests use their own store.
"""

from __future__ import annotations

import json
import os
import random
import threading
import time
from collections.abc import Iterator
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any

import pytest
import sklearn.datasets
from conftest import run_cli, scene, write_photos
from photocomic.server.cli import main as cli_main
from photocomic.tools.config import Settings
from photocomic.tools.errors import InvalidInput, NotFound
from photocomic.tools.find.contract import DuplicateReport
from photocomic.tools.find.filters import SearchFilters
from photocomic.tools.find.ranking import mmr_order
from photocomic.tools.owner.library import Library as PhotoLibrary
from photocomic.tools.policy import Scope
from PIL import Image, ImageEnhance

# Two real photographs (a daisy, a Chinese temple) ship inside scikit-learn, a test
# dependency: synthetic scenes are too alike for the model to tell heavy edits apart.
REAL = Path(sklearn.datasets.__file__).parent / "images"

TRIP_DAY = datetime(2023, 7, 15, 12, tzinfo=timezone.utc).timestamp()
HOME_DAY = datetime(2021, 1, 10, 12, tzinfo=timezone.utc).timestamp()
OLD_DAY = datetime(2019, 5, 1, 12, tzinfo=timezone.utc).timestamp()


def _edit(src: Path, dst: Path, how: str) -> None:
    with Image.open(src) as img:
        img = img.convert("RGB")
        quality = 90
        if how == "crop70_grey":
            w, h = img.size
            img = img.crop((w * 15 // 100, h * 15 // 100, w * 85 // 100, h * 85 // 100))
            img = img.convert("L").convert("RGB")
        elif how == "half_q20":
            img, quality = img.resize((img.width // 2, img.height // 2)), 20
        elif how == "brighten":
            img = ImageEnhance.Brightness(img).enhance(1.5)
        img.save(dst, "JPEG", quality=quality)


def _burst(src: Path, folder: Path, count: int) -> list[Path]:
    rng = random.Random(5)
    folder.mkdir(parents=True, exist_ok=True)
    shots = []
    with Image.open(src) as img:
        base = img.convert("RGB")
    for n in range(count):
        w, h = base.size
        dx, dy = rng.randint(0, 12), rng.randint(0, 9)
        shot = base.crop((dx, dy, w - 12 + dx, h - 9 + dy)).resize((w, h))
        shot = ImageEnhance.Brightness(shot).enhance(rng.uniform(0.95, 1.05))
        path = folder / f"burst_{n}.jpg"
        shot.save(path, "JPEG", quality=90)
        shots.append(path)
    return shots


class Lib:
    """The indexed library and the paths the tests ask about."""

    def __init__(self, root: Path, library: PhotoLibrary) -> None:
        self.root = root
        self.library = library
        self.searcher = library.searcher
        self.ids = {str(r.path): r.photo_id for r in library.store.iter_rows()}  # type: ignore[union-attr]

    def id(self, relative: str) -> int:
        return self.ids[str(self.root / relative)]

    def rel(self, path: str) -> str:
        return os.path.relpath(path, self.root)


@pytest.fixture(scope="module")
def lib(tmp_path_factory: pytest.TempPathFactory, lite0: object) -> Iterator[Lib]:
    root = tmp_path_factory.mktemp("library").resolve()
    home = root / "home"
    write_photos(home, 10)
    write_photos(root / "trip", 4, start=100)
    write_photos(root / "trip2", 1, start=150)
    for path in home.iterdir():
        os.utime(path, (HOME_DAY, HOME_DAY))
    for path in [*(root / "trip").iterdir(), *(root / "trip2").iterdir()]:
        os.utime(path, (TRIP_DAY, TRIP_DAY))
    edits = root / "edits"
    edits.mkdir()
    _edit(home / "photo_0003.jpg", edits / "crop70_grey_0003.jpg", "crop70_grey")
    _edit(home / "photo_0005.jpg", edits / "half_q20_0005.jpg", "half_q20")
    _edit(home / "photo_0008.jpg", edits / "brighten_0008.jpg", "brighten")
    scene(200).save(root / "burst_source.jpg", "JPEG", quality=90)
    _burst(root / "burst_source.jpg", root / "bursts", 4)
    (root / "real").mkdir()
    for name in ("flower.jpg", "china.jpg"):
        (root / "real" / name).write_bytes((REAL / name).read_bytes())
    for path in root.rglob("*.jpg"):
        if path.parent.name not in {"home", "trip", "trip2"}:
            os.utime(path, (OLD_DAY, OLD_DAY))
    # the model loaded once per run
    library = PhotoLibrary(Settings(data_dir=tmp_path_factory.mktemp("data")), lambda: lite0)  # type: ignore[arg-type,return-value]
    summary = library.index(Scope(), str(root))
    assert not summary.failed
    yield Lib(root, library)
    library.close()


# -- filters ---------------------------------------------------------------------------------


def test_folder_filter_is_a_path_prefix_and_not_a_name_prefix(lib: Lib) -> None:
    query = lib.id("home/photo_0001.jpg")
    only = SearchFilters(folder=str(lib.root / "trip"))
    hits = lib.searcher.similar(photo_ids=[query], limit=20, filters=only)[0].hits
    assert sorted(lib.rel(h.path) for h in hits) == [
        f"trip/photo_{n:04d}.jpg" for n in range(100, 104)
    ]
    # a trailing separator means the same folder
    again = SearchFilters(folder=str(lib.root / "trip") + os.sep)
    assert len(lib.searcher.similar(photo_ids=[query], limit=20, filters=again)[0].hits) == 4


def test_date_filters_include_both_days_and_combine_with_the_folder(lib: Lib) -> None:
    query = lib.id("home/photo_0001.jpg")

    def found(**kw: object) -> set[str]:
        filters = SearchFilters(**kw)  # type: ignore[arg-type]
        hits = lib.searcher.similar(photo_ids=[query], limit=50, filters=filters)[0].hits
        return {lib.rel(h.path).split("/")[0] for h in hits}

    assert found(taken_after=date(2023, 7, 15)) == {"trip", "trip2"}
    assert found(taken_before=date(2023, 7, 15), taken_after=date(2023, 7, 15)) == {"trip", "trip2"}
    assert found(taken_before=date(2023, 7, 14), taken_after=date(2021, 1, 10)) == {"home"}
    assert found(taken_after=date(2023, 7, 16), taken_before=date(2024, 1, 1)) == set()
    assert found(taken_after=date(2023, 1, 1), folder=str(lib.root / "trip2")) == {"trip2"}
    with pytest.raises(InvalidInput, match="later than"):
        found(taken_after=date(2024, 1, 2), taken_before=date(2024, 1, 1))


def test_tag_filter_keeps_only_photos_tagged_so(lib: Lib) -> None:
    row = lib.library.store.get([lib.id("home/photo_0002.jpg")])[0]
    label = row.labels[0]
    filters = SearchFilters(tag=label)
    query = lib.id("home/photo_0001.jpg")
    hits = lib.searcher.similar(photo_ids=[query], limit=50, filters=filters)[0].hits
    assert hits and all(label in h.labels for h in hits)
    assert row.path in {h.path for h in hits}
    assert lib.searcher.similar(photo_ids=[query], filters=filters)[0].note is None
    partly = SearchFilters(tag=f"{label} or moonlightz")
    assert "moonlightz" in (lib.searcher.similar(photo_ids=[query], filters=partly)[0].note or "")
    with pytest.raises(InvalidInput, match="Did you mean"):
        SearchFilters(tag="dgo").expression()
    hits = lib.searcher.similar(
        photo_ids=[lib.id("home/photo_0001.jpg")], filters=SearchFilters(tag="building")
    )[0].hits
    # the real photo of a building is found; anything else the filter lets through is tagged so
    # too (a synthetic scene can score as a building on one CPU and not on another)
    assert "real/china.jpg" in [lib.rel(h.path) for h in hits]
    rows = lib.library.store.get([h.photo_id for h in hits])
    assert all("building" in r.categories + r.labels for r in rows)


# -- several examples ----------------------------------------------------------------------


def test_like_examples_combine_into_one_query_and_stay_out_of_the_hits(lib: Lib) -> None:
    liked = [lib.id("bursts/burst_0.jpg"), lib.id("bursts/burst_1.jpg")]
    results = lib.searcher.similar(like=liked, limit=5)
    assert len(results) == 1
    paths = [lib.rel(h.path) for h in results[0].hits]
    assert not {"bursts/burst_0.jpg", "bursts/burst_1.jpg"} & set(paths)
    assert set(paths[:3]) == {"burst_source.jpg", "bursts/burst_2.jpg", "bursts/burst_3.jpg"}
    assert "like" in results[0].query
    # a photo id given with like is an example too, and left out as well
    both = lib.searcher.similar(photo_ids=[lib.id("burst_source.jpg")], like=liked, limit=5)
    assert len(both) == 1
    assert "burst_source.jpg" not in {lib.rel(h.path) for h in both[0].hits}


def test_unlike_pushes_away_what_looks_like_the_disliked_photo(lib: Lib) -> None:
    query = lib.id("home/photo_0003.jpg")
    disliked = lib.id("burst_source.jpg")
    siblings = {lib.id(f"bursts/burst_{n}.jpg") for n in range(4)}
    plain = lib.searcher.similar(like=[query], limit=30)[0].hits
    steered = lib.searcher.similar(like=[query], unlike=[disliked], limit=30)[0].hits
    assert disliked not in {h.photo_id for h in steered}

    def rank_of_siblings(hits: list) -> float:  # type: ignore[type-arg]
        ranks = [h.rank for h in hits if h.photo_id in siblings]
        return sum(ranks) / len(ranks) if ranks else 31.0

    assert rank_of_siblings(steered) > rank_of_siblings(plain)
    # without like, one result per example as before
    assert len(lib.searcher.similar(photo_ids=[query, disliked], limit=3)) == 2


def test_example_errors_say_what_to_do(lib: Lib) -> None:
    some = lib.id("home/photo_0001.jpg")
    with pytest.raises(InvalidInput, match="both like and unlike"):
        lib.searcher.similar(like=[some], unlike=[some])
    with pytest.raises(InvalidInput, match="unlike alone"):
        lib.searcher.similar(unlike=[some])
    with pytest.raises(NotFound, match="unknown photo id 12345"):
        lib.searcher.similar(like=[some, 12345])
    with pytest.raises(InvalidInput, match="limit"):
        lib.searcher.similar(like=[some], limit=0)


# -- variety -------------------------------------------------------------------------------


def test_mmr_picks_one_of_a_near_identical_pair_before_the_next_distinct_photo() -> None:
    import numpy as np

    a = np.array([1.0, 0.0, 0.0])
    a2 = np.array([0.99, 0.141, 0.0])
    b = np.array([0.6, 0.0, 0.8])
    vectors = np.stack([a, a2, b])
    relevance = np.array([1.0, 0.99, 0.6])
    assert mmr_order(relevance, vectors, 3, lam=1.0) == [0, 1, 2]
    assert mmr_order(relevance, vectors, 2) == [0, 2]


def test_diversify_keeps_a_burst_from_filling_the_results(lib: Lib) -> None:
    query = [str(lib.root / "burst_source.jpg")]
    burst = {"burst_source.jpg", *(f"bursts/burst_{n}.jpg" for n in range(4))}
    plain = lib.searcher.similar(sources=query, limit=5)[0].hits
    varied = lib.searcher.similar(sources=query, limit=5, diversify=True)[0].hits
    assert sum(lib.rel(h.path) in burst for h in plain) == 5
    assert sum(lib.rel(h.path) in burst for h in varied) <= 2
    assert lib.rel(varied[0].path) == "burst_source.jpg"
    assert [h.rank for h in varied] == [1, 2, 3, 4, 5]
    assert len({h.photo_id for h in varied}) == 5


# -- duplicates ------------------------------------------------------------------------------


def test_duplicates_group_each_edited_copy_with_its_original_only(lib: Lib) -> None:
    report = lib.searcher.duplicates()
    groups = [sorted(lib.rel(p.path) for p in g.photos) for g in report.groups]
    for pair in (
        ["edits/crop70_grey_0003.jpg", "home/photo_0003.jpg"],
        ["edits/half_q20_0005.jpg", "home/photo_0005.jpg"],
        ["edits/brighten_0008.jpg", "home/photo_0008.jpg"],
    ):
        assert pair in groups
    sizes = [len(g.photos) for g in report.groups]
    assert sizes == sorted(sizes, reverse=True)
    for group in report.groups:
        assert group.photos[0].score == 1.0
        if len(group.photos) == 2:  # in larger groups a photo may join through another one
            assert report.threshold <= group.photos[1].score <= 1.0
    half = next(g for g in report.groups if any("half_q20" in p.path for p in g.photos))
    assert lib.rel(half.photos[0].path) == "home/photo_0005.jpg"  # the larger one comes first
    only_edits = lib.searcher.duplicates(filters=SearchFilters(folder=str(lib.root / "edits")))
    assert only_edits.groups == [] and only_edits.checked == 3
    with pytest.raises(InvalidInput, match="threshold"):
        lib.searcher.duplicates(threshold=1.5)


def test_a_copy_that_lines_up_as_it_is_needs_no_search_over_crops(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A resized, brightened copy matches its original whole, so the duplicate check settles it
    without sampling crops; the score is one of the alignments the full search tries (never more
    than its best). A cropped copy is searched over crops as before, to the same score."""
    from photocomic.tools.find import pixel_match
    from photocomic.tools.photos.pixel_signature import pixel_signature

    original = scene(3)
    thumbs = {
        "original": pixel_signature(original),
        "copy": pixel_signature(ImageEnhance.Brightness(original.resize((320, 240))).enhance(1.3)),
        "cropped": pixel_signature(original.crop((96, 72, 576, 432))),
    }
    searched: list[str] = []
    crops_of = pixel_match.PixelMatcher._crops_of
    monkeypatch.setattr(
        pixel_match.PixelMatcher, "_crops_of",
        lambda self, path, *a: searched.append(path) or crops_of(self, path, *a),
    )  # fmt: skip

    def matcher(enough: float | None) -> pixel_match.PixelMatcher:
        kept = lambda paths: {p: thumbs[p] for p in paths}  # noqa: E731
        return pixel_match.PixelMatcher(load=kept, enough=enough)

    quick = matcher(0.88).match("original", "copy")
    assert quick is not None and quick >= 0.88 and searched == []
    best = matcher(None).match("original", "copy")
    assert best is not None and quick <= best + 1e-6 and searched
    searched.clear()
    crop_quick, crop_best = matcher(0.88).match("original", "cropped"), matcher(None).match(
        "original", "cropped"
    )
    assert crop_best is not None and crop_best >= 0.88, "a 75% crop is still the same shot"
    assert crop_quick == pytest.approx(crop_best) and len(searched) == 4


def _members(report: object) -> list[list[int]]:
    return [[p.photo_id for p in g.photos] for g in report.groups]  # type: ignore[attr-defined]


def test_duplicates_open_no_photo_and_an_old_store_gets_its_signatures_on_a_rescan(
    lib: Lib, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The pixel signatures are kept while indexing, so the check decodes nothing; a store
    indexed before they were kept decodes what it must (and keeps it), and after one re-scan
    decodes nothing either, with the same groups."""
    from photocomic.tools.find import pixel_match

    before = _members(lib.searcher.duplicates())
    opened: list[str] = []
    real_open = pixel_match.open_photo
    monkeypatch.setattr(
        pixel_match, "open_photo", lambda path, **kw: opened.append(path) or real_open(path, **kw)
    )
    assert _members(lib.searcher.duplicates()) == before and opened == []
    signatures = lib.library.store.signatures
    signatures.clear()  # as a store indexed by an older photocomic
    assert _members(lib.searcher.duplicates()) == before and opened
    assert 0 < len(signatures.signed()) < len(lib.ids), "what it decoded is kept, only that"
    signatures.clear()
    summary = lib.library.index(Scope(), str(lib.root))
    assert summary.added == summary.updated == 0 and len(signatures.signed()) == len(lib.ids)
    opened.clear()
    assert _members(lib.searcher.duplicates()) == before and opened == []


COPIES = 60


def test_sixty_copies_of_each_photo_make_groups_of_exactly_sixty(
    tmp_path: Path, lite0: object
) -> None:
    """Copies tie for every photo's nearest neighbours; eight neighbours a photo could leave a
    large group split. Each group holds all its copies, and none mixes two photos."""
    originals = write_photos(tmp_path / "originals", 2, start=700, size=(320, 240))
    for n in range(COPIES - 1):
        for path in originals:
            copy = tmp_path / f"copy_{n:02d}" / path.name
            copy.parent.mkdir(exist_ok=True)
            copy.write_bytes(path.read_bytes())
    library = PhotoLibrary(Settings(data_dir=tmp_path / "data"), lambda: lite0)  # type: ignore[arg-type,return-value]
    try:
        assert not library.index(Scope(), str(tmp_path)).failed
        report = library.searcher.duplicates()
        assert sorted(len(g.photos) for g in report.groups) == [COPIES, COPIES]
        for group in report.groups:
            assert len({Path(p.path).name for p in group.photos}) == 1, "one photo per group"
    finally:
        library.close()


def test_a_folder_of_copies_of_one_photo_is_one_group(tmp_path: Path, lite0: object) -> None:
    """Every photo the same file: the copies join at once and no neighbour is left to look at;
    the check answers one group of all of them."""
    original = write_photos(tmp_path / "photos", 1, start=720, size=(320, 240))[0]
    for n in range(3):
        (tmp_path / "photos" / f"copy_{n}.jpg").write_bytes(original.read_bytes())
    library = PhotoLibrary(Settings(data_dir=tmp_path / "data"), lambda: lite0)  # type: ignore[arg-type,return-value]
    try:
        assert not library.index(Scope(), str(tmp_path / "photos")).failed
        report = library.searcher.duplicates()
        assert [len(g.photos) for g in report.groups] == [4]
    finally:
        library.close()


def test_paging_a_duplicate_check_asks_once_until_the_library_changes(
    tmp_path: Path, lite0: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The report of a local store is kept: the next page (or the same question again, from
    any door of the engine) is answered from it, and a write of rows makes it new."""
    from photocomic.tools.find import duplicate_checks

    photos = tmp_path / "photos"
    original = write_photos(photos, 1, start=730, size=(320, 240))[0]
    (photos / "copy_a.jpg").write_bytes(original.read_bytes())
    checks: list[float] = []
    real = duplicate_checks.duplicate_groups
    monkeypatch.setattr(
        duplicate_checks, "duplicate_groups",
        lambda store, t, *a, **k: checks.append(t) or real(store, t, *a, **k),
    )  # fmt: skip
    library = PhotoLibrary(Settings(data_dir=tmp_path / "data"), lambda: lite0)  # type: ignore[arg-type,return-value]
    try:
        assert not library.index(Scope(), str(photos)).failed
        first = library.searcher.duplicates()
        assert [len(g.photos) for g in first.groups] == [2] and len(checks) == 1
        first.groups.clear()  # what a caller does with its answer is its own
        again = library.searcher.duplicates()
        assert [len(g.photos) for g in again.groups] == [2] and len(checks) == 1
        library.searcher.duplicates(threshold=0.95)
        assert len(checks) == 2, "another question is another check"
        (photos / "copy_b.jpg").write_bytes(original.read_bytes())
        assert library.index(Scope(), str(photos)).added == 1
        grown = library.searcher.duplicates()
        assert [len(g.photos) for g in grown.groups] == [3] and len(checks) == 3
        (photos / "copy_a.jpg").unlink()
        assert library.index(Scope(), str(photos)).removed == 1
        assert [len(g.photos) for g in library.searcher.duplicates().groups] == [2]
        assert len(checks) == 4
    finally:
        library.close()


def test_a_long_duplicate_check_goes_on_after_its_asker_stops_waiting(
    tmp_path: Path, lite0: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An asker that cannot wait hears how far the check is; asking again joins it (one check,
    not two), a finished check's report goes to the asker that comes back for it, another
    question waits its turn (one more than the checks allowed at once is refused), and a check
    that fails tells its asker why."""
    from photocomic.tools.find import duplicate_checks
    from photocomic.tools.find.contract import CheckUnderWay

    photos = tmp_path / "photos"
    original = write_photos(photos, 1, start=731, size=(320, 240))[0]
    (photos / "copy_a.jpg").write_bytes(original.read_bytes())
    release, started = threading.Event(), []
    real = duplicate_checks.duplicate_groups

    def slow(store: object, threshold: float, *args: object, progress: Any) -> DuplicateReport:
        started.append(threshold)
        progress("finding each photo's nearest", 0.4)
        if threshold == 0.5:
            raise InvalidInput("no such check")
        release.wait(30)
        return real(store, threshold, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(duplicate_checks, "duplicate_groups", slow)
    library = PhotoLibrary(Settings(data_dir=tmp_path / "data"), lambda: lite0)  # type: ignore[arg-type,return-value]
    checks = library.searcher.duplicate_checks
    try:
        assert not library.index(Scope(), str(photos)).failed
        early = checks.report(wait=0.5)
        assert isinstance(early, CheckUnderWay) and early.state == "running"
        assert early.stage == "finding each photo's nearest" and early.progress == 0.4
        assert isinstance(checks.report(wait=0.1), CheckUnderWay) and started == [0.88]
        other = checks.report(threshold=0.95, wait=0.1)
        assert isinstance(other, CheckUnderWay) and other.stage == duplicate_checks.QUEUED
        shown = [(c.threshold, c.stage, c.progress) for c in checks.running(None)]
        assert shown == [(0.88, early.stage, 0.4), (0.95, duplicate_checks.QUEUED, 0.0)]
        assert checks.running([photos]) == [], "another caller's roots: not its checks"
        monkeypatch.setattr(duplicate_checks, "CHECKS_AT_ONCE", 2)
        with pytest.raises(InvalidInput, match=r"2 duplicate checks .* \(thresholds 0.88, 0.95\)"):
            checks.report(threshold=0.97, wait=0)
        joined = checks.report(threshold=0.95, wait=0)
        assert isinstance(joined, CheckUnderWay), "a question under way joins, never refused"
        release.set()
        for _ in range(100):  # both end without an asker: their reports wait for one
            if not checks._running:
                break
            time.sleep(0.1)
        assert checks.running(None) == [], "a finished check is no longer under way"
        came_back = checks.report(wait=0)
        assert isinstance(came_back, DuplicateReport) and len(came_back.groups) == 1
        assert isinstance(checks.report(threshold=0.95, wait=0), DuplicateReport)
        assert started == [0.88, 0.95], "the same question joined the first check"
        with pytest.raises(InvalidInput, match="no such check"):
            checks.report(threshold=0.5, wait=5)
        assert library.searcher.duplicates(threshold=0.95).groups == came_back.groups
        assert started == [0.88, 0.95, 0.5], "the last report is kept, not made again"
        assert isinstance(checks.report(threshold=0.9, wait=0), CheckUnderWay)
        for _ in range(100):  # it ends with no asker, then the library changes
            if not checks._running:
                break
            time.sleep(0.1)
        (photos / "copy_b.jpg").write_bytes(original.read_bytes())
        assert library.index(Scope(), str(photos)).added == 1
        grown = checks.report(threshold=0.9, wait=10)
        assert isinstance(grown, DuplicateReport) and [len(g.photos) for g in grown.groups] == [3]
        assert started[-2:] == [0.9, 0.9], "a report from before the change is not handed out"
    finally:
        release.set()
        library.close()


def test_an_edited_copy_finds_its_original_first(lib: Lib) -> None:
    home = SearchFilters(folder=str(lib.root / "home"))
    copy = str(lib.root / "edits/brighten_0008.jpg")
    hits = lib.searcher.similar(sources=[copy], limit=2, filters=home)[0].hits
    assert lib.rel(hits[0].path) == "home/photo_0008.jpg"
    # the embedding follows heavier edits on real photos; synthetic scenes are too alike
    # for it (the duplicate check, which also compares pixels, still pairs them)
    real = SearchFilters(folder=str(lib.root / "real"))
    for name in ("flower.jpg", "china.jpg"):
        _edit(lib.root / "real" / name, lib.root / f"grey_{name}", "crop70_grey")
        copy = str(lib.root / f"grey_{name}")
        for filters in (real, None):
            hits = lib.searcher.similar(sources=[copy], limit=1, filters=filters)[0].hits
            assert lib.rel(hits[0].path) == f"real/{name}"


# -- find by words -------------------------------------------------------------------------


def test_find_ranks_photos_by_the_score_of_the_named_tag(lib: Lib) -> None:
    rows = lib.library.store.get([lib.id(f"home/photo_{n:04d}.jpg") for n in range(10)])
    label = rows[0].labels[0]
    tagged = {r.path: r.label_scores[r.labels.index(label)] for r in rows if label in r.labels}
    result = lib.searcher.find(
        label, limit=50, filters=SearchFilters(folder=str(lib.root / "home"))
    )
    assert result.query == label
    assert {h.path for h in result.hits} == set(tagged)
    assert [h.score for h in result.hits] == sorted((h.score for h in result.hits), reverse=True)
    assert result.hits[0].score == pytest.approx(max(tagged.values()), abs=1e-3)
    assert len(lib.searcher.find(label, limit=1).hits) == 1


def test_find_real_photos_by_label_category_synonym_and_plural(lib: Lib) -> None:
    def first(text: str) -> str:
        return lib.rel(lib.searcher.find(text).hits[0].path)

    assert first("daisy") == "real/flower.jpg"
    assert first("flowers") == "real/flower.jpg"  # plural, and WordNet's flower above daisy
    assert first("palace") == "real/china.jpg"
    assert first("buildings") == "real/china.jpg"  # a category
    assert first("photos of a palace") == "real/china.jpg"


def test_find_explains_words_it_does_not_know(lib: Lib) -> None:
    with pytest.raises(InvalidInput, match=r'No tag or category matches "dgo".*Did you mean'):
        lib.searcher.find("dgo")
    with pytest.raises(InvalidInput, match="give some words"):
        lib.searcher.find("  ")
    result = lib.searcher.find("envelope on the moonlightz")
    assert result.note is not None and "moonlightz" in result.note


# -- the command line ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def cli_store(tmp_path_factory: pytest.TempPathFactory, lite0: object) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("cli-photos").resolve()
    write_photos(root, 5)
    _edit(root / "photo_0002.jpg", root / "copy_0002.jpg", "crop70_grey")
    data = tmp_path_factory.mktemp("cli-data")
    with PhotoLibrary(Settings(data_dir=data)) as library:
        library._embedder = lite0  # type: ignore[assignment]
        library.index(Scope(), str(root))
    return root, data


def _cli_json(capsys: pytest.CaptureFixture[str], *args: str) -> object:
    assert cli_main([*args, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_cli_find_duplicates_and_search_flags_print_the_documented_json(
    cli_store: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    root, data = cli_store
    with PhotoLibrary(Settings(data_dir=data)) as library:
        label = next(iter(library.store.iter_rows())).labels[0]  # type: ignore[union-attr]
    found = _cli_json(capsys, "find", label, "--limit", "3", "--data-dir", str(data))
    assert isinstance(found, dict) and set(found) == {"query", "hits"}
    assert found["query"] == label and 1 <= len(found["hits"]) <= 3
    assert {"rank", "photo_id", "path", "score", "taken_at", "labels"} <= set(found["hits"][0])

    dups = _cli_json(capsys, "duplicates", "--data-dir", str(data))
    assert isinstance(dups, dict) and list(dups) == ["groups"]
    assert [sorted(os.path.basename(p["path"]) for p in g["photos"]) for g in dups["groups"]] == [
        ["copy_0002.jpg", "photo_0002.jpg"]
    ]
    assert set(dups["groups"][0]["photos"][0]) == {"photo_id", "path", "score"}
    assert _cli_json(capsys, "duplicates", "--threshold", "0.9999", "--data-dir", str(data)) == {
        "groups": []
    }

    ids = [p["photo_id"] for p in dups["groups"][0]["photos"]]
    searched = _cli_json(
        capsys, "search", "--like", str(ids[0]), "--unlike", str(ids[1]), "--limit", "2",
        "--folder", str(root), "--after", "2000-01-01", "--before", "2100-01-01",
        "--diversify", "--data-dir", str(data),
    )  # fmt: skip
    assert isinstance(searched, list) and len(searched) == 1
    assert set(searched[0]) == {"query", "hits"} and len(searched[0]["hits"]) == 2
    assert not {h["photo_id"] for h in searched[0]["hits"]} & set(ids)


def test_cli_errors_are_one_line_with_a_hint(cli_store: tuple[Path, Path]) -> None:
    _, data = cli_store
    done = run_cli("find", "dgo", "--data-dir", str(data))
    assert done.returncode == 1
    assert done.stderr.startswith("photocomic: No tag or category matches")
    assert "Did you mean" in done.stderr and "Traceback" not in done.stderr
    done = run_cli("search", "--like", "1", "--after", "yesterday", "--data-dir", str(data))
    assert done.returncode == 2 and "not a date" in done.stderr
