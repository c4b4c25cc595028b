"""Links planted by another local user are never written through, and nothing is created in a
folder of theirs; what photocomic itself creates is owner-only from the first byte.

As root (CI) the traps belong to a real second user, made with ``useradd`` as in
``test_security_local.py``; otherwise this user lays them, and they must be refused the same.
"""

from __future__ import annotations

import os
import pwd
from pathlib import Path

import pytest
from conftest import run_cli, stop_engine, write_photos

PRECIOUS = "owner's own settings\n"


def _owned_by(path: Path, user: str | None) -> None:
    if user is not None:
        record = pwd.getpwnam(user)
        os.lchown(path, record.pw_uid, record.pw_gid)


def test_a_lock_link_in_a_shared_store_folder_is_not_followed(
    tmp_path: Path, spy: Path, hostile_user: str | None
) -> None:
    victim = tmp_path / "victim.conf"
    victim.write_text(PRECIOUS)
    (spy / "photos.db.lock").symlink_to(victim)
    _owned_by(spy / "photos.db.lock", hostile_user)
    done = run_cli("status", "--db", str(spy / "photos.db"), "--data-dir", str(tmp_path / "d"))
    assert done.returncode == 1, done.stdout
    assert "other users" in done.stderr and str(spy) in done.stderr
    assert victim.read_text() == PRECIOUS and not (spy / "photos.db").exists()
    stop_engine(tmp_path / "d")


def test_a_data_folder_of_another_user_is_refused_before_anything_is_written(
    tmp_path: Path, spy: Path, hostile_user: str | None
) -> None:
    if hostile_user is None:
        pytest.skip("needs a second user (run as root, as CI does)")
    victim = tmp_path / "victim.conf"
    victim.write_text(PRECIOUS)
    theirs = spy / "data"
    theirs.mkdir()
    (theirs / "engine.log").symlink_to(victim)
    for path in (theirs / "engine.log", theirs):
        _owned_by(path, hostile_user)
    done = run_cli("status", "--data-dir", str(theirs))
    assert done.returncode == 1 and "another user" in done.stderr, done.stderr
    assert victim.read_text() == PRECIOUS, "the log link was written through"
    assert sorted(os.listdir(theirs)) == ["engine.log"], "something was made in their folder"
    engine = run_cli("engine", "--data-dir", str(theirs), "--idle", "1")
    assert engine.returncode == 1 and "another user" in engine.stderr
    assert sorted(os.listdir(theirs)) == ["engine.log"] and victim.read_text() == PRECIOUS


def test_what_photocomic_creates_is_owner_only_from_the_start(tmp_path: Path) -> None:
    data = tmp_path / "data"
    write_photos(tmp_path / "photos", 1)
    try:
        assert run_cli("index", str(tmp_path / "photos"), "--data-dir", str(data)).returncode == 0
        for path in (data / "engine.log", data / "engine.lock", data / "photos.db.lock"):
            assert (path.stat().st_mode & 0o777) == 0o600, path
        for folder in (data, data / "cache", data / "cache" / "tmp"):
            assert (folder.stat().st_mode & 0o777) == 0o700, folder
    finally:
        stop_engine(data)
