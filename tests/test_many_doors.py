"""One library, many front doors at once: two stdio MCP servers held open (Claude Desktop and an
IDE agent) and the command line, on one data folder, each with its own allowed roots.

They share one owner (the engine): what one door indexes, the others find; a run one door
started shows in the others' status; each door sees only its own roots, inside the Milvus
query, for searches, photo ids, thumbnails and the photos a refinement inherits.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from conftest import run_cli, stop_engine, write_photos
from mcp_session import McpSession, ok, serve_command, server_env, text_of
from openai_double import OpenAIDouble
from reliability_support import engine_pid


@pytest.fixture(scope="module")
def doors(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    base = tmp_path_factory.mktemp("doors")
    home, work = base / "home", base / "work"
    write_photos(home, 8)
    write_photos(work, 6, start=200)
    data = base / "data"
    with OpenAIDouble() as api:
        env = server_env(
            data, OPENAI_API_KEY="sk-test-doors-0123456789", OPENAI_BASE_URL=api.base_url
        )
        with (
            open(base / "servers.log", "w") as log,
            McpSession.stdio(
                serve_command("--root", str(home), "--root", str(work)), env, log
            ) as wide,
            McpSession.stdio(serve_command("--root", str(work)), env, log) as narrow,
        ):
            yield {
                "wide": wide, "narrow": narrow, "home": home, "work": work, "data": data,
                "env": env, "api": api,
            }  # fmt: skip
    stop_engine(data)


def test_doors_share_one_owner_and_see_each_others_photos(doors: dict[str, Any]) -> None:
    wide, narrow, env = doors["wide"], doors["narrow"], doors["env"]
    ok(wide.call("index_folder", {"path": str(doors["home"]), "wait_seconds": 50}))
    done = run_cli("index", str(doors["work"]), "--json", env=env)  # the terminal, meanwhile
    assert done.returncode == 0, done.stderr
    found = run_cli("search", str(doors["home"] / "photo_0002.jpg"), "--json", env=env)
    assert json.loads(found.stdout)[0]["hits"][0]["path"] == str(doors["home"] / "photo_0002.jpg")
    assert ok(wide.call("library_status"))["photos"] == 14
    owner = engine_pid(doors["data"])
    for door in (wide, narrow):
        status = ok(door.call("library_status"))
        assert status["engine_pid"] == owner and status["model_loaded"] is True
    hits = ok(narrow.call("search_similar", {"image": str(doors["work"] / "photo_0201.jpg")}))
    assert hits["hits"][0]["path"] == str(doors["work"] / "photo_0201.jpg")


def test_each_door_sees_only_its_roots_inside_the_query(doors: dict[str, Any]) -> None:
    wide, narrow, home = doors["wide"], doors["narrow"], doors["home"]
    home_id = ok(wide.call("search_similar", {"image": str(home / "photo_0003.jpg"), "limit": 1}))[
        "hits"
    ][0]["photo_id"]
    listed = ok(
        narrow.call("search_similar", {"image": str(doors["work"] / "photo_0200.jpg"), "limit": 20})
    )
    assert len(listed["hits"]) == 6, (
        "all six of its photos, none of the others (filtered in Milvus)"
    )
    assert all(str(doors["work"]) in h["path"] for h in listed["hits"])
    refused = narrow.call("search_similar", {"photo_id": home_id})
    assert refused.is_error and "unknown photo id" in text_of(refused)
    assert str(home) not in text_of(refused)
    status = ok(narrow.call("library_status"))
    assert all(str(home) not in (j["folder"] or "") for j in status["jobs"])


def test_a_comic_drawn_from_photos_outside_narrow_roots_is_not_theirs_to_see_or_refine(
    doors: dict[str, Any],
) -> None:
    """A comic is visible and refinable only to a door allowed every photo it was drawn from:
    one made under wide roots from home and work photos does not exist for the door that may
    read work only, and its refinement there reads nothing and sends nothing."""
    wide, narrow, api = doors["wide"], doors["narrow"], doors["api"]
    photos = [str(doors["home"] / "photo_0001.jpg"), str(doors["work"] / "photo_0202.jpg")]
    comic = ok(wide.call("generate_comic", {"prompt": "A walk.", "photos": photos}))
    before = len(api.requests)
    refused = narrow.call("generate_comic", {"prompt": "At night.", "refine": comic["comic_id"]})
    assert refused.is_error and f"no comic '{comic['comic_id']}'" in text_of(refused)
    assert photos[0] not in text_of(refused) and len(api.requests) == before
    listed = {c["comic_id"] for c in ok(narrow.call("list_comics"))["comics"]}
    assert comic["comic_id"] not in listed
    mine = ok(narrow.call("generate_comic", {"prompt": "A desk.", "photos": [photos[1]]}))
    again = ok(narrow.call("generate_comic", {"prompt": "At night.", "refine": mine["comic_id"]}))
    assert again["parent_id"] == mine["comic_id"]
    assert [i.format for i in api.requests[-1].images] == ["PNG", "JPEG"]


def test_tool_descriptions_arrive_without_source_indentation(doors: dict[str, Any]) -> None:
    for tool in doors["wide"].list_tools().tools:
        assert "\n" not in (tool.description or ""), tool.name
