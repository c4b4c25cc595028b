"""Today's image models through both front doors, as a user meets them: the ``photocomic comic``
command and MCP ``generate_comic`` over stdio, on one indexed library, against the strict
OpenAI double (which refuses what the SDK documents the real API as refusing).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import run_cli, stop_engine, write_photos
from mcp_session import McpSession, ok, serve_command, server_env, text_of
from openai_double import OpenAIDouble

KEY = "sk-test-doors-draw-0123456789abcdef"


@pytest.fixture(scope="module")
def library(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    base = tmp_path_factory.mktemp("draw")
    photos = base / "photos"
    write_photos(photos, 4)
    data = base / "data"
    with OpenAIDouble() as api:
        env = server_env(
            data, OPENAI_API_KEY=KEY, OPENAI_BASE_URL=api.base_url, PHOTOCOMIC_IMAGE_RETRIES="0"
        )
        done = run_cli("index", str(photos), "--json", env=env)
        assert done.returncode == 0, done.stderr
        with (
            open(base / "server.log", "w") as log,
            McpSession.stdio(serve_command("--root", str(photos)), env, log) as mcp,
        ):
            yield {"photos": photos, "data": data, "env": env, "api": api, "mcp": mcp}
    stop_engine(data)


def comic_cli(library: dict[str, Any], *args: str, **env: str) -> Any:
    photos = library["photos"]
    return run_cli(
        "comic", "--prompt", "Cola chews the mouse.", "--json",
        "--photo", str(photos / "photo_0000.jpg"), "--photo", str(photos / "photo_0001.jpg"),
        *args, env={**library["env"], **env},
    )  # fmt: skip


def comics_on_disk(library: dict[str, Any]) -> set[str]:
    folder = library["data"] / "comics"
    return {p.name for p in folder.iterdir()} if folder.exists() else set()


def test_the_command_draws_with_the_defaults_a_strip_and_a_refinement(
    library: dict[str, Any],
) -> None:
    api = library["api"]
    done = comic_cli(library)
    assert done.returncode == 0, done.stderr
    first = json.loads(done.stdout)
    sent = api.requests[-1]
    assert sent.answered == "ok" and sent.model == "gpt-image-2.6-sunburst"  # auto: the newest
    assert "input_fidelity" not in sent.fields and len(sent.images) == 2
    strip = comic_cli(library, "--panels", "3", "--layout", "strip")
    assert strip.returncode == 0, strip.stderr
    assert api.requests[-1].fields["size"] == "1536x512"
    assert json.loads(strip.stdout)["size"] == "1536x512"
    again = run_cli(
        "comic", "--refine", first["comic_id"], "--prompt", "Now in a cute outfit.", "--json",
        env=library["env"],
    )  # fmt: skip
    assert again.returncode == 0, again.stderr
    refined = json.loads(again.stdout)
    assert refined["parent_id"] == first["comic_id"]
    assert api.requests[-1].images[0].format == "PNG"  # the earlier comic goes first


def test_the_command_refuses_before_sending_and_explains_the_api(library: dict[str, Any]) -> None:
    api, before = library["api"], len(library["api"].requests)
    files = comics_on_disk(library)
    bad_size = comic_cli(library, "--size", "1000x333")
    assert bad_size.returncode != 0 and "multiples of 16" in bad_size.stderr
    assert "1408x480" in bad_size.stderr
    retired = comic_cli(library, PHOTOCOMIC_IMAGE_MODEL="gpt-image-1")
    assert retired.returncode != 0
    assert "gpt-image-2.5-sunburst" in retired.stderr and "PHOTOCOMIC_IMAGE_MODEL" in retired.stderr
    assert len(api.requests) == before and comics_on_disk(library) == files  # nothing sent
    unknown = comic_cli(library, "--model", "gpt-image-9-preview")  # not in the key's list
    assert unknown.returncode != 0 and len(unknown.stderr.strip().splitlines()) == 1
    assert "gpt-image-9-preview" in unknown.stderr and "--model auto" in unknown.stderr
    assert "gpt-image-2.6-sunburst" in unknown.stderr  # the models it can use are named
    older = comic_cli(library, "--model", "gpt-image-1.5")  # shut down today
    assert older.returncode != 0 and "gpt-image-2" in older.stderr, older.stderr
    assert len(api.requests) == before and comics_on_disk(library) == files  # nothing sent


def test_generate_comic_over_mcp_keeps_the_same_rules(library: dict[str, Any]) -> None:
    mcp, api, photos = library["mcp"], library["api"], library["photos"]
    refs = [str(photos / "photo_0002.jpg"), str(photos / "photo_0003.jpg")]
    comic = ok(mcp.call("generate_comic", {"prompt": "A walk.", "photos": refs}))
    assert api.requests[-1].model == "gpt-image-2.6-sunburst" == comic["model"]
    strip = {"prompt": "Wake. Play. Sleep.", "photos": refs, "panels": 3, "layout": "strip"}
    assert ok(mcp.call("generate_comic", strip))["size"] == "1536x512"
    assert api.requests[-1].fields["size"] == "1536x512"
    refine = {"prompt": "At Hogwarts.", "refine": comic["comic_id"]}
    refined = ok(mcp.call("generate_comic", refine))
    assert refined["parent_id"] == comic["comic_id"] and api.requests[-1].images[0].format == "PNG"
    before, files = len(api.requests), comics_on_disk(library)
    refused = mcp.call("generate_comic", {"prompt": "x", "photos": refs, "size": "1000x333"})
    assert refused.is_error and "multiples of 16" in text_of(refused)
    assert len(api.requests) == before and comics_on_disk(library) == files


@pytest.mark.parametrize(
    ("model", "sent", "words"),
    [
        ("gpt-image-1", False, ["gpt-image-1", "gpt-image-2.5-sunburst", "PHOTOCOMIC_IMAGE_MODEL"]),
        ("gpt-image-1.5", False, ["gpt-image-1.5", "gpt-image-2", "PHOTOCOMIC_IMAGE_MODEL"]),
        ("gpt-image-9-preview", False, ["gpt-image-9-preview", "PHOTOCOMIC_IMAGE_MODEL"]),
    ],
)
def test_a_server_set_to_a_model_that_cannot_draw_says_so(
    library: dict[str, Any], tmp_path: Path, model: str, sent: bool, words: list[str]
) -> None:
    api, photos = library["api"], library["photos"]
    env = {**library["env"], "PHOTOCOMIC_IMAGE_MODEL": model}
    before, files = len(api.requests), comics_on_disk(library)
    with (
        open(tmp_path / "server.log", "w") as log,
        McpSession.stdio(serve_command("--root", str(photos)), env, log) as door,
    ):
        answer = door.call(
            "generate_comic", {"prompt": "x", "photos": [str(photos / "photo_0000.jpg")]}
        )
    assert answer.is_error and all(word in text_of(answer) for word in words)
    assert len(api.requests) == before + (1 if sent else 0)
    assert comics_on_disk(library) == files


def test_panel_redos_variants_and_branches_through_mcp_and_the_command(
    library: dict[str, Any],
) -> None:
    """ "In panel 3, make her jump higher", three tries to pick from, and a branch from an
    earlier version, as an assistant and a person at a terminal ask for them."""
    mcp, api, photos = library["mcp"], library["api"], library["photos"]
    refs = [str(photos / "photo_0000.jpg")]
    comic = ok(mcp.call("generate_comic", {"prompt": "Cola chews the mouse.", "photos": refs}))
    redo = mcp.call("generate_comic", {"prompt": "In panel 3, make her jump higher.",
                                       "refine": comic["comic_id"], "panel": 3})  # fmt: skip
    assert not redo.is_error, text_of(redo)
    assert "Only panel 3 was redrawn" in text_of(redo) and redo.structured_content["panel"] == 3
    mask = next(i for i in api.requests[-1].images if i.field == "mask")
    assert mask.transparent_box == (0, 512, 512, 1024)
    assert api.requests[-1].images[0].format == "PNG"

    tries = mcp.call("generate_comic", {"prompt": "Now in a cute outfit.",
                                        "refine": comic["comic_id"], "variants": 3})  # fmt: skip
    assert not tries.is_error, text_of(tries)
    variants = tries.structured_content["variants"]
    assert len(variants) == 3 and "3 variants" in text_of(tries)
    pictures = [b for b in tries.content if b.type == "image"]
    assert len(pictures) == 1 and len(pictures[0].data) < 200_000  # one small sheet
    assert api.requests[-1].fields["n"] == "3"

    done = run_cli("comic", "--refine", variants[1], "--panel", "2", "--prompt", "A hat.",
                   "--json", env=library["env"])  # fmt: skip
    assert done.returncode == 0, done.stderr
    branch = json.loads(done.stdout)
    assert branch["parent_id"] == variants[1] and branch["panel"] == 2
    listed = text_of(mcp.call("list_comics", {}))
    lines = {line.strip().lstrip("└ ").split(" ")[0]: line for line in listed.splitlines()[1:]}
    indent = {cid: len(line) - len(line.lstrip()) for cid, line in lines.items()}
    assert indent[comic["comic_id"]] < indent[variants[1]] < indent[branch["comic_id"]]
    terminal = run_cli("comics", env=library["env"])
    assert f"└ {branch['comic_id']}" in terminal.stdout and "panel 2" in terminal.stdout
