"""``photocomic serve --transport http`` under load, with its guard: by default it listens
only on loopback, refuses every request without the bearer token, and answers 50 concurrent
searches (from several client sessions, while an index job runs) with no error and the right
photo first in each."""

from __future__ import annotations

import json
import socket
import stat
import subprocess
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest
from conftest import free_port, write_photos
from mcp_session import (
    HTTP_HEADERS,
    HTTP_INITIALIZE,
    McpSession,
    ok,
    serve_command,
    server_env,
)

TOKEN = "tok-reliability-" + "7" * 24
FAKE_KEY = "sk-proj-RELIABILITY-0d1e2a3d4b5e6e7f-NEVER-SHOWN"
SESSIONS = 5
CONCURRENT = 50


@pytest.fixture
def http_server(tmp_path: Path) -> Iterator[dict[str, Any]]:
    root = tmp_path / "photos"
    first = write_photos(root / "first", 8, 9000, prefix="shot", size=(192, 144))
    big = write_photos(root / "big", 80, 9100, prefix="shot", size=(192, 144))
    port = free_port()
    env = server_env(
        tmp_path / "data",
        PHOTOCOMIC_HTTP_TOKEN=TOKEN,
        PHOTOCOMIC_BATCH_SIZE="8",
        OPENAI_API_KEY=FAKE_KEY,
    )
    log_path = tmp_path / "server-stderr.log"
    with open(log_path, "w") as log:
        process = subprocess.Popen(  # no --host: the default must be loopback only
            serve_command("--transport", "http", "--port", str(port), "--root", str(root)),
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=log,
        )
        try:
            deadline = time.monotonic() + 60
            while True:
                try:
                    with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                        break
                except OSError:
                    assert process.poll() is None, log_path.read_text()
                    assert time.monotonic() < deadline, "the HTTP server did not start"
                    time.sleep(0.1)
            yield {
                "url": f"http://127.0.0.1:{port}/mcp",
                "port": port,
                "pid": process.pid,
                "root": root,
                "first": first,
                "big": big,
                "log": log_path,
                "data": tmp_path / "data",
            }
        finally:
            process.terminate()
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def session(url: str) -> McpSession:
    import httpx2
    from mcp.client.streamable_http import streamable_http_client

    client = httpx2.AsyncClient(
        headers={"Authorization": f"Bearer {TOKEN}"}, timeout=httpx2.Timeout(60, read=180)
    )
    return McpSession(streamable_http_client(url, http_client=client))


def test_http_listens_on_loopback_only_and_refuses_requests_without_the_token(
    http_server: dict[str, Any],
) -> None:
    listening = [
        c.laddr
        for c in psutil.Process(http_server["pid"]).net_connections(kind="inet")
        if c.status == psutil.CONN_LISTEN
    ]
    # Only the MCP port: Milvus Lite is served over an owner-only Unix socket, not a port.
    assert {a.port for a in listening} == {http_server["port"]}, listening
    assert all(a.ip in ("127.0.0.1", "::1") for a in listening), listening
    milvus_socket = http_server["data"] / "photos.db.sock"
    if milvus_socket.exists():  # opened by the warm-up shortly after start
        assert stat.S_ISSOCK(milvus_socket.stat().st_mode)
        assert stat.S_IMODE(milvus_socket.stat().st_mode) & 0o077 == 0
    others = [
        a.address
        for addresses in psutil.net_if_addrs().values()
        for a in addresses
        if a.family == socket.AF_INET and not a.address.startswith("127.")
    ]
    for address in others:  # the machine's own network addresses cannot reach it
        with pytest.raises(OSError), socket.create_connection((address, http_server["port"]), 2):
            pass

    url = http_server["url"]
    base = url.removesuffix("/mcp")

    def initialize(authorization: str | None = None) -> httpx.Response:
        extra = {"Authorization": authorization} if authorization is not None else {}
        return httpx.post(url, json=HTTP_INITIALIZE, headers={**HTTP_HEADERS, **extra})

    refused = [
        initialize(),
        initialize("Bearer wrong"),
        initialize(TOKEN),  # no scheme
        initialize(f"Basic {TOKEN}"),
        httpx.get(url, headers={"Accept": "text/event-stream"}),
        httpx.delete(url, headers={"mcp-session-id": "x"}),
        httpx.get(base + "/"),
        httpx.get(base + "/../etc/passwd"),
    ]
    for answer in refused:
        assert answer.status_code == 401, (answer.request.method, answer.request.url)
        assert TOKEN not in answer.text
    right = initialize(f"Bearer {TOKEN}")
    assert right.status_code == 200


HELD = 1_100


def test_held_open_half_requests_do_not_lock_out_the_token_holder(
    http_server: dict[str, Any],
) -> None:
    """Any local user, with no token, opens 1,100 connections that each send a few bytes of
    headers and wait; the person with the token is still answered at once."""
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, max(soft, HELD + 200)), hard))
    held: list[socket.socket] = []
    try:
        for _ in range(HELD):
            half = socket.create_connection(("127.0.0.1", http_server["port"]), timeout=5)
            half.sendall(b"POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Wait")
            held.append(half)
        started = time.monotonic()
        right = httpx.post(
            http_server["url"], json=HTTP_INITIALIZE, timeout=10,
            headers={**HTTP_HEADERS, "Authorization": f"Bearer {TOKEN}"},
        )  # fmt: skip
        assert right.status_code == 200 and time.monotonic() - started < 1.0
        server_files = psutil.Process(http_server["pid"]).num_fds()
        assert server_files < 600, f"the server holds {server_files} files open"
    finally:
        for half in held:
            half.close()
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def test_50_concurrent_searches_over_http_while_an_index_job_runs(
    http_server: dict[str, Any],
) -> None:
    first: list[Path] = http_server["first"]
    big: list[Path] = http_server["big"]
    with ExitStack() as stack:
        sessions = [stack.enter_context(session(http_server["url"])) for _ in range(SESSIONS)]
        main = sessions[0]
        done = ok(main.call("index_folder", {"path": "first", "wait_seconds": 50}))
        assert done["state"] == "done" and done["summary"]["added"] == len(first)
        ids = {
            path: ok(main.call("search_similar", {"image": str(path), "limit": 1}))["hits"][0][
                "photo_id"
            ]
            for path in first
        }

        job = ok(main.call("index_folder", {"path": "big", "wait_seconds": 0}))
        assert job["state"] in ("queued", "running")

        def search(n: int) -> tuple[Path, Any]:
            query = first[n % len(first)]
            arguments: dict[str, Any] = {"image": str(query)} if n % 2 else {"photo_id": ids[query]}
            answer = sessions[n % SESSIONS].call("search_similar", {**arguments, "limit": 4})
            return query, answer

        with ThreadPoolExecutor(CONCURRENT) as pool:
            answers = list(pool.map(search, range(CONCURRENT)))
        during = ok(main.call("index_status", {"job_id": job["job_id"]}))
        for query, answer in answers:
            hits = ok(answer)["hits"]
            assert hits[0]["path"] == str(query) and hits[0]["score"] >= 0.99
            assert len([b for b in answer.content if b.type == "image"]) == 1
        assert during["state"] in ("running", "done")

        deadline = time.monotonic() + 300
        while job["state"] in ("queued", "running") and time.monotonic() < deadline:
            job = ok(main.call("index_status", {"job_id": job["job_id"], "wait_seconds": 30}))
        assert job["state"] == "done", job
        assert job["summary"]["added"] == len(big) and job["summary"]["failed"] == []
        assert ok(main.call("library_status"))["photos"] == len(first) + len(big)
        top = ok(main.call("search_similar", {"image": str(big[7]), "limit": 1}))["hits"][0]
        assert top["path"] == str(big[7])
        outputs = [o for s in sessions for o in s.outputs]
    stderr = Path(http_server["log"]).read_text()
    assert "Traceback" not in stderr, stderr[-3000:]
    for text in [*outputs, stderr]:
        assert FAKE_KEY not in text and TOKEN not in text
    assert json.dumps(outputs).count("internal error") == 0
