"""photo_info (MCP) and ``photocomic info`` (CLI): everything the library knows about one photo,
on a library indexed with a near-duplicate, taught a subject and drawn into a comic."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import run_cli, scene, stop_engine, write_photos
from mcp_session import McpSession, ok, serve_command, server_env, text_of


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    base = tmp_path_factory.mktemp("info")
    root, outside = base / "photos", base / "outside"
    write_photos(root, 10)
    scene(0).resize((320, 240)).save(root / "copy_of_0000.jpg", "JPEG", quality=60)
    write_photos(outside, 1, prefix="secret")
    env = server_env(base / "data")
    with (
        open(base / "server.log", "w") as log,
        McpSession.stdio(serve_command("--root", str(root)), env, log) as mcp,
    ):
        ok(mcp.call("index_folder", {"path": str(root), "wait_seconds": 50}))
        first = root / "photo_0000.jpg"
        hit = ok(mcp.call("search_similar", {"image": str(first), "limit": 1}))["hits"][0]
        ok(mcp.call("remember_subject", {"name": "Cola", "photos": [hit["photo_id"]]}))
        comic = ok(mcp.call("generate_comic", {"prompt": "A walk.", "photos": [hit["photo_id"]],
                                               "backend": "storyboard", "panels": 1}))  # fmt: skip
        yield {"mcp": mcp, "root": root, "outside": outside, "env": env, "id": hit["photo_id"],
               "comic": comic["comic_id"]}  # fmt: skip
    stop_engine(base / "data")


def test_photo_info_tells_file_tags_subjects_duplicates_and_comics(world: dict[str, Any]) -> None:
    first = world["root"] / "photo_0000.jpg"
    info = ok(world["mcp"].call("photo_info", {"photo": world["id"]}))
    assert info["path"] == str(first)
    assert (info["width"], info["height"]) == (640, 480)
    assert info["bytes"] == first.stat().st_size
    assert info["taken_at"].endswith("Z")
    assert info["labels"] and all(0 < s <= 1 for s in info["labels"].values())
    cola = [s for s in info["subjects"] if s["name"] == "Cola"]
    assert cola and cola[0]["marked"] == "example" and 0 <= cola[0]["confidence"] <= 1
    copies = [d["path"] for d in info["duplicates"]]
    assert copies == [str(world["root"] / "copy_of_0000.jpg")]
    assert [c["comic_id"] for c in info["comics"]] == [world["comic"]]

    by_path = ok(world["mcp"].call("photo_info", {"photo": str(first)}))
    assert by_path == info

    other = ok(world["mcp"].call("photo_info", {"photo": str(world["root"] / "photo_0007.jpg")}))
    assert other["comics"] == [] and other["duplicates"] == []
    assert all(s["marked"] != "example" for s in other["subjects"])


def test_photo_info_refuses_what_lies_outside_or_is_not_indexed(world: dict[str, Any]) -> None:
    outside = world["mcp"].call("photo_info", {"photo": str(world["outside"] / "secret_0000.jpg")})
    assert outside.is_error and "outside" in text_of(outside)
    fresh = world["root"] / "new.jpg"
    scene(99).save(fresh, "JPEG")
    unknown = world["mcp"].call("photo_info", {"photo": str(fresh)})
    assert unknown.is_error and "index its folder first" in text_of(unknown)
    missing = world["mcp"].call("photo_info", {"photo": 12345})
    assert missing.is_error and "12345" in text_of(missing)


def test_cli_info_prints_the_same_as_json_and_for_people(world: dict[str, Any]) -> None:
    env = {"PHOTOCOMIC_DATA_DIR": world["env"]["PHOTOCOMIC_DATA_DIR"], "HF_HUB_OFFLINE": "1"}
    done = run_cli("info", str(world["id"]), "--json", env=env)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == ok(world["mcp"].call("photo_info", {"photo": world["id"]}))
    shown = run_cli("info", str(world["root"] / "photo_0000.jpg"), env=env)
    assert shown.returncode == 0, shown.stderr
    assert f"photo {world['id']}:" in shown.stdout and "Cola (example" in shown.stdout
    assert "copy_of_0000.jpg" in shown.stdout and world["comic"] in shown.stdout
    bad = run_cli("info", str(Path(world["root"]) / "nope.jpg"), env=env)
    assert bad.returncode == 1 and "nope.jpg" in bad.stderr
