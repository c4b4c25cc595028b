"""Installed the way people install local MCP servers: an MCP Bundle and uvx.

The bundle is built by ``scripts/build_bundle.sh``, checked and packed by the official MCP
Bundle CLI (npm ``@anthropic-ai/mcpb``), unpacked, and started exactly as its manifest says,
with ``${__dirname}`` and ``${user_config.*}`` filled in as a client fills them; the real MCP
client then lists its tools, indexes the configured folder and searches it. uv installs the
dependencies as it would for a user; in CI it reads them from a local wheelhouse (the packages
of the test environment, ``PHOTOCOMIC_TEST_WHEELHOUSE``), offline, instead of downloading
PyTorch again.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import REPO, stop_engine, write_photos
from mcp_session import McpSession, ok, text_of

MCPB = REPO / ".ci" / "tools" / "node_modules" / ".bin" / "mcpb"
KEY = "sk-test-bundle-0123456789abcdef"
# read now: each test's environment is cleared of PHOTOCOMIC_ variables (conftest)
WHEELHOUSE = os.environ.get("PHOTOCOMIC_TEST_WHEELHOUSE")
REQUIRED = bool(os.environ.get("PHOTOCOMIC_REQUIRE_INSTALL_TOOLS"))


def _need(what: str) -> None:
    message = f"{what}; .ci/run installs it (npm .ci/tools, uv from PyPI, the wheelhouse)"
    if REQUIRED:
        pytest.fail(message)
    pytest.skip(message)


def uv_env(base: dict[str, str]) -> dict[str, str]:
    """How uv reaches packages here: the wheelhouse, offline, when CI made one."""
    env = dict(base)
    if WHEELHOUSE:
        env.update(UV_OFFLINE="1", UV_FIND_LINKS=WHEELHOUSE)
    env["UV_PYTHON"] = f"python{sys.version_info.major}.{sys.version_info.minor}"
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    return env


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if not MCPB.exists():
        _need(f"the MCP Bundle CLI is not at {MCPB}")
    if shutil.which("uvx", path=str(Path(sys.executable).parent)) is None:
        _need("uv is not installed in this environment")
    if not WHEELHOUSE:
        _need("no wheelhouse of the test environment's packages (PHOTOCOMIC_TEST_WHEELHOUSE)")
    out = tmp_path_factory.mktemp("bundle")
    done = subprocess.run(
        [str(REPO / "scripts" / "build_bundle.sh"), str(out)],
        capture_output=True, text=True, timeout=600, env={**os.environ, "MCPB": str(MCPB)},
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Manifest schema validation passes" in done.stdout, done.stdout
    return out / "photocomic.mcpb"


def test_the_manifest_is_what_the_server_says_and_names_no_build_path(bundle: Path) -> None:
    with zipfile.ZipFile(bundle) as packed:
        names = packed.namelist()
        manifest = json.loads(packed.read("manifest.json"))
    text = json.dumps(manifest)
    assert manifest["manifest_version"] == "0.4" and manifest["server"]["type"] == "uv"
    for private in (str(REPO), os.path.expanduser("~"), "/tmp/"):
        assert private not in text, f"the manifest names {private}"
    assert "icon.png" in names and "pyproject.toml" in names and "server/cli.py" in names
    assert not any(n.startswith((".venv", "tests/", "bench/")) or "__pycache__" in n for n in names)
    config = manifest["user_config"]
    assert config["photo_folders"]["type"] == "directory" and config["photo_folders"]["multiple"]
    assert config["openai_api_key"]["sensitive"] is True
    assert "${user_config.openai_api_key}" in manifest["server"]["mcp_config"]["env"].values()
    assert "openai_api_key" not in " ".join(manifest["server"]["mcp_config"]["args"])
    assert {"milvus_uri", "milvus_token", "image_model"} <= set(config)
    assert manifest["compatibility"]["runtimes"]["python"] == ">=3.10"
    tools = {t["name"]: t["description"] for t in manifest["tools"]}
    assert "app_thumbnails" not in tools and "generate_comic" in tools
    assert [p["name"] for p in manifest["prompts"]] == ["photo_comic"]
    return None


def client_command(
    manifest: dict[str, Any], folder: Path, where: Path
) -> tuple[list[str], dict[str, str]]:
    """The server's command and environment as a client fills the manifest in."""
    values: dict[str, Any] = {
        "photo_folders": [str(folder)], "openai_api_key": KEY, "milvus_uri": "",
        "milvus_token": "", "image_model": "auto",
    }  # fmt: skip
    config = manifest["server"]["mcp_config"]

    def fill(text: str) -> list[str]:
        text = text.replace("${__dirname}", str(where))
        for key, value in values.items():
            token = "${user_config." + key + "}"
            if text == token and isinstance(value, list):
                return list(value)  # several folders: one argument each
            text = text.replace(token, value if isinstance(value, str) else " ".join(value))
        return [text]

    command = [part for arg in [config["command"], *config["args"]] for part in fill(arg)]
    env = {k: fill(v)[0] for k, v in config.get("env", {}).items()}
    return command, env


@pytest.fixture
def unpacked(bundle: Path, tmp_path: Path) -> Iterator[dict[str, Any]]:
    where = tmp_path / "Claude Extensions" / "photocomic"
    with zipfile.ZipFile(bundle) as packed:
        packed.extractall(where)
    manifest = json.loads((where / "manifest.json").read_text())
    yield {"where": where, "manifest": manifest}


def indexed_through(mcp: McpSession, folder: Path) -> dict[str, Any]:
    """Index as an assistant does: start, then ask index_status until the run ends. A fresh
    install's first run imports and compiles the model's packages, which can take longer than
    one call may wait."""
    job = ok(mcp.call("index_folder", {"path": str(folder), "wait_seconds": 50}))
    for _ in range(6):
        if job["state"] not in ("queued", "running"):
            break
        job = ok(mcp.call("index_status", {"job_id": job["job_id"], "wait_seconds": 50}))
    return job


def test_the_unpacked_bundle_starts_as_its_manifest_says_indexes_and_finds(
    unpacked: dict[str, Any], tmp_path: Path
) -> None:
    folder = tmp_path / "My Photos"
    photos = write_photos(folder, 5)
    outside = write_photos(tmp_path / "elsewhere", 1, 50)[0]
    command, config_env = client_command(unpacked["manifest"], folder, unpacked["where"])
    assert command[:3] == ["uv", "tool", "run"] and str(folder) in command
    data = tmp_path / "data"
    home = os.environ.get("HOME", str(tmp_path))
    env = uv_env({"HOME": home, "PATH": os.environ["PATH"], "PHOTOCOMIC_DATA_DIR": str(data),
                  "HF_HUB_OFFLINE": "1", **config_env})  # fmt: skip
    try:
        with open(tmp_path / "server.log", "w") as log, McpSession.stdio(command, env, log) as mcp:
            names = {t.name for t in mcp.list_tools().tools}
            assert {t["name"] for t in unpacked["manifest"]["tools"]} <= names
            indexed = indexed_through(mcp, folder)
            assert indexed["state"] == "done" and indexed["summary"]["added"] == 5
            found = ok(mcp.call("search_similar", {"image": str(photos[2]), "limit": 3}))
            assert found["hits"][0]["path"] == str(photos[2])
            refused = mcp.call("index_folder", {"path": str(outside.parent)})
            assert refused.is_error and "outside" in text_of(refused)
    finally:
        stop_engine(data)


def test_uvx_from_a_checkout_starts_a_working_server(tmp_path: Path) -> None:
    if shutil.which("uvx", path=str(Path(sys.executable).parent)) is None:
        _need("uv is not installed in this environment")
    if not WHEELHOUSE:  # uvx would download PyTorch again and the client give up waiting
        _need("no wheelhouse of the test environment's packages (PHOTOCOMIC_TEST_WHEELHOUSE)")
    folder = tmp_path / "photos"
    write_photos(folder, 2)
    data = tmp_path / "data"
    env = uv_env({"HOME": os.environ.get("HOME", str(tmp_path)), "PATH": os.environ["PATH"],
                  "PHOTOCOMIC_DATA_DIR": str(data), "HF_HUB_OFFLINE": "1"})  # fmt: skip
    command = ["uvx", "--from", str(REPO), "photocomic", "serve", "--root", str(folder)]
    try:
        with open(tmp_path / "server.log", "w") as log, McpSession.stdio(command, env, log) as mcp:
            names = {t.name for t in mcp.list_tools().tools}
            assert {"search_similar", "generate_comic", "index_folder"} <= names
            assert ok(mcp.call("library_status"))["roots"] == [str(folder)]
    finally:
        stop_engine(data)
