"""The MCP server under hostile input, a failing image API, and kill -9, through the real
``mcp`` client over stdio (``photocomic serve --root DIR``).

What is checked beyond "each bad call is a tool error": nothing outside the roots is opened
or read (Linux inotify watches the outside folder, whose photos the store does know), nothing
outside the data folder is written (a snapshot of the tree, HOME, TMPDIR and the working
directory before and after), the server keeps answering, no API key appears anywhere, and a
server killed in the middle of ``index_folder`` is finished by the next one with every photo
once, while searches issued during the run answer correctly.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import signal
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import write_photos
from mcp import StdioServerParameters
from mcp.client.stdio import stdio_client
from mcp_session import (
    McpSession,
    ok,
    serve_command,
    server_env,
    text_of,
)
from openai_double import OpenAIDouble
from PIL import Image
from reliability_support import (
    ReadWatch,
    cli_command,
    engine_pid,
    files_containing,
    run_json,
    server_pid,
    store_contents,
    tree_snapshot,
)

FAKE_KEY = "sk-proj-RELIABILITY-0d1e2a3d4b5e6e7f-NEVER-SHOWN"
KEY_MARK = "0d1e2a3d4b5e6e7f"  # the key's unique middle: also catches partial echoes
MB = 1024 * 1024


def stdio_session(
    root: Path, env: dict[str, str], errlog: Any, cwd: Path | None = None
) -> McpSession:
    command = serve_command("--root", str(root))
    params = StdioServerParameters(
        command=command[0], args=command[1:], env=env, cwd=str(cwd) if cwd else None
    )
    return McpSession(stdio_client(params, errlog=errlog))


def assert_clear_error(answer: Any, words: str, case: str) -> str:
    text = text_of(answer)
    assert answer.is_error, f"{case}: accepted: {text[:300]}"
    assert words.lower() in text.lower(), f"{case}: {text[:500]!r} does not say {words!r}"
    assert "internal error" not in text, f"{case}: not a clear message: {text[:300]}"
    assert "Traceback" not in text and len(text) < 2_000, f"{case}: {text[:300]}"
    return text


# -- hostile input -----------------------------------------------------------------------------


@pytest.fixture
def world(tmp_path: Path) -> dict[str, Path]:
    """Photo root, an outside folder (indexed earlier, so the store knows it), and the places
    a careless server might write to: HOME, TMPDIR and its working directory."""
    base = tmp_path / "world"
    root = base / "photos"
    write_photos(root, 6)
    write_photos(root / "album", 2, start=50)
    outside = base / "outside"
    write_photos(outside, 2, prefix="secret")
    (outside / "notes.txt").write_text("bank PIN 1234\n")
    places = {
        "base": base,
        "root": root,
        "outside": outside,
        "data": base / "data",
        "home": base / "home",
        "tmp": base / "tmp",
        "cwd": base / "cwd",
        "logs": tmp_path / "logs",
    }
    for name in ("home", "tmp", "cwd", "logs"):
        places[name].mkdir()
    return places


HOSTILE: list[tuple[str, str, dict[str, Any], str]] = [
    ("dotdot", "search_similar", {"image": "../outside/secret_0000.jpg"}, "outside"),
    ("absolute", "search_similar", {"image": "{outside}/secret_0000.jpg"}, "outside"),
    ("absolute-dotdot", "search_similar", {"image": "{root}/../outside/notes.txt"}, "outside"),
    ("symlink-file", "search_similar", {"image": "escape.jpg"}, "outside"),
    ("through-symlinked-dir", "search_similar", {"image": "escape_dir/secret_0000.jpg"}, "outside"),
    ("index-symlinked-dir", "index_folder", {"path": "escape_dir"}, "outside"),
    ("index-filesystem-root", "index_folder", {"path": "/"}, "outside"),
    ("index-home", "index_folder", {"path": "~"}, "outside"),
    ("index-outside", "index_folder", {"path": "{outside}"}, "outside"),
    ("nul-image", "search_similar", {"image": "photo_0001.jpg\x00../outside/x.jpg"}, "NUL"),
    ("nul-folder", "index_folder", {"path": "album\x00"}, "NUL"),
    ("nul-comic-photo", "generate_comic", {"prompt": "x", "photos": ["a\x00.jpg"]}, "NUL"),
    ("base64-50MB", "search_similar", {"image_base64": "/9j/" + "A" * (50 * MB)}, "too large"),
    (
        "base64-text",
        "search_similar",
        {"image_base64": base64.b64encode(b"hi" * 99).decode()},
        "picture",
    ),
    ("base64-garbage", "search_similar", {"image_base64": "%%%% not base64 %%%%"}, "base64"),
    (
        "limit-negative",
        "search_similar",
        {"photo_id": 1, "limit": -5},
        "greater than or equal to 1",
    ),
    ("limit-huge", "search_similar", {"photo_id": 1, "limit": 2**70}, "limit"),
    (
        "limit-huge-find",
        "find_photos",
        {"text": "dog", "limit": 10**12},
        "less than or equal to 100",
    ),
    ("photo-unknown", "search_similar", {"photo_id": 123456789}, "unknown photo id"),
    ("photo-beyond-int64", "search_similar", {"photo_id": 2**70}, "unknown photo id"),
    ("photo-negative", "search_similar", {"photo_id": -3}, "positive"),
    ("like-unknown", "search_similar", {"like": [987654321]}, "unknown photo id"),
    (
        "comic-outside-id",
        "generate_comic",
        {"prompt": "x", "photos": ["{outside_id}"]},
        "unknown photo id",
    ),
    ("comic-outside-path", "generate_comic", {"prompt": "x", "photos": ["escape.jpg"]}, "outside"),
    ("comic-digits", "generate_comic", {"prompt": "x", "photos": ["0" * 5000]}, "at most 4,096"),
    ("comic-unknown", "generate_comic", {"prompt": "x", "refine": "c0123456789"}, "no comic"),
    (
        "comic-traversal",
        "generate_comic",
        {"prompt": "x", "refine": "../../etc/passwd"},
        "no comic",
    ),
    (
        "prompt-100k",
        "generate_comic",
        {"prompt": "y" * 100_000, "photos": ["photo_0001.jpg"]},
        "100,000 characters",
    ),
    ("path-10k", "search_similar", {"image": "a/" * 5000 + "x.jpg"}, "10,005 characters"),
    ("name-300", "search_similar", {"image": "x" * 300 + ".jpg"}, "too long"),
    ("link-loop", "search_similar", {"image": "loop.jpg"}, "loop"),
    ("fifo", "search_similar", {"image": "pipe.jpg"}, "not a file"),
    ("job-unknown", "index_status", {"job_id": "jnope"}, "no job"),
    ("find-folder-outside", "find_photos", {"text": "dog", "folder": "{outside}"}, "outside"),
    ("duplicates-outside", "find_duplicates", {"folder": "../outside"}, "outside"),
]


def fill(value: Any, names: dict[str, str]) -> Any:
    if isinstance(value, str) and len(value) < 1000 and "{" in value:
        return value.format(**names)
    if isinstance(value, list):
        return [fill(v, names) for v in value]
    return value


def test_hostile_input_is_refused_nothing_read_or_written_outside_and_the_server_answers(
    world: dict[str, Path],
) -> None:
    root, outside, data = world["root"], world["outside"], world["data"]
    env = server_env(data, HOME=str(world["home"]), TMPDIR=str(world["tmp"]))
    env["OPENAI_API_KEY"] = FAKE_KEY
    # The store knows the outside photos (indexed before the roots were narrowed).
    cli_tmp = world["logs"] / "cli-tmp"  # the command line is not held to the server's rule
    cli_tmp.mkdir()
    indexed = subprocess.run(
        cli_command("index", str(root), str(outside), "--json"),
        env={**env, "TMPDIR": str(cli_tmp)},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert indexed.returncode == 0, indexed.stderr
    from photocomic.tools.store.photo_store import photo_id_for

    outside_id = photo_id_for(str(outside / "secret_0000.jpg"))
    (root / "escape.jpg").symlink_to(outside / "secret_0000.jpg")
    (root / "escape_dir").symlink_to(outside, target_is_directory=True)
    (root / "loop.jpg").symlink_to(root / "loop.jpg")
    os.mkfifo(root / "pipe.jpg")

    before = tree_snapshot(world["base"], skip=(data,))
    watch = ReadWatch([outside])
    names = {"root": str(root), "outside": str(outside), "outside_id": str(outside_id)}
    log_path = world["logs"] / "server-stderr.log"
    with (
        api_double() as api,
        open(log_path, "w") as errlog,
        stdio_session(root, {**env, "OPENAI_BASE_URL": api.base_url}, errlog, world["cwd"]) as s,
    ):
        for case, tool, arguments, words in HOSTILE:
            started = time.monotonic()
            answer = s.call(tool, {k: fill(v, names) for k, v in arguments.items()})
            assert_clear_error(answer, words, case)
            assert time.monotonic() - started < 60, f"{case} took too long"

        # The store's outside photo as a query: its vector may be used, its path never shown.
        answer = s.call("search_similar", {"photo_id": outside_id, "limit": 20})
        shown = text_of(answer) + json.dumps(answer.structured_content)
        assert str(outside) not in shown and "secret_" not in shown
        from mcp.shared.exceptions import MCPError

        for uri in (f"photo://{outside_id}/thumbnail", "comic://../../../etc/passwd"):
            with pytest.raises(MCPError):
                s.read(uri)

        # Still answering, and answering right.
        query = root / "photo_0003.jpg"
        hits = ok(s.call("search_similar", {"image": str(query), "limit": 3}))["hits"]
        assert hits[0]["path"] == str(query) and hits[0]["score"] >= 0.99
        assert all(str(outside) not in h["path"] for h in hits)
        status = ok(s.call("library_status"))
        assert status["photos"] == 8, "the door counts its own folders (not the 2 outside)"
        # The store is served to the server's own client over an owner-only Unix socket:
        # no TCP port a local user could connect to.
        import psutil

        server = psutil.Process(server_pid(str(root)))
        assert [c for c in server.net_connections(kind="inet") if c.status == "LISTEN"] == []
        sock = data / "photos.db.sock"
        assert stat.S_ISSOCK(sock.stat().st_mode) and stat.S_IMODE(sock.stat().st_mode) == 0o600
        assert not api.requests, "no refused request reached the image API"
        outputs = list(s.outputs)

    reads = watch.events()
    watch.close()
    assert reads == [], f"the server opened or read files outside its roots: {reads}"
    after = tree_snapshot(world["base"], skip=(data,))
    assert after == before, {
        k: (before.get(k), after.get(k))
        for k in set(before) | set(after)
        if before.get(k) != after.get(k)
    }
    for place in ("home", "tmp", "cwd"):
        assert list(world[place].iterdir()) == [], f"the server wrote into {place}"
    stderr = log_path.read_text()
    assert "Traceback" not in stderr, stderr[-3000:]
    for text in [*outputs, stderr]:
        assert KEY_MARK not in text
    assert files_containing(data, KEY_MARK.encode()) == []


SURROGATE_CALL = (
    '{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"search_similar",'
    '"arguments":{"image":"\\ud800.jpg"}}}'
)


def test_a_message_the_sdk_cannot_parse_does_not_stop_the_server(tmp_path: Path) -> None:
    """A lone UTF-16 surrogate (JSON-legal escape, not valid Unicode) from a raw client: the
    SDK's parser rejects the line, and the next request is answered as usual."""
    root = tmp_path / "photos"
    write_photos(root, 1)
    env = server_env(tmp_path / "data")
    server = subprocess.Popen(
        serve_command("--root", str(root)),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        env=env,
    )
    assert server.stdin is not None and server.stdout is not None

    def send(line: str) -> None:
        assert server.stdin is not None
        server.stdin.write(line.encode() + b"\n")
        server.stdin.flush()

    def answer_to(request_id: int) -> dict[str, Any]:
        assert server.stdout is not None
        while True:
            line = server.stdout.readline()
            assert line, "the server closed its output"
            message = json.loads(line)
            if message.get("id") == request_id:
                return message

    try:
        hello = {
            "protocolVersion": "2025-06-18",
            "capabilities": {},
            "clientInfo": {"name": "raw", "version": "1"},
        }
        send(json.dumps({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": hello}))
        assert "result" in answer_to(1)
        send(json.dumps({"jsonrpc": "2.0", "method": "notifications/initialized"}))
        send(SURROGATE_CALL)
        send(
            json.dumps(
                {
                    "jsonrpc": "2.0",
                    "id": 3,
                    "method": "tools/call",
                    "params": {"name": "search_similar", "arguments": {"image": "/etc/passwd"}},
                }
            )
        )
        refused = answer_to(3)["result"]
        assert refused["isError"] is True
        assert "outside the allowed photo folders" in refused["content"][0]["text"]
        assert server.poll() is None
    finally:
        server.stdin.close()
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


# -- the image API failing, through generate_comic ---------------------------------------------


@contextlib.contextmanager
def api_double(hang_seconds: float = 4.0) -> Iterator[OpenAIDouble]:
    with OpenAIDouble(hang_seconds=hang_seconds, retry_after_ms=10) as double:
        yield double


def comic_files(data: Path) -> list[str]:
    folder = data / "comics"
    return sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []


def test_image_api_failures_are_clear_errors_with_no_partial_files_and_no_key(
    tmp_path: Path,
) -> None:
    root = tmp_path / "photos"
    photos = write_photos(root, 2)
    data = tmp_path / "data"
    log_path = tmp_path / "server-stderr.log"
    refs = [str(p) for p in photos]
    with api_double() as api, open(log_path, "w") as errlog:
        env = server_env(
            data,
            OPENAI_API_KEY=FAKE_KEY,
            OPENAI_BASE_URL=api.base_url,
            PHOTOCOMIC_IMAGE_RETRIES="2",
            PHOTOCOMIC_IMAGE_TIMEOUT="1.5",
        )
        with stdio_session(root, env, errlog) as s:

            def draw(**arguments: Any) -> Any:
                return s.call("generate_comic", {"prompt": "Cola digs on the beach", **arguments})

            api.script("rate_limit")  # 429 once, then the retry succeeds
            first = ok(draw(photos=refs))
            assert len(api.requests) == 2
            saved = {f"{first['comic_id']}.png", f"{first['comic_id']}.json"}
            assert comic_files(data) == sorted(saved)

            failures = [
                ("500 three times", ["server_error"] * 3, 3, "HTTP 500 on all 3 attempts"),
                ("moderation refusal", ["moderation"], 1, "content policy"),
                ("hang past the time-out", ["hang"] * 3, 3, "did not answer within 1.5 s"),
                # a broken stream is asked for once more without streaming, which fails too
                ("malformed answer", ["malformed"] * 2, 2, "not an image response"),
                ("no image in the answer", ["no_image"], 1, "without an image"),
                ("bytes that are no image", ["not_an_image"], 1, "not a readable image"),
                ("key refused, echoed back", ["unauthorized"], 1, "401"),
            ]
            for case, script, attempts, words in failures:
                sent = len(api.requests)
                api.script(*script)
                started = time.monotonic()
                answer = draw(photos=refs)
                assert_clear_error(answer, words, case)
                assert len(api.requests) - sent == attempts, case
                assert time.monotonic() - started < 60, case
                assert comic_files(data) == sorted(saved), f"{case} left files behind"

            # The records stay consistent: a refinement of the comic made before still works.
            second = ok(draw(prompt="now it is night", refine=first["comic_id"]))
            assert second["parent_id"] == first["comic_id"]
            saved |= {f"{second['comic_id']}.png", f"{second['comic_id']}.json"}
            assert comic_files(data) == sorted(saved)
            listed = ok(s.call("list_comics"))
            assert listed["total"] == 2
            assert {c["comic_id"] for c in listed["comics"]} == {
                first["comic_id"],
                second["comic_id"],
            }
            for comic_id in (first["comic_id"], second["comic_id"]):
                record = json.loads((data / "comics" / f"{comic_id}.json").read_text())
                with Image.open(data / "comics" / f"{comic_id}.png") as picture:
                    assert picture.size == (record["width"], record["height"])
            outputs = list(s.outputs)
    stderr = log_path.read_text()
    assert "Traceback" not in stderr, stderr[-3000:]
    leaks = [o for o in [*outputs, stderr] if KEY_MARK in o]
    assert leaks == [], leaks[:1]
    assert files_containing(data, KEY_MARK.encode()) == []
    assert any(r.headers.get("authorization") == f"Bearer {FAKE_KEY}" for r in api.requests)


# -- kill -9 during index_folder, searches during a run ------------------------------------------


def test_server_killed_during_index_folder_the_run_goes_on_and_the_cli_finishes_it(
    tmp_path: Path,
) -> None:
    """The run belongs to the library, not to the server that started it: kill -9 of the
    server leaves it running in the engine; `photocomic index` on the same folder joins it;
    every photo is stored once, and a new server sees them all."""
    root = tmp_path / "photos"
    first = write_photos(root / "first", 8, 7000, prefix="shot", size=(192, 144))
    big = write_photos(root / "big", 150, 8000, prefix="shot", size=(192, 144))
    data = tmp_path / "data"
    env = server_env(
        data, PHOTOCOMIC_BATCH_SIZE="8", PHOTOCOMIC_WORKERS="1", OPENAI_API_KEY=FAKE_KEY
    )
    log_path = tmp_path / "server-stderr.log"
    errlog = open(log_path, "w")  # noqa: SIM115 (closed at the end)
    try:
        with contextlib.ExitStack() as stack:
            s = stack.enter_context(stdio_session(root, env, errlog))
            done = ok(s.call("index_folder", {"path": "first", "wait_seconds": 50}))
            assert done["state"] == "done" and done["summary"]["added"] == len(first)
            ids = {}
            for path in first:
                top = ok(s.call("search_similar", {"image": str(path), "limit": 1}))["hits"][0]
                ids[path] = top["photo_id"]

            job = ok(s.call("index_folder", {"path": "big", "wait_seconds": 0}))
            assert job["state"] in ("queued", "running")
            during, progress, n = 0, 0, 0
            # Searches while the job runs: by file and by id, each must find itself first.
            while progress < 0.3 * len(big):
                query = first[n % len(first)]
                n += 1
                by_file = ok(s.call("search_similar", {"image": str(query), "limit": 3}))
                by_id = ok(s.call("search_similar", {"photo_id": ids[query], "limit": 3}))
                for hits in (by_file["hits"], by_id["hits"]):
                    assert hits[0]["path"] == str(query) and hits[0]["score"] >= 0.99
                state = ok(s.call("index_status", {"job_id": job["job_id"]}))
                assert state["state"] in ("queued", "running"), state
                during += state["state"] == "running"
                progress = state["done"] if state["total"] else 0
            assert during >= 2, "searches were answered while the job ran"

            pid = server_pid(str(root))
            os.kill(pid, signal.SIGKILL)
            with contextlib.suppress(ProcessLookupError, ChildProcessError):
                os.waitpid(pid, 0)
            with contextlib.suppress(Exception):  # the client sees its server vanish
                stack.close()
        owner = engine_pid(data)
        assert owner is not None, "the engine (and the run) outlived the server"
        status, summary, err = run_json("index", str(root / "big"), env=env, timeout=300)
        assert status == 0, err
        assert "joining the run" in err  # the CLI joined the run the dead server started
        assert isinstance(summary, dict) and summary["failed"] == []
        assert summary["added"] + summary["unchanged"] == len(big)

        with stdio_session(root, env, errlog) as s:
            status_now = ok(s.call("library_status"))
            assert status_now["photos"] == len(first) + len(big)
            assert status_now["engine_pid"] == owner
            top = ok(s.call("search_similar", {"image": str(big[-1]), "limit": 1}))["hits"][0]
            assert top["path"] == str(big[-1])
    finally:
        errlog.close()
    contents = store_contents(data)
    assert contents.count == len(first) + len(big)
    assert len(set(contents.paths)) == contents.count
    assert set(contents.paths) == {str(p) for p in [*first, *big]}
    stderr = log_path.read_text()
    assert KEY_MARK not in stderr
    assert "Traceback" not in stderr, stderr[-3000:]


def test_the_cli_works_while_a_server_has_the_library_open(tmp_path: Path) -> None:
    """Claude Desktop keeps its server running all day; the terminal works meanwhile."""
    root = tmp_path / "photos"
    write_photos(root, 2)
    env = server_env(tmp_path / "data")
    with open(tmp_path / "server-stderr.log", "w") as errlog, stdio_session(root, env, errlog) as s:
        ok(s.call("index_folder", {"path": str(root)}))
        done = subprocess.run(
            cli_command("status", "--json"), env=env, capture_output=True, text=True, timeout=120
        )
        assert done.returncode == 0, done.stderr
        assert json.loads(done.stdout)["photos"] == 2
        assert ok(s.call("library_status"))["photos"] == 2


def test_this_file_runs_on_linux_with_inotify() -> None:
    """The read check above is only as good as its watch: it must see a real read."""
    probe = Path(sys.prefix)
    watch = ReadWatch([probe])
    if not watch.available:  # not Linux: the filesystem-snapshot checks still run
        assert sys.platform != "linux"
        return
    with open(probe / "pyvenv.cfg", "rb") as handle:
        handle.read()
    events = watch.events()
    watch.close()
    assert any("pyvenv.cfg" in e for e in events), events
