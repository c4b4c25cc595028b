"""Nobody else in: another local user, a long data-folder path, the HTTP transport's defaults.

The reproductions of a review run as a second, unprivileged user on the same machine. Where
the tests run as root (CI does) that user is real: made with ``useradd`` and running its own
listener; otherwise the same traps are laid by this user and must be refused the same way.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import psutil
import pytest
from conftest import free_port, run_cli, write_photos
from mcp_session import HTTP_HEADERS, HTTP_INITIALIZE, serve_command, server_env
from photocomic.tools.errors import ConfigError
from photocomic.tools.owner.client import socket_path
from photocomic.tools.sockets import check_peer
from photocomic.tools.store.milvus import unavailable

PRIVATE = Path("/tmp") / f"photocomic-{os.getuid()}"

LISTENER = r"""
import os, socket, sys, time
path, record = sys.argv[1], sys.argv[2]
os.makedirs(os.path.dirname(path), exist_ok=True)
os.chmod(os.path.dirname(path), 0o777)
server = socket.socket(socket.AF_UNIX)
server.bind(path)
os.chmod(path, 0o777)
server.listen(8)
server.settimeout(0.5)
got = 0
end = time.monotonic() + float(sys.argv[3])
def note(text):  # whole or not at all: the test may stop this process at any moment
    open(record + ".tmp", "w").write(text)
    os.replace(record + ".tmp", record)
note("ready\n")
while time.monotonic() < end:
    try:
        conn, _ = server.accept()
    except OSError:
        continue
    conn.settimeout(1)
    try:
        while data := conn.recv(65536):
            got += len(data)
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}")
    except OSError:
        pass
    note(f"ready\n{got}\n")
"""


def long_folder(base: Path, length: int = 150) -> Path:
    """A real folder whose path is ``length`` characters long."""
    name = "d" * (length - len(str(base)) - 1)
    assert len(name) < 255, "the temporary folder's own path is too long for this test"
    return base / name


@pytest.fixture
def private_folder_aside() -> Iterator[None]:
    """This user's real socket folder is moved aside for the test and put back after."""
    backup = PRIVATE.with_name(PRIVATE.name + ".kept")
    moved = os.path.lexists(PRIVATE)
    if moved:
        os.replace(PRIVATE, backup)
    try:
        yield
    finally:
        if os.path.islink(PRIVATE) or PRIVATE.is_file():
            PRIVATE.unlink()
        elif PRIVATE.exists():
            shutil.rmtree(PRIVATE, ignore_errors=True)
        if moved:
            os.replace(backup, PRIVATE)


def start_listener(user: str | None, sock: Path, record: Path) -> subprocess.Popen[bytes]:
    """The other user's listener (the system Python: this one may lie in a private folder)."""
    python = shutil.which("python3", path="/usr/bin:/bin") if user else sys.executable
    process = subprocess.Popen(
        [python or sys.executable, "-c", LISTENER, str(sock), str(record), "40"],
        user=user, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    deadline = time.monotonic() + 20
    while not record.exists():
        assert process.poll() is None, process.stderr.read() if process.stderr else ""
        assert time.monotonic() < deadline, "the listener did not start"
        time.sleep(0.05)
    return process


@pytest.mark.parametrize("trap", ["folder", "link"])
def test_a_door_sends_nothing_to_another_users_socket_folder(
    trap: str, tmp_path: Path, spy: Path, hostile_user: str | None, private_folder_aside: None
) -> None:
    """The other user makes ``photocomic-<uid>`` (a folder of theirs, mode 0777, or a link to
    one) and listens on the name a door with a long data folder computes."""
    data = long_folder(tmp_path)
    name = socket_path_name(data)
    record = spy / "received"
    if trap == "link":
        theirs = spy / "theirs"  # the listener makes it, as its own
        PRIVATE.symlink_to(theirs)
        sock = theirs / name
    else:
        sock = PRIVATE / name
    listener = start_listener(hostile_user, sock, record)
    try:
        done = run_cli(
            "status", env={"PHOTOCOMIC_DATA_DIR": str(data), "OPENAI_API_KEY": "sk-never-sent",
                           "PHOTOCOMIC_MILVUS_TOKEN": "root:never-sent"},
            timeout=120,
        )  # fmt: skip
    finally:
        listener.terminate()
        listener.wait(10)
    assert done.returncode == 1, done.stdout
    assert "photocomic will not put its sockets there" in done.stderr
    assert str(PRIVATE) in done.stderr
    assert received(record) == 0, "the listener received bytes"


def received(record: Path) -> int:
    """Bytes the listener got: it writes "ready", then the count after each connection."""
    lines = record.read_text().split()
    assert lines[0] == "ready"
    return int(lines[-1]) if len(lines) > 1 else 0


def socket_path_name(data: Path) -> str:
    """The name (not folder) the engine socket of ``data`` gets in the private folder."""
    PRIVATE.mkdir(mode=0o700, exist_ok=True)
    name = socket_path(data).name
    PRIVATE.rmdir()
    return name


def test_a_door_checks_who_listens_before_sending(spy: Path, hostile_user: str | None) -> None:
    if hostile_user is None:  # without root there is no other user to listen
        peer = socket.socketpair()
        check_peer(peer[0], "a pair of this user's")  # this user: accepted
        return
    sock = spy / "theirs" / "engine.sock"
    record = spy / "received"
    listener = start_listener(hostile_user, sock, record)
    try:
        client = socket.socket(socket.AF_UNIX)
        client.connect(str(sock))
        with pytest.raises(ConfigError, match="held by another user"):
            check_peer(client, str(sock))
        client.close()
    finally:
        listener.terminate()
        listener.wait(10)
    assert received(record) == 0


def test_long_data_folder_and_db_paths_work_and_open_no_tcp_port(tmp_path: Path) -> None:
    data = long_folder(tmp_path / "data-")
    db = long_folder(tmp_path / "db-") / "photos.db"
    photos = write_photos(tmp_path / "photos", 4, 800, size=(160, 120))
    for extra in ({}, {"PHOTOCOMIC_DB": str(db)}):
        env = {"PHOTOCOMIC_DATA_DIR": str(data), **extra}
        assert len(str(data)) == 150
        done = run_cli("index", str(photos[0].parent), "--json", env=env)
        assert done.returncode == 0, done.stderr
        assert json.loads(done.stdout)["added"] in (0, 4)
        found = run_cli("search", str(photos[1]), "--limit", "1", "--json", env=env)
        assert found.returncode == 0, found.stderr
        assert json.loads(found.stdout)[0]["hits"][0]["path"] == str(photos[1])
        status = json.loads(run_cli("status", "--json", env=env).stdout)
        engine = psutil.Process(status["engine_pid"])
        listening = [c for c in engine.net_connections(kind="inet") if c.status == "LISTEN"]
        assert listening == [], f"the engine listens on TCP: {listening}"
        sockets = [c.laddr for c in engine.net_connections(kind="unix") if c.laddr]
        assert any(str(PRIVATE) in str(a) for a in sockets), sockets
        run_cli("engine", "--stop", env=env)
    assert (os.stat(data).st_mode & 0o777) == 0o700


def test_an_engine_whose_data_folder_was_removed_leaves(tmp_path: Path) -> None:
    data = tmp_path / "data"
    env = {"PHOTOCOMIC_DATA_DIR": str(data), "PHOTOCOMIC_ENGINE_IDLE": "600"}
    status = run_cli("status", "--json", env=env)
    assert status.returncode == 0, status.stderr
    engine = psutil.Process(json.loads(status.stdout)["engine_pid"])
    shutil.rmtree(data)
    engine.wait(timeout=60)  # psutil.TimeoutExpired fails the test


def test_a_full_disk_is_named_as_such() -> None:
    full = OSError(errno.ENOSPC, "No space left on device")
    message = str(unavailable("/home/me/.local/share/photocomic/photos.db", full, "insert rows"))
    assert "is full" in message and "free some space" in message
    assert "Milvus server is running" not in message


@pytest.fixture
def http_server(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[dict[str, object]]:
    args, env_extra = request.param
    port = free_port()
    data = tmp_path / "data"
    env = server_env(data, **env_extra)
    log = tmp_path / "stderr.log"
    with open(log, "w") as handle:
        process = subprocess.Popen(
            serve_command("--transport", "http", "--port", str(port),
                          "--root", str(tmp_path), *args),
            env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=handle,
        )  # fmt: skip
    host = args[args.index("--host") + 1] if "--host" in args else "127.0.0.1"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with socket.create_connection((host, port), timeout=0.5):
                    break
            except OSError:
                assert process.poll() is None, log.read_text()
                assert time.monotonic() < deadline, "the HTTP server did not start"
                time.sleep(0.1)
        yield {"url": f"http://{host}:{port}/mcp", "data": data, "log": log, "port": port}
    finally:
        process.terminate()
        process.wait(20)


def initialize(url: str, token: str | None = None, **headers: str) -> httpx.Response:
    sent = {**HTTP_HEADERS, **headers}
    if token:
        sent["Authorization"] = f"Bearer {token}"
    return httpx.post(url, json=HTTP_INITIALIZE, headers=sent, timeout=30)


@pytest.mark.parametrize("http_server", [([], {})], indirect=True)
def test_http_without_a_token_makes_one_and_refuses_callers_without_it(
    http_server: dict[str, object],
) -> None:
    url = str(http_server["url"])
    assert initialize(url).status_code == 401
    assert initialize(url, "guess").status_code == 401
    kept = Path(str(http_server["data"])) / "http_token"
    assert (kept.stat().st_mode & 0o777) == 0o600
    token = kept.read_text().strip()
    assert len(token) >= 32
    log = Path(str(http_server["log"])).read_text()
    assert f"Authorization: Bearer {token}" in log and url in log
    assert initialize(url, token).status_code == 200
    # a body larger than the SDK's 4 MiB default but within the upload limit is read
    headers = {**HTTP_HEADERS, "Authorization": f"Bearer {token}"}
    body = b"{" + b" " * (5 * 1024 * 1024) + b"}"
    assert httpx.post(url, content=body, headers=headers, timeout=30).status_code != 413


@pytest.mark.parametrize("http_server", [(["--no-auth"], {})], indirect=True)
def test_http_runs_without_a_token_only_when_told_so(http_server: dict[str, object]) -> None:
    assert initialize(str(http_server["url"])).status_code == 200
    assert "WARNING: serving without a token" in Path(str(http_server["log"])).read_text()
    assert not (Path(str(http_server["data"])) / "http_token").exists()


@pytest.mark.parametrize(
    "http_server", [(["--host", "127.0.0.2"], {"PHOTOCOMIC_HTTP_TOKEN": "t" * 40})],
    indirect=True,
)  # fmt: skip
def test_dns_rebinding_is_refused_on_any_loopback_address(http_server: dict[str, object]) -> None:
    url = str(http_server["url"])
    assert initialize(url, "t" * 40).status_code == 200
    rebound = initialize(url, "t" * 40, Host="evil.example")
    assert rebound.status_code in (400, 403, 421), rebound.status_code
    foreign = initialize(url, "t" * 40, Origin="http://evil.example")
    assert foreign.status_code in (400, 403), foreign.status_code


def test_the_token_can_come_from_a_file_and_is_never_needed_on_the_command_line(
    tmp_path: Path,
) -> None:
    from photocomic.server.http_transport import choose_token, token_line

    secret = tmp_path / "token"
    secret.write_text("from-a-file\n")
    assert choose_token(None, str(secret), tmp_path / "d", False)[0] == "from-a-file"
    assert choose_token("given", None, tmp_path / "d", False)[0] == "given"
    made, how = choose_token(None, None, tmp_path / "d", False)
    assert "made now" in how
    assert made in token_line(made, how)
    again, how = choose_token(None, None, tmp_path / "d", False)
    assert made == again  # the same every start
    assert again not in token_line(again, how) and "http_token" in token_line(again, how)
    assert "http_token" in how and "made now" not in how, "only the first start shows it"
    assert choose_token("given", None, tmp_path / "d", True)[0] is None
    with pytest.raises(ConfigError, match="cannot read the token file"):
        choose_token(None, str(tmp_path / "missing"), tmp_path / "d", False)


def test_a_door_that_stopped_waiting_is_one_line_in_the_engine_log(
    caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    """A start-up probe gives up after 5 s while the engine still imports its model; the
    answer it no longer reads must not leave a traceback that reads like an engine failure."""
    from photocomic.tools.owner.serve import _Server

    server = object.__new__(_Server)  # no socket needed: only the error path is exercised
    for error in (BrokenPipeError(32, "Broken pipe"), ConnectionResetError(104, "reset")):
        try:
            raise error
        except OSError:
            with caplog.at_level("INFO", logger="photocomic.engine"):
                server.handle_error(None, "")
    assert caplog.text.count("a door left before its answer was sent") == 2
    assert "Traceback" not in capsys.readouterr().err
    try:
        raise ValueError("a real failure")
    except ValueError:
        server.handle_error(None, "")
    assert "ValueError: a real failure" in capsys.readouterr().err
