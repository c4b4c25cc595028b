"""The ``photocomic`` command as a user runs it: JSON contracts, exit statuses, one-line errors."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import REPO, engine_stacks, run_cli, stop_engine, write_photos


@pytest.fixture(scope="module")
def indexed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """A library indexed once through the CLI, shared by the read-only tests below."""
    root = tmp_path_factory.mktemp("cli")
    photos = root / "photos"
    write_photos(photos, 10)
    env = {"PHOTOCOMIC_DATA_DIR": str(root / "data"), "HF_HUB_OFFLINE": "1",
           "PHOTOCOMIC_COMPILED_DIR": str(root / "compiled")}  # fmt: skip
    done = run_cli("index", str(photos), "--json", env=env)
    assert done.returncode == 0, done.stderr
    yield {"photos": str(photos), **env}
    stop_engine(root / "data")


def _env(indexed: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in indexed.items() if k != "photos"}


def test_index_json_reports_every_count(indexed: dict[str, str]) -> None:
    done = run_cli("index", indexed["photos"], "--json", env=_env(indexed))
    summary = json.loads(done.stdout)
    assert done.returncode == 0
    fields = {"scanned", "added", "updated", "unchanged", "removed", "failed", "seconds"}
    assert set(summary) >= fields
    assert (summary["scanned"], summary["unchanged"], summary["added"]) == (10, 10, 0)
    assert summary["failed"] == []


def test_an_engine_writes_every_threads_stack_to_its_log_when_asked(
    indexed: dict[str, str],
) -> None:
    """``kill -USR1 <engine pid>``, as the README says, for an engine that seems stuck; it
    goes on serving."""
    assert run_cli("status", "--json", env=_env(indexed)).returncode == 0  # the engine is up
    stacks = engine_stacks(Path(indexed["PHOTOCOMIC_DATA_DIR"]))
    assert "serve_forever" in stacks and "(most recent call first)" in stacks
    assert run_cli("status", "--json", env=_env(indexed)).returncode == 0


def test_search_json_has_one_entry_per_query_in_order(indexed: dict[str, str]) -> None:
    photos = Path(indexed["photos"])
    queries = [str(photos / "photo_0004.jpg"), str(photos / "photo_0001.jpg")]
    done = run_cli("search", *queries, "--limit", "3", "--json", env=_env(indexed))
    assert done.returncode == 0, done.stderr
    results = json.loads(done.stdout)
    assert [r["query"] for r in results] == queries
    for result, query in zip(results, queries, strict=True):
        assert len(result["hits"]) == 3
        first = result["hits"][0]
        assert first["path"] == query and first["score"] >= 0.99
        assert isinstance(first["photo_id"], int)


def test_search_by_photo_id(indexed: dict[str, str]) -> None:
    env = _env(indexed)
    query = str(Path(indexed["photos"]) / "photo_0002.jpg")
    found = json.loads(run_cli("search", query, "--json", env=env).stdout)
    photo_id = found[0]["hits"][0]["photo_id"]
    done = run_cli("search", "--id", str(photo_id), "--limit", "2", "--json", env=env)
    assert json.loads(done.stdout)[0]["hits"][0]["path"] == query


def test_status_json(indexed: dict[str, str]) -> None:
    done = run_cli("status", "--json", env=_env(indexed))
    status = json.loads(done.stdout)
    assert status["photos"] == 10
    assert status["model"] == "tf_efficientnet_lite0"
    assert status["db"].endswith("photos.db")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["index", "/no/such/folder"], "folder not found: /no/such/folder"),
        (["search", "/no/such/photo.jpg"], "query image not found"),
    ],
)
def test_errors_are_one_line_with_non_zero_status(
    indexed: dict[str, str], args: list[str], message: str
) -> None:
    done = run_cli(*args, env=_env(indexed))
    assert done.returncode == 1
    assert message in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
    assert "Traceback" not in done.stderr


def test_unreadable_query_image(indexed: dict[str, str], tmp_path: Path) -> None:
    bad = tmp_path / "notes.jpg"
    bad.write_text("not a photo")
    done = run_cli("search", str(bad), env=_env(indexed))
    assert done.returncode == 1
    assert f"cannot read query image {bad}" in done.stderr


def test_store_held_by_another_process_names_the_holder(indexed: dict[str, str]) -> None:
    """A process that is not photocomic's engine holds the store: the engine cannot open it
    and the command says which process has it, in one line."""
    env = _env(indexed)
    stop_engine(Path(env["PHOTOCOMIC_DATA_DIR"]))
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import time; from photocomic.tools.config import Settings;"
            "from photocomic.tools.store.photo_store import PhotoStore;"
            "s = PhotoStore(Settings()); print('ready', flush=True); time.sleep(60)",
        ],
        env={**__import__("os").environ, **env},
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "ready"
        started = time.monotonic()
        done = run_cli("status", env=env)
        assert time.monotonic() - started < 30
        assert done.returncode == 1
        assert f"pid {holder.pid}" in done.stderr
        assert "in use by another process" in done.stderr
        assert len(done.stderr.strip().splitlines()) == 1
    finally:
        holder.kill()
        holder.wait()
    assert run_cli("status", env=env).returncode == 0  # the lock goes with the process


def test_model_mismatch_exits_non_zero(indexed: dict[str, str], tmp_path: Path) -> None:
    import timm
    import torch

    weights = tmp_path / "r18.pth"
    torch.save(timm.create_model("resnet18", num_classes=0).state_dict(), weights)
    done = run_cli(
        "index", indexed["photos"], "--model", "resnet18", "--weights", str(weights),
        env=_env(indexed),
    )  # fmt: skip
    assert done.returncode == 1
    assert "built with model tf_efficientnet_lite0" in done.stderr


def test_help_lists_every_command() -> None:
    done = run_cli("--help")
    for command in ("index", "search", "status", "comic", "comics", "serve"):
        assert command in done.stdout


def test_readme_test_command_matches_ci() -> None:
    """The README's test command is the one CI runs, so a green CI means the README works."""
    readme = (REPO / "README.md").read_text()
    ci = (REPO / ".ci" / "run").read_text()
    assert "python -m pytest" in readme and "python -m pytest" in ci


def test_storyboard_comic_from_a_path_and_an_id_then_listed(indexed: dict[str, str]) -> None:
    """The README's offline main job ends with a storyboard comic: no key, no network."""
    env = _env(indexed)
    photos = Path(indexed["photos"])
    hit = json.loads(run_cli("search", str(photos / "photo_0003.jpg"), "--json", env=env).stdout)
    photo_id = hit[0]["hits"][0]["photo_id"]
    done = run_cli(
        "comic", "--backend", "storyboard", "--prompt", "a day out",
        "--photo", str(photos / "photo_0001.jpg"), "--photo", str(photo_id), "--json",
        env=env,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    record = json.loads(done.stdout)
    assert Path(record["path"]).is_file()
    assert [p["path"] for p in record["photos"]] == [
        str(photos / "photo_0001.jpg"),
        str(photos / "photo_0003.jpg"),
    ]
    assert record["photos"][1]["photo_id"] == photo_id
    listed = json.loads(run_cli("comics", "--json", env=env).stdout)
    assert record["comic_id"] in [c["comic_id"] for c in listed]
    # exactly as the README's main job runs it: for a person, no --json
    said = run_cli(
        "comic", "--backend", "storyboard", "--prompt", "a day out",
        "--photo", str(photos / "photo_0001.jpg"), env=env,
    )  # fmt: skip
    assert said.returncode == 0 and said.stdout.startswith("comic c"), said.stderr
    listing = run_cli("comics", "--limit", "1", env=env)
    assert listing.returncode == 0 and listing.stdout.count("\n") == 1, listing.stdout


def test_comic_without_a_key_names_the_variable_and_the_storyboard(indexed: dict[str, str]) -> None:
    photo = str(Path(indexed["photos"]) / "photo_0001.jpg")
    done = run_cli("comic", "--prompt", "a day out", "--photo", photo, env=_env(indexed))
    assert done.returncode == 1
    assert "OPENAI_API_KEY" in done.stderr and "storyboard" in done.stderr
