"""Named subjects end to end through the real command line and the library's owner: taught
from three photos, found by name with pages and an estimate, corrected by feedback, kept
across processes, renamed and removed, and drawn as a comic from its own photos only.

The subject is a real photographed flower (a photo scikit-learn ships) placed at different
sizes and places in different scenes; the rest of the library is other scenes and a real
photo of a temple placed the same way, so the subject is what the photos share, not a scene.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import run_cli, scene, stop_engine, write_photos
from mcp_session import McpSession, serve_command
from PIL import Image

REAL = Path(__import__("sklearn.datasets", fromlist=["x"]).__file__).parent / "images"
SUBJECT_PHOTOS = 12


def placed(thing: Image.Image, seed: int, folder: Path, name: str) -> Path:
    rng = random.Random(seed)
    picture = scene(seed, (640, 480))
    side = rng.randint(200, 380)
    crop = thing.resize((side, side * thing.height // thing.width))
    picture.paste(crop, (rng.randint(0, 640 - side), rng.randint(0, max(0, 480 - crop.height))))
    path = folder / name
    picture.save(path, "JPEG", quality=90)
    return path


def real_things() -> tuple[Image.Image, Image.Image]:
    """Two real photographed things to place in scenes: a flower and a temple."""
    with Image.open(REAL / "flower.jpg") as img:
        flower = img.convert("RGB").crop((150, 40, 550, 420))
    with Image.open(REAL / "china.jpg") as img:
        temple = img.convert("RGB").crop((100, 50, 500, 400))
    return flower, temple


@pytest.fixture(scope="module")
def library(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, object]]:
    base = tmp_path_factory.mktemp("subjects")
    root = base / "photos"
    (root / "garden").mkdir(parents=True)
    (root / "trips").mkdir()
    flower, temple = real_things()
    subject = [
        placed(flower, 300 + n, root / "garden", f"flower_{n:02d}.jpg")
        for n in range(SUBJECT_PHOTOS)
    ]
    others = [placed(temple, 400 + n, root / "trips", f"temple_{n:02d}.jpg") for n in range(8)]
    others += write_photos(root / "trips", 20, start=500)
    env = {"PHOTOCOMIC_DATA_DIR": str(base / "data"), "HF_HUB_OFFLINE": "1"}
    done = run_cli("index", str(root), "--json", env=env)
    assert done.returncode == 0, done.stderr
    ids = {}
    for result in json.loads(
        run_cli("search", *map(str, subject + others), "--limit", "1", "--json", env=env).stdout
    ):
        ids[result["query"]] = result["hits"][0]["photo_id"]
    yield {"env": env, "subject": subject, "others": others, "ids": ids, "root": root}
    stop_engine(base / "data")


def flags(name: str, values: list[object]) -> list[str]:
    return [part for value in values for part in (name, str(value))]


def cli(*args: str, env: dict[str, str]) -> object:
    done = run_cli(*args, "--json", env=env)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_a_subject_from_three_photos_is_found_by_name_first_and_kept(
    library: dict[str, object],
) -> None:
    env, subject, ids = library["env"], library["subject"], library["ids"]
    assert isinstance(env, dict) and isinstance(subject, list) and isinstance(ids, dict)
    examples = [str(p) for p in subject[:2]] + [str(ids[str(subject[2])])]  # paths and an id
    taught = cli("subject", "add", "Cola", *flags("--photo", examples), env=env)
    assert isinstance(taught, dict) and taught["subject"]["positives"] == 3

    found = cli("find", "COLA", "--limit", str(SUBJECT_PHOTOS), env=env)  # case-insensitive
    assert isinstance(found, dict) and found["query"] == "Cola"
    paths = [h["path"] for h in found["hits"]]
    right = sum(p in {str(s) for s in subject} for p in paths)
    assert right >= SUBJECT_PHOTOS - 1, paths  # the subject's photos come first
    estimate = cli("subject", "show", "cola", env=env)
    assert isinstance(estimate, dict) and estimate["estimate"] >= 3 and estimate["trained_at"]
    page_two = cli("find", "cola", "--limit", "5", "--offset", "5", env=env)
    assert isinstance(page_two, dict)
    assert [h["rank"] for h in page_two["hits"]] == [6, 7, 8, 9, 10]
    assert [h["path"] for h in page_two["hits"]] == paths[5:10]

    stop_engine(Path(env["PHOTOCOMIC_DATA_DIR"]))  # a new owner process: still there
    listed = cli("subject", "list", env=env)
    assert isinstance(listed, dict) and [s["name"] for s in listed["subjects"]] == ["Cola"]


def test_feedback_removes_what_is_not_the_subject_and_keeps_judged_labels(
    library: dict[str, object],
) -> None:
    env, subject, others, ids = (library[k] for k in ("env", "subject", "others", "ids"))
    assert isinstance(env, dict) and isinstance(ids, dict)
    assert isinstance(subject, list) and isinstance(others, list)
    cli("subject", "add", "Bloom", "--photo", str(subject[0]), env=env)
    before = cli("find", "bloom", "--limit", "20", env=env)
    assert isinstance(before, dict)
    wrong = [h for h in before["hits"] if h["path"] not in {str(s) for s in subject}][:3]
    right = [h for h in before["hits"] if h["path"] in {str(s) for s in subject}][1:3]
    marks = flags("--not", [h["photo_id"] for h in wrong])
    marks += flags("--photo", [h["photo_id"] for h in right])
    cli("subject", "add", "Bloom", *marks, env=env)
    after = cli("find", "bloom", "--limit", "20", env=env)
    assert isinstance(after, dict)
    shown = [h["photo_id"] for h in after["hits"]]
    assert not {h["photo_id"] for h in wrong} & set(shown), "counter-examples never come back"
    assert shown[:3] and {h["photo_id"] for h in right} <= set(shown[:3])  # examples first
    good_before = sum(h["path"] in {str(s) for s in subject} for h in before["hits"][:10])
    good_after = sum(h["path"] in {str(s) for s in subject} for h in after["hits"][:10])
    assert good_after >= good_before


def test_a_comic_by_subject_uses_only_its_photos_and_an_unknown_one_lists_the_known(
    library: dict[str, object],
) -> None:
    env, subject = library["env"], library["subject"]
    assert isinstance(env, dict) and isinstance(subject, list)
    cli("subject", "add", "Petal", "--photo", str(subject[3]), "--photo", str(subject[4]), env=env)
    record = cli(
        "comic", "--prompt", "a day in the garden", "--subject", "petal",
        "--backend", "storyboard", env=env,
    )  # fmt: skip
    assert isinstance(record, dict) and record["subject"] == "Petal"
    used = [p["path"] for p in record["photos"]]
    assert 1 <= len(used) <= 4 and set(used) <= {str(s) for s in subject}
    done = run_cli("comic", "--prompt", "x", "--subject", "Rex", "--backend", "storyboard", env=env)
    assert done.returncode == 1 and "no subject named 'Rex'" in done.stderr
    assert "Petal" in done.stderr and len(done.stderr.strip().splitlines()) == 1


def test_rename_remove_and_a_deleted_example_is_dropped_with_a_note(
    library: dict[str, object], tmp_path: Path
) -> None:
    env, subject = library["env"], library["subject"]
    assert isinstance(env, dict) and isinstance(subject, list)
    spare = tmp_path / "spare.jpg"
    spare.write_bytes(Path(subject[5]).read_bytes())
    taught = cli(
        "subject", "add", "Rosie", "--photo", str(spare), "--photo", str(subject[6]), env=env
    )
    assert isinstance(taught, dict) and taught["subject"]["positives"] == 2  # spare indexed now
    renamed = cli("subject", "rename", "rosie", "Rose", env=env)
    assert isinstance(renamed, dict) and renamed["name"] == "Rose"
    spare.unlink()
    cli("index", str(tmp_path), env=env)  # the deleted file's row goes
    again = cli("subject", "add", "rose", "--photo", str(subject[7]), env=env)
    assert isinstance(again, dict) and again["subject"]["positives"] == 2
    assert any("no longer indexed" in n for n in again["subject"]["notes"])
    gone = cli("subject", "remove", "ROSE", env=env)
    assert isinstance(gone, dict) and gone["name"] == "Rose"
    listed = cli("subject", "list", env=env)
    assert isinstance(listed, dict) and "Rose" not in [s["name"] for s in listed["subjects"]]


def test_the_photo_comic_prompt_completes_subjects_and_styles(
    library: dict[str, object], tmp_path: Path
) -> None:
    """As the person types in the prompt picker: the subjects this library knows (only those
    the door may see) and the comic styles."""
    env, subject, root = library["env"], library["subject"], library["root"]
    assert isinstance(env, dict) and isinstance(subject, list) and isinstance(root, Path)
    cli("subject", "add", "Colette", "--photo", str(subject[0]), env=env)
    cli("subject", "add", "Max", "--photo", str(subject[1]), env=env)
    command = serve_command("--root", str(root))
    with open(tmp_path / "server.log", "w") as log, McpSession.stdio(command, env, log) as mcp:
        typed_co = mcp.complete("photo_comic", "subject", "co")
        assert "Colette" in typed_co and all(n.lower().startswith("co") for n in typed_co)
        assert "Max" in mcp.complete("photo_comic", "subject", "")
        assert mcp.complete("photo_comic", "subject", "zz") == []
        styles = mcp.complete("photo_comic", "style", "wa")
        assert styles and all(s.startswith("wa") for s in styles)
        assert "ghibli" in mcp.complete("photo_comic", "style", "")
    other = tmp_path / "elsewhere"
    other.mkdir()
    with (
        open(tmp_path / "narrow.log", "w") as log,
        McpSession.stdio(serve_command("--root", str(other)), env, log) as narrow,
    ):  # a door whose roots hold none of their photos sees none of them
        assert narrow.complete("photo_comic", "subject", "") == []
    cli("subject", "remove", "Colette", env=env)
    cli("subject", "remove", "Max", env=env)
