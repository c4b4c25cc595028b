"""The same library on a real Milvus server: every expression photocomic sends, re-scans,
filters, a wrong token, the server dying mid-index, and a move from Milvus Lite.

The server is the standalone binary of ``pip install milvus==2.3.5`` (the oldest server
photocomic supports; newer servers and Zilliz Cloud are supersets), with authentication on,
started once for the session (see ``milvus_server.py``). Each test has its own collection.
"""

from __future__ import annotations

import json
import os
import secrets
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import run_cli, stop_engine, write_photos
from milvus_server import MilvusServer, server_for_tests
from reliability_support import WatchedRun


@pytest.fixture(scope="session")
def milvus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MilvusServer]:
    server = server_for_tests(tmp_path_factory.mktemp("milvus"))
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def remote(milvus: MilvusServer, isolated_env: Path) -> Iterator[dict[str, str]]:
    """Environment of a door whose library lives in a fresh collection on the server."""
    collection = "t_" + secrets.token_hex(4)
    env = {
        "PHOTOCOMIC_DB": milvus.uri,
        "PHOTOCOMIC_MILVUS_TOKEN": milvus.token,
        "PHOTOCOMIC_COLLECTION": collection,
        "PHOTOCOMIC_DATA_DIR": str(isolated_env),
    }
    yield env
    stop_engine(isolated_env)
    from pymilvus import MilvusClient

    client = MilvusClient(uri=milvus.uri, token=milvus.token)
    for name in client.list_collections():
        if name.startswith(collection):
            client.drop_collection(name)
    client.close()


def cli_json(*args: str, env: dict[str, str]) -> object:
    done = run_cli(*args, "--json", env=env)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def hits(*args: str, env: dict[str, str]) -> list[dict[str, object]]:
    """Every hit, near-identical copies included (the default skips them for variety)."""
    found = cli_json("search", *args, "--no-diversify", env=env)
    assert isinstance(found, list)
    return found[0]["hits"]  # type: ignore[no-any-return]


def test_folders_with_any_name_rescan_remove_and_filter_on_the_server(
    remote: dict[str, str], tmp_path: Path
) -> None:
    odd = tmp_path / "trip_2024 100%" / 'Cola\'s "best" dé_jà'
    plain = tmp_path / "plain"
    odd_photos = write_photos(odd, 6)
    plain_photos = write_photos(plain, 5, start=50)
    latin1 = os.fsencode(odd) + b"/caf\xe9.jpg"  # a name that is not UTF-8
    with open(latin1, "wb") as handle:
        handle.write(plain_photos[0].read_bytes())
    first = cli_json("index", str(odd), str(plain), env=remote)
    assert isinstance(first, dict) and (first["added"], first["failed"]) == (12, [])

    top = hits(str(odd_photos[2]), "--limit", "1", env=remote)[0]  # read your writes
    assert top["path"] == str(odd_photos[2]) and float(top["score"]) >= 0.99  # type: ignore[arg-type]
    latin = [h for h in hits(str(plain_photos[0]), "--limit", "3", env=remote) if h["raw_path"]]
    assert latin and os.fsencode(json.loads(json.dumps(latin[0]["path"]))) != latin1
    import base64

    assert base64.b64decode(str(latin[0]["raw_path"])) == latin1  # its path round-trips

    odd_photos[0].unlink()
    started = time.monotonic()
    again = cli_json("index", str(odd), env=remote)
    assert isinstance(again, dict)
    assert (again["unchanged"], again["removed"], again["added"]) == (6, 1, 0)
    assert time.monotonic() - started < 30

    only_plain = hits(str(odd_photos[1]), "--folder", str(plain), "--limit", "20", env=remote)
    assert {h["path"] for h in only_plain} == {str(p) for p in plain_photos}
    only_odd = hits(str(plain_photos[1]), "--folder", str(odd), "--limit", "20", env=remote)
    assert len(only_odd) == 6 and all(str(odd) in str(h["path"]) for h in only_odd)
    dated = hits(str(odd_photos[1]), "--after", "2000-01-01", "--limit", "20", env=remote)
    assert len(dated) == 11
    assert hits(str(odd_photos[1]), "--before", "2000-01-01", env=remote) == []
    status = cli_json("status", env=remote)
    assert isinstance(status, dict) and status["photos"] == 11
    dupes = cli_json("duplicates", env=remote)
    assert isinstance(dupes, dict)
    assert any(
        {os.path.basename(str(p["path"])) for p in g["photos"]} >= {"photo_0050.jpg"}
        for g in dupes["groups"]
    ), "the copy named caf\\xe9.jpg groups with its original"


def test_a_wrong_token_and_an_unreachable_server_are_one_line_errors(
    remote: dict[str, str], tmp_path: Path
) -> None:
    photos = tmp_path / "p"
    write_photos(photos, 1)
    for env, words in (
        ({**remote, "PHOTOCOMIC_MILVUS_TOKEN": "root:wrong"}, "PHOTOCOMIC_MILVUS_TOKEN"),
        ({**remote, "PHOTOCOMIC_DB": "http://127.0.0.1:9"}, "reachable"),
    ):
        stop_engine(Path(remote["PHOTOCOMIC_DATA_DIR"]))
        done = run_cli("index", str(photos), env=env, timeout=180)
        assert done.returncode == 1, done.stdout
        lines = done.stderr.strip().splitlines()
        assert len(lines) == 1 and words in lines[0], done.stderr
        assert "Traceback" not in done.stderr


def test_the_server_killed_mid_index_then_a_rerun_stores_every_photo_once(
    milvus: MilvusServer, remote: dict[str, str], tmp_path: Path
) -> None:
    if not milvus.can_restart:
        pytest.skip("the server was started outside the tests: it cannot be killed here")
    library = tmp_path / "library"
    photos = write_photos(library, 160, size=(320, 240))
    env = {**os.environ, **remote, "PHOTOCOMIC_BATCH_SIZE": "8", "PHOTOCOMIC_WORKERS": "1"}
    run = WatchedRun(["index", str(library), "--json"], env)
    assert run.wait_for(lambda: run.progress is not None and run.progress[0] >= 80, 300)
    milvus.kill9()
    assert run.finish(timeout=300) == 1
    lines = [line for line in run.text().splitlines() if line.startswith("photocomic:")]
    assert lines and "kept" in lines[-1] and milvus.uri in lines[-1], run.text()[-2000:]
    milvus.restart()
    final = cli_json("index", str(library), env=remote)
    assert isinstance(final, dict) and final["failed"] == []
    assert final["added"] + final["unchanged"] == len(photos)
    status = cli_json("status", env=remote)
    assert isinstance(status, dict) and status["photos"] == len(photos)
    top = hits(str(photos[-1]), "--limit", "1", env=remote)[0]
    assert top["path"] == str(photos[-1])


def test_a_lite_library_moves_to_the_server_without_embedding_again(
    remote: dict[str, str], tmp_path: Path, isolated_env: Path
) -> None:
    library = tmp_path / "library"
    photos = write_photos(library, 121, size=(320, 240))
    lite = {"PHOTOCOMIC_DATA_DIR": str(isolated_env)}
    indexed = cli_json("index", str(library), env=lite)
    assert isinstance(indexed, dict) and indexed["added"] == 121
    before = hits(str(photos[7]), "--limit", "5", env=lite)
    teach = [part for p in photos[:3] for part in ("--photo", str(p))]
    cli_json("subject", "add", "Cola", *teach, env=lite)
    sheet = cli_json("subject", "sheet", "Cola", "--backend", "storyboard", env=lite)
    assert isinstance(sheet, dict) and sheet["sheet_for"] == "Cola"

    stop_engine(isolated_env)  # a fresh owner: one that loads no model for the move
    target = ["--to", remote["PHOTOCOMIC_DB"], "--collection", remote["PHOTOCOMIC_COLLECTION"]]
    token = {"PHOTOCOMIC_MILVUS_TOKEN": remote["PHOTOCOMIC_MILVUS_TOKEN"]}
    moved = cli_json("migrate", *target, env={**lite, **token})
    assert isinstance(moved, dict) and moved["photos"] == 121 == moved["copied"]
    status = cli_json("status", env=lite)
    assert isinstance(status, dict) and status["model_loaded"] is False  # copied, not embedded

    after = hits(str(photos[7]), "--limit", "5", env=remote)
    assert [h["photo_id"] for h in after] == [h["photo_id"] for h in before]
    again = cli_json("index", str(library), env=remote)
    assert isinstance(again, dict) and again["unchanged"] == 121 and again["added"] == 0

    shown = cli_json("subject", "show", "cola", env=remote)  # the sheet moved with the subject
    assert isinstance(shown, dict)
    assert shown["sheets"] == [
        {"subject": "Cola", "style": "ghibli", "comic_id": sheet["comic_id"]}
    ]
    comic = cli_json("comic", "--prompt", "A walk.", "--subject", "Cola", "--backend",
                     "storyboard", env=remote)  # fmt: skip
    assert isinstance(comic, dict) and comic["input_images"][0] == f"comic:{sheet['comic_id']}"


def _wait_until_granted(uri: str, token: str, collection: str) -> None:
    """A grant reaches the server's proxy a moment after the call returns (its log shows the
    user still with only the 'public' role about 100 ms later), so wait until it has."""
    from pymilvus import MilvusClient

    deadline = time.monotonic() + 30
    while True:
        client = MilvusClient(uri=uri, token=token)
        try:
            client.load_collection(collection)
            return
        except Exception:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)
        finally:
            client.close()


def test_each_door_is_judged_by_its_own_milvus_token(
    milvus: MilvusServer, remote: dict[str, str], tmp_path: Path
) -> None:
    """One engine serves them all, yet a door with a wrong or no token is refused while
    another door is connected, and a user whose role may only search cannot index."""
    from pymilvus import MilvusClient

    photos = write_photos(tmp_path / "p", 3)
    assert cli_json("index", str(photos[0].parent), env=remote)["added"] == 3  # type: ignore[index]
    collection = remote["PHOTOCOMIC_COLLECTION"]
    user, password = "reader_" + collection, "pw-" + secrets.token_hex(8)
    admin = MilvusClient(uri=milvus.uri, token=milvus.token)
    admin.create_user(user, password)
    admin.create_role(user)
    for privilege in ("Search", "Query", "Load", "GetLoadState", "GetLoadingProgress"):
        admin.grant_privilege(user, "Collection", privilege, collection)
    for privilege in ("ShowCollections", "DescribeCollection"):
        admin.grant_privilege(user, "Global", privilege, "*")
    admin.grant_role(user, user)
    try:
        _wait_until_granted(milvus.uri, f"{user}:{password}", collection)
        for token in ("root:wrong", ""):
            done = run_cli(
                "search", str(photos[0]), env={**remote, "PHOTOCOMIC_MILVUS_TOKEN": token}
            )
            assert done.returncode == 1 and "refused the connection" in done.stderr, done.stderr
        reader = {**remote, "PHOTOCOMIC_MILVUS_TOKEN": f"{user}:{password}"}
        assert hits(str(photos[1]), "--limit", "1", env=reader)[0]["path"] == str(photos[1])
        write_photos(photos[0].parent, 1, start=90)
        done = run_cli("index", str(photos[0].parent), env=reader)
        assert done.returncode == 1, done.stdout
        assert f"does not let the user '{user}' do Upsert" in done.stderr, done.stderr
        assert cli_json("status", env=remote)["photos"] == 3  # type: ignore[index]
    finally:
        admin.drop_user(user)
        admin.close()


def test_milvus_lite_finds_what_the_server_finds_after_the_same_history(
    milvus: MilvusServer, tmp_path: Path
) -> None:
    """photocomic's quick Milvus Lite search path against a real server's answer."""
    import numpy as np
    from lite_rows import DIM, build_history
    from photocomic.tools.config import Settings
    from photocomic.tools.find.filters import SearchFilters
    from photocomic.tools.store.photo_store import PhotoStore

    queries = np.random.default_rng(9).standard_normal((8, DIM)).astype(np.float32)
    filters = ["", SearchFilters(folder="/library/roll1").expression(), "taken_at >= 1700200000"]
    answers = []
    server = Settings(data_dir=tmp_path / "server", db=milvus.uri, milvus_token=milvus.token,
                      collection="t_" + secrets.token_hex(4))  # fmt: skip
    for settings in (Settings(data_dir=tmp_path / "lite"), server):
        with PhotoStore(settings) as store:
            build_history(store)
            store.require()
            answers.append([
                [(h.row.photo_id, h.row.size, round(h.score, 4)) for h in hits]
                for expr in filters for hits in store.search(queries, 10, expr)
            ])  # fmt: skip
            if settings is server:
                store.client.drop_collection(settings.collection)
    assert answers[0] == answers[1]
