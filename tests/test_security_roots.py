"""Doors with other roots see nothing of each other's folders: comics, subjects, thumbnails,
links swapped under a read, and sizes and job files that once stopped the engine.

Each test reproduces a finding of a review run as a door with other roots (see the README's
security section); the engine runs in this process and each "door" is its roots.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import scene, write_photos
from photocomic.tools.errors import InvalidInput, NotFound, PathRefused
from photocomic.tools.owner.client import job_error
from photocomic.tools.owner.contract import DoorInfo
from photocomic.tools.owner.engine import Engine
from photocomic.tools.photos.images import open_photo

WAIT = 50.0


@pytest.fixture(scope="module")
def two_folders(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """One library holding folder A and folder B, indexed, with an engine in this process."""
    base = tmp_path_factory.mktemp("roots")
    a = write_photos(base / "photos" / "a", 4, 300)
    b = write_photos(base / "photos" / "b", 4, 400)
    outside = write_photos(base / "elsewhere", 1, 500, prefix="secret")[0]
    engine = Engine(base / "data")
    everyone = door(base / "data", None)
    for folder in (a[0].parent, b[0].parent):
        finish(engine, everyone, call(engine, everyone, "index_folder", path=str(folder)))
    try:
        yield {"engine": engine, "data": base / "data", "a": a, "b": b, "outside": outside,
               "everyone": everyone}  # fmt: skip
    finally:
        engine.close()


def door(data: Path, roots: list[Path] | None) -> DoorInfo:
    settings = {"data_dir": str(data), "batch_size": 4}
    return DoorInfo(door_id="test", settings=settings, roots=None if roots is None else
                    [str(r) for r in roots])  # fmt: skip


def call(engine: Engine, who: DoorInfo, op: str, **body: Any) -> Any:
    return engine.call(op, who, body)


def finish(engine: Engine, who: DoorInfo, job: Any) -> Any:
    deadline = time.monotonic() + 300
    while job.state in ("queued", "running"):
        assert time.monotonic() < deadline, job.message
        job = call(engine, who, "job_status", job_id=job.job_id, wait=WAIT)
    if job.state != "done":
        raise job_error(job)  # the job's own error, as its class
    return job.record


def ids_of(engine: Engine, who: DoorInfo, paths: list[Path]) -> list[int]:
    found = call(engine, who, "search_similar", images=[str(p) for p in paths], limit=1)
    return [result.hits[0].photo_id for result in found.results]


def storyboard(engine: Engine, who: DoorInfo, **request: Any) -> Any:
    body = {"prompt": "a day out", "backend": "storyboard", **request}
    return finish(engine, who, call(engine, who, "generate_comic", **body))


def test_a_door_rooted_at_a_neither_lists_nor_reads_nor_refines_a_comic_drawn_from_b(
    two_folders: dict[str, Any],
) -> None:
    engine, data = two_folders["engine"], two_folders["data"]
    a_root, b_root = two_folders["a"][0].parent, two_folders["b"][0].parent
    door_a, door_b = door(data, [a_root]), door(data, [b_root])
    from_b = storyboard(engine, door_b, photos=[str(two_folders["b"][0])])
    from_a = storyboard(engine, door_a, photos=[str(two_folders["a"][0])])

    listed_a = [c.comic_id for c in call(engine, door_a, "list_comics", limit=50).comics]
    assert from_a.comic_id in listed_a and from_b.comic_id not in listed_a
    assert from_b.comic_id in [c.comic_id for c in call(engine, door_b, "list_comics").comics]
    assert call(engine, door_a, "library_status").comics == len(listed_a)
    for op in ("comic_file", "app_comic_lineage"):
        with pytest.raises(NotFound) as refused:
            call(engine, door_a, op, comic_id=from_b.comic_id)
        assert str(two_folders["b"][0]) not in str(refused.value)
    with pytest.raises(NotFound):
        storyboard(engine, door_a, refine=from_b.comic_id, prompt="now in the snow")
    # its own door and the command line still read and refine it
    assert call(engine, door_b, "comic_file", comic_id=from_b.comic_id).data
    again = storyboard(engine, door_b, refine=from_b.comic_id, prompt="now in the snow")
    assert again.parent_id == from_b.comic_id
    everyone = two_folders["everyone"]
    assert {from_a.comic_id, from_b.comic_id} <= {
        c.comic_id for c in call(engine, everyone, "list_comics", limit=50).comics
    }
    # a refinement of B's comic stays B's, even for a door whose roots cover it only in part
    steps = call(engine, door_b, "app_comic_lineage", comic_id=again.comic_id).steps
    assert [s.comic_id for s in steps] == [again.comic_id, from_b.comic_id]
    with pytest.raises(NotFound):
        call(engine, door_a, "app_comic_lineage", comic_id=again.comic_id)


def test_a_subject_taught_from_b_is_invisible_and_unchangeable_through_a_door_at_a(
    two_folders: dict[str, Any],
) -> None:
    engine, data = two_folders["engine"], two_folders["data"]
    a_root, b_root = two_folders["a"][0].parent, two_folders["b"][0].parent
    door_a, door_b = door(data, [a_root]), door(data, [b_root])
    taught = call(engine, door_b, "remember_subject", name="Bee", photos=[str(two_folders["b"][1])])
    assert taught.subject.name == "Bee"
    call(engine, door_a, "remember_subject", name="Ay", photos=[str(two_folders["a"][1])])

    names_a = [s.name for s in call(engine, door_a, "list_subjects").subjects]
    assert "Ay" in names_a and "Bee" not in names_a
    for op, body in (
        ("show_subject", {"name": "Bee"}),
        ("forget_subject", {"name": "Bee"}),
        ("rename_subject", {"name": "Bee", "new_name": "Mine"}),
    ):
        with pytest.raises(NotFound) as refused:
            call(engine, door_a, op, **body)
        assert "Bee" not in str(refused.value).split("known subjects:")[1]
    with pytest.raises(InvalidInput, match="cannot be used here"):  # not why: B is unseen
        call(engine, door_a, "remember_subject", name="bee", photos=[str(two_folders["a"][2])])
    found = call(engine, door_a, "find_photos", text="Bee", limit=5)
    assert found.results[0].subject is None  # a tag search, not the subject's photos
    with pytest.raises(NotFound):
        storyboard(engine, door_a, subject="Bee")
    assert "Bee" in [s.name for s in call(engine, door_b, "list_subjects").subjects]
    assert call(engine, door_b, "show_subject", name="bee").name == "Bee"


def test_subject_names_refuse_control_and_direction_characters(
    two_folders: dict[str, Any],
) -> None:
    engine, everyone = two_folders["engine"], two_folders["everyone"]
    photo = str(two_folders["a"][3])
    for name in ("Co\x00la", "Cola\u202egnp.exe", "Co\x1bla"):
        with pytest.raises(InvalidInput, match="control or direction"):
            call(engine, everyone, "remember_subject", name=name, photos=[photo])
    kept = call(engine, everyone, "remember_subject", name="Cola 🐕\u200d🦺", photos=[photo])
    assert kept.subject.name == "Cola 🐕\u200d🦺"
    call(engine, everyone, "forget_subject", name="Cola 🐕\u200d🦺")


def test_a_subject_example_swapped_for_a_link_outside_is_never_drawn(
    two_folders: dict[str, Any], tmp_path: Path
) -> None:
    """The subject's references come from the store; the file opened is judged, not its name."""
    engine, data = two_folders["engine"], two_folders["data"]
    root = tmp_path / "c"
    photo = write_photos(root, 1, 600)[0]
    door_c = door(data, [root])
    finish(engine, door_c, call(engine, door_c, "index_folder", path=str(root)))
    call(engine, door_c, "remember_subject", name="Linked", photos=[str(photo)])
    photo.unlink()
    photo.symlink_to(two_folders["outside"])
    with pytest.raises((NotFound, PathRefused)):
        storyboard(engine, door_c, subject="Linked")
    with pytest.raises(PathRefused):
        open_photo(photo, within=[root.resolve()])
    assert open_photo(photo).width == 640  # the command line reads what its user can


def test_thumbnails_never_return_a_file_swapped_in_from_outside_during_reads(
    two_folders: dict[str, Any], tmp_path: Path
) -> None:
    """A loop swaps a photo for a link to a file outside the roots while the door reads its
    thumbnail: every answer is the inside picture or a refusal, never the outside one."""
    engine, data = two_folders["engine"], two_folders["data"]
    root = tmp_path / "d"
    photo = write_photos(root, 1, 700, size=(200, 150))[0]
    outside = tmp_path / "outside.jpg"
    scene(701, (200, 150)).save(outside, "JPEG")
    door_d = door(data, [root])
    finish(engine, door_d, call(engine, door_d, "index_folder", path=str(root)))
    photo_id = ids_of(engine, door_d, [photo])[0]
    inside = photo.read_bytes()
    link = root / "link.tmp"
    real = root / "real.tmp"
    stop = threading.Event()

    def swap() -> None:
        while not stop.is_set():
            link.symlink_to(outside)
            os.replace(link, photo)
            real.write_bytes(inside)
            os.replace(real, photo)

    swapper = threading.Thread(target=swap, daemon=True)
    swapper.start()
    seen = set()
    try:
        deadline = time.monotonic() + 20
        for _ in range(400):
            if time.monotonic() > deadline:
                break
            try:
                jpeg = call(engine, door_d, "photo_thumbnail", photo_id=photo_id).data
                seen.add(_mean_colour(jpeg))
            except (PathRefused, NotFound):
                seen.add("refused")
    finally:
        stop.set()
        swapper.join()
    real.write_bytes(inside)
    os.replace(real, photo)
    good = _mean_colour(call(engine, door_d, "photo_thumbnail", photo_id=photo_id).data)
    assert seen <= {good, "refused"}, "a thumbnail of the outside file was returned"
    assert good in seen


def _mean_colour(b64: str) -> tuple[int, ...]:
    import base64
    import io

    from PIL import Image

    with Image.open(io.BytesIO(base64.b64decode(b64))) as picture:
        small = picture.convert("RGB").resize((1, 1))
        return tuple(v // 16 for v in small.getpixel((0, 0)))


def test_a_huge_storyboard_is_refused_before_anything_is_drawn(
    two_folders: dict[str, Any],
) -> None:
    engine, everyone = two_folders["engine"], two_folders["everyone"]
    started = time.monotonic()
    job = call(engine, everyone, "generate_comic", prompt="x", backend="storyboard",
               size="99999x99999", photos=[str(two_folders["a"][0])])  # fmt: skip
    while job.state in ("queued", "running"):
        job = call(engine, everyone, "job_status", job_id=job.job_id, wait=WAIT)
    assert job.state == "failed" and "at most 3840 pixels a side" in (job.error or "")
    assert time.monotonic() - started < 10


def test_bad_job_files_are_set_aside_and_the_engine_serves(tmp_path: Path) -> None:
    data = tmp_path / "data"
    jobs = data / "jobs"
    jobs.mkdir(parents=True)
    elsewhere = tmp_path / "elsewhere"
    good = {"job_id": "j00000001", "kind": "index", "library": "x", "folder": str(tmp_path),
            "state": "done", "started_at": "2026-12-01T10:00:00Z"}  # fmt: skip
    files = {
        "j00000002": [1, 2, 3],
        "j00000003": {**good, "job_id": "j00000003", "origin": "a string"},
        "j00000004": {**good, "job_id": "j00000004", "state": "sleeping"},
        "j00000005": {
            **good,
            "job_id": "j00000005",
            "state": "running",
            "origin": {"settings": {"batch_size": "many"}},
        },
        "j00000006": {
            **good,
            "job_id": "j00000006",
            "state": "running",
            "origin": {"settings": {"data_dir": str(elsewhere)}},
        },
        "j00000001": good,
    }
    for name, content in files.items():
        (jobs / f"{name}.json").write_text(json.dumps(content))
    (jobs / "g0000000a.json").write_text('{"job_id": "g0000000a", "kind"')  # cut short
    engine = Engine(data)
    try:
        engine.resume()
        who = door(data, None)
        listed = call(engine, who, "list_jobs", limit=100)
        states = {job.job_id: job.state for job in listed.jobs}
        assert states.get("j00000001") == "done"
        assert states.get("j00000005") == "failed" and states.get("j00000006") == "failed"
        for bad in ("j00000002", "j00000003", "j00000004", "g0000000a"):
            assert bad not in states and (jobs / f"{bad}.bad").exists()
        assert not elsewhere.exists(), "a job file made the engine create a store elsewhere"
        assert (os.stat(data).st_mode & 0o777) == 0o700
    finally:
        engine.close()


def test_outside_the_roots_answers_as_if_it_did_not_exist(two_folders: dict[str, Any]) -> None:
    """A photo, comic or job of folder B is, to a door rooted at A, the same unknown thing as
    a made-up one (ids are a hash of the path: a guess must not be testable), and counts
    are A's alone."""
    engine, data = two_folders["engine"], two_folders["data"]
    door_a = door(data, [two_folders["a"][0].parent])
    everyone = two_folders["everyone"]
    of_b = ids_of(engine, everyone, two_folders["b"][:1])[0]
    made_up = 12345
    said = []
    for photo_id in (of_b, made_up):
        for op, body in (
            ("photo_info", {"photo": photo_id}),
            ("search_similar", {"photo_id": photo_id}),
        ):
            with pytest.raises(NotFound) as refused:
                call(engine, door_a, op, **body)
            said.append(str(refused.value).replace(str(photo_id), "N"))
    assert len(set(said)) <= 2 and said[:2] == said[2:], said
    assert call(engine, door_a, "library_status").photos == len(two_folders["a"])
    assert call(engine, everyone, "library_status").photos >= 8
    b_comic = storyboard(engine, door(data, [two_folders["b"][0].parent]),
                         photos=[str(two_folders["b"][1])])  # fmt: skip
    words = []
    for comic_id in (b_comic.comic_id, "c0000000000"):
        with pytest.raises(NotFound) as refused:
            call(engine, door_a, "app_comic_lineage", comic_id=comic_id)
        words.append(str(refused.value).replace(comic_id, "ID"))
    assert words[0] == words[1], words


def test_a_link_in_a_that_leads_to_b_shows_nothing_of_b(tmp_path: Path) -> None:
    """The command line indexed A with a link inside it that leads to B; a door rooted at A
    judges what it answers by the real path, so none of B's photos, counts or pixels reach it,
    and the indexer run for that door refuses a file swapped for such a link."""
    a = write_photos(tmp_path / "a", 3, 600)
    b = write_photos(tmp_path / "b", 3, 600)  # the same pictures: near-duplicates of A's
    (a[0].parent / "link").symlink_to(b[0].parent, target_is_directory=True)
    engine = Engine(tmp_path / "data")
    try:
        everyone = door(tmp_path / "data", None)
        finish(engine, everyone, call(engine, everyone, "index_folder", path=str(a[0].parent)))
        door_a = door(tmp_path / "data", [a[0].parent])
        real_b = os.path.realpath(b[0].parent)
        found = call(engine, door_a, "search_similar", images=[str(a[0])], limit=20).results[0]
        assert found.hits and all(
            not os.path.realpath(h.path).startswith(real_b) for h in found.hits
        )
        groups = call(engine, door_a, "find_duplicates").groups
        assert all(
            not os.path.realpath(p.path).startswith(real_b) for g in groups for p in g.photos
        )
        info = call(engine, door_a, "photo_info", photo=str(a[0]))
        assert all(not os.path.realpath(d.path).startswith(real_b) for d in info.duplicates)
    finally:
        engine.close()
    from photocomic.tools.folders import FileEntry
    from photocomic.tools.photos.indexer import _Decoder

    swapped = a[1].parent / "swapped.jpg"
    swapped.symlink_to(b[1])
    from types import SimpleNamespace

    embedder = SimpleNamespace(decode_side=224)  # the file is refused before any embedding
    decoder = _Decoder(embedder, None, [Path(os.path.realpath(a[0].parent))])  # type: ignore[arg-type]
    entry = FileEntry(path=str(swapped), size=0, mtime=0.0)
    refused = decoder.decode(entry)
    assert "outside the allowed folders" in str(refused)
