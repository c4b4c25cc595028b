"""Character sheets and comics with several subjects, end to end through the real command line,
an MCP client and the library's owner, against an OpenAI-compatible double on 127.0.0.1.

Two subjects as in ``test_subjects.py``: a real flower ("Cola") and a real temple ("Max"),
each placed in different scenes, beside other scenes.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import run_cli, stop_engine, write_photos
from mcp_session import McpSession, ok, serve_command, server_env
from openai_double import OpenAIDouble
from test_subjects import placed, real_things


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    base = tmp_path_factory.mktemp("sheets")
    root = base / "photos"
    (root / "garden").mkdir(parents=True)
    (root / "city").mkdir()
    flower, temple = real_things()
    cola = [placed(flower, 300 + n, root / "garden", f"cola_{n:02d}.jpg") for n in range(10)]
    max_ = [placed(temple, 400 + n, root / "city", f"max_{n:02d}.jpg") for n in range(8)]
    write_photos(root / "city", 12, start=500)
    with OpenAIDouble() as api:
        env = {
            "PHOTOCOMIC_DATA_DIR": str(base / "data"), "HF_HUB_OFFLINE": "1",
            "OPENAI_API_KEY": "sk-test-sheets-0123456789", "OPENAI_BASE_URL": api.base_url,
            "PHOTOCOMIC_IMAGE_RETRIES": "0",
        }  # fmt: skip
        assert run_cli("index", str(root), env=env).returncode == 0
        cli("subject", "add", "Cola", *[a for p in cola[:3] for a in ("--photo", str(p))], env=env)
        cli("subject", "add", "Max", *[a for p in max_[:3] for a in ("--photo", str(p))], env=env)
        yield {"env": env, "api": api, "cola": {str(p) for p in cola},
               "max": {str(p) for p in max_}, "base": base, "root": root}  # fmt: skip
    stop_engine(base / "data")


def cli(*args: str, env: dict[str, str]) -> Any:
    done = run_cli(*args, "--json", env=env)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def sources(record: dict[str, Any]) -> list[str]:
    return list(record["input_images"])


def test_without_a_sheet_a_comic_works_as_before_and_suggests_one(world: dict[str, Any]) -> None:
    env, api = world["env"], world["api"]
    record = cli("comic", "--prompt", "Cola in the rain.", "--subject", "cola", env=env)
    assert record["sheets"] == [] and record["subjects"] == ["Cola"]
    assert set(sources(record)) <= world["cola"]
    assert api.requests[-1].images[0].format == "JPEG"
    said = " ".join(record["notes"])  # to a person at the terminal, in its own words
    assert "photocomic subject sheet 'Cola' --style ghibli" in said, said
    assert "draw_character_sheet" not in said and "[[" not in said


def test_a_sheet_is_drawn_kept_and_sent_first_by_later_comics(world: dict[str, Any]) -> None:
    env, api = world["env"], world["api"]
    sheet = cli("subject", "sheet", "Cola", "--style", "ghibli", env=env)
    assert sheet["sheet_for"] == "Cola" and sheet["style"] == "ghibli" and sheet["panels"] == 1
    sent = api.requests[-1]
    assert "character model sheet of Cola" in (sent.prompt or "")
    assert "front, side and three-quarter views" in (sent.prompt or "")
    assert set(sources(sheet)) <= world["cola"] and len(sources(sheet)) >= 3
    assert all(image.format == "JPEG" for image in sent.images)  # photos only

    stop_engine(Path(env["PHOTOCOMIC_DATA_DIR"]))  # kept in a new process
    shown = cli("subject", "show", "cola", env=env)
    assert shown["sheets"] == [
        {"subject": "Cola", "style": "ghibli", "comic_id": sheet["comic_id"]}
    ]

    comic = cli("comic", "--prompt", "Cola at the beach.", "--subject", "Cola", env=env)
    sent = api.requests[-1]
    assert sources(comic)[0] == f"comic:{sheet['comic_id']}"
    assert set(sources(comic)[1:]) <= world["cola"] and 1 <= len(sources(comic)[1:]) <= 3
    assert sent.images[0].format == "PNG" and all(i.format == "JPEG" for i in sent.images[1:])
    assert "image 1 is Cola's character sheet" in (sent.prompt or "")
    assert comic["sheets"] == [
        {"subject": "Cola", "style": "ghibli", "comic_id": sheet["comic_id"]}
    ]

    other = cli("comic", "--prompt", "Cola in ink.", "--subject", "Cola", "--style", "manga",
                env=env)  # fmt: skip
    assert other["sheets"] == [] and not sources(other)[0].startswith("comic:")

    info = cli("info", sorted(world["cola"])[-1], env=env)
    assert [s["name"] for s in info["subjects"]][:1] == ["Cola"], info["subjects"]
    by_photo = cli(
        "comic", "--prompt", "Cola asleep.", "--photo", sorted(world["cola"])[-1], env=env
    )
    assert sources(by_photo)[0] == f"comic:{sheet['comic_id']}", "photos of Cola bring her sheet"


def test_a_refined_sheet_becomes_the_sheet_and_use_chooses_a_version(
    world: dict[str, Any],
) -> None:
    env = world["env"]
    first = cli("subject", "show", "Cola", env=env)["sheets"][0]["comic_id"]
    refined = cli("comic", "--refine", first, "--prompt", "Make the petals rounder.", env=env)
    assert refined["sheet_for"] == "Cola" and refined["parent_id"] == first
    assert cli("subject", "show", "Cola", env=env)["sheets"][0]["comic_id"] == refined["comic_id"]
    back = cli("subject", "sheet", "Cola", "--use", first, env=env)
    assert back["comic_id"] == first
    assert cli("subject", "show", "Cola", env=env)["sheets"][0]["comic_id"] == first
    done = run_cli("subject", "sheet", "Max", "--use", first, env=env)
    assert done.returncode == 1 and "not a character sheet of Max" in done.stderr


def test_two_subjects_in_one_comic_are_named_and_within_the_limit(world: dict[str, Any]) -> None:
    env, api = world["env"], world["api"]
    record = cli("comic", "--prompt", "Cola visits Max.", "--subject", "cola", "--subject", "max",
                 env=env)  # fmt: skip
    sent = api.requests[-1]
    assert record["subjects"] == ["Cola", "Max"]
    shown = sources(record)
    cola = [s for s in shown if s in world["cola"]]
    max_ = [s for s in shown if s in world["max"]]
    assert cola and max_ and len(sent.images) == len(shown) <= 16
    assert shown[0].startswith("comic:")  # Cola's sheet, then her photos, then Max's photos
    assert shown.index(max_[0]) > shown.index(cola[-1])
    prompt = sent.prompt or ""
    assert "is Cola" in prompt and "is Max" in prompt and "character sheet" in prompt
    assert prompt.index("is Cola") < prompt.index("is Max")

    done = run_cli("comic", "--prompt", "x", "--subject", "Cola", "--subject", "Rex", env=env)
    assert done.returncode == 1 and "no subject named 'Rex'" in done.stderr
    assert "Cola" in done.stderr and "Max" in done.stderr


def test_mcp_draws_a_sheet_lists_it_and_forgetting_the_subject_forgets_it(
    world: dict[str, Any],
) -> None:
    env = {**server_env(Path(world["env"]["PHOTOCOMIC_DATA_DIR"])), **world["env"]}
    with (
        open(world["base"] / "server.log", "w") as log,
        McpSession.stdio(serve_command("--root", str(world["root"])), env, log) as mcp,
    ):
        drawn = ok(mcp.call("draw_character_sheet", {"subject": "max", "style": "watercolor"}))
        assert drawn["sheet_for"] == "Max" and drawn["style"] == "watercolor"
        listed = ok(mcp.call("list_subjects"))
        sheets = {s["name"]: s["sheets"] for s in listed["subjects"]}
        assert sheets["Max"] == [{"subject": "Max", "style": "watercolor",
                                  "comic_id": drawn["comic_id"]}]  # fmt: skip
        comic = ok(mcp.call("generate_comic", {"prompt": "Max at dusk.", "subjects": ["Max"],
                                               "style": "watercolor"}))  # fmt: skip
        assert comic["sheets"][0]["comic_id"] == drawn["comic_id"]
        ok(mcp.call("forget_subject", {"name": "Max"}))
        photo = sorted(world["max"])[0]
        ok(mcp.call("remember_subject", {"name": "Max", "photos": [photo]}))
        again = {s["name"]: s["sheets"] for s in ok(mcp.call("list_subjects"))["subjects"]}
        assert again["Max"] == []
