"""File names reach a person's terminal escaped: a planted name cannot colour the screen,
retitle the window, return the cursor, fake a line or reverse the text; ``--json`` stays exact.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import run_cli, scene

pytestmark = pytest.mark.e2e

PLANTED = "evil\x1b[31m\x1b]0;owned\x07\r\nfake line\u202egpj.jpg"
RAW = ("\x1b", "\x07", "\r", "\u202e")


def test_planted_file_names_print_escaped_and_json_stays_exact(tmp_path: Path) -> None:
    photos, data = tmp_path / "photos", tmp_path / "data"
    photos.mkdir()
    planted = photos / PLANTED
    scene(1).save(planted, "JPEG")
    scene(1).resize((320, 240)).save(photos / "copy.jpg", "JPEG")
    assert run_cli("index", str(photos), "--data-dir", str(data)).returncode == 0
    for command in (["search", str(planted), "--limit", "2"], ["duplicates"]):
        done = run_cli(*command, "--data-dir", str(data))
        assert done.returncode == 0, done.stderr
        assert not any(raw in done.stdout + done.stderr for raw in RAW), repr(done.stdout)
        assert "\\x1b[31m" in done.stdout and "\\u202e" in done.stdout
        assert not any(line.startswith("fake line") for line in done.stdout.splitlines())
    exact = run_cli("search", str(planted), "--limit", "1", "--json", "--data-dir", str(data))
    assert json.loads(exact.stdout)[0]["hits"][0]["path"] == str(planted)
