"""A real Milvus server for the tests: the standalone binary the PyPI package ``milvus`` ships.

``.ci/run`` installs it in a venv of its own and points ``PHOTOCOMIC_TEST_MILVUS_SERVER`` at
its ``milvus-server`` command; the tests start it once per session with authentication on, may
kill -9 it and start it again on the same data, and stop it by its pid. Only one runs on a
machine at a time (it takes fixed ports), so it is shared by every server test.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

TOKEN = "root:Milvus"  # the server's built-in account when authorization is enabled
PORT = 19530
READY_WITHIN = 180.0
SESSION_EXPIRY = 75.0


@dataclass
class MilvusServer:
    command: str | None
    data: Path | None
    uri: str = f"http://127.0.0.1:{PORT}"
    token: str = TOKEN
    process: subprocess.Popen[bytes] | None = None
    log: Path | None = None
    restarts: int = field(default=0)

    @property
    def can_restart(self) -> bool:
        return self.command is not None

    def start(self) -> None:
        assert self.command is not None and self.data is not None and self.log is not None
        with open(self.log, "ab") as out:
            self.process = subprocess.Popen(
                [self.command, "--data", str(self.data), "--authorization-enabled", "true"],
                stdin=subprocess.DEVNULL, stdout=out, stderr=out, start_new_session=True,
            )  # fmt: skip
        try:
            self.wait_ready()
        except BaseException:
            self.stop()  # a server that never answered must not hold the ports for the next
            raise

    def wait_ready(self) -> None:
        from pymilvus import MilvusClient

        deadline = time.monotonic() + READY_WITHIN
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise RuntimeError(f"milvus-server exited: {self.tail()}")
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", PORT), 1):
                try:
                    client = MilvusClient(uri=self.uri, token=self.token, timeout=5)
                    client.list_collections()
                    client.close()
                    return
                except Exception:
                    pass
            time.sleep(1.0)
        raise RuntimeError(f"milvus-server did not answer within {READY_WITHIN:.0f} s")

    def kill9(self) -> None:
        assert self.process is not None
        os.killpg(self.process.pid, signal.SIGKILL)  # the binary may start helpers: all of it
        self.process.wait(timeout=60)
        while _port_open(PORT):
            time.sleep(0.2)

    def restart(self) -> None:
        """Start again on the same data after a kill. The dead server's sessions stay in its
        etcd until their lease expires (about a minute); started before that, Milvus 2.3.5
        never opens its port (measured: still closed after ten minutes), after it in seconds."""
        self.restarts += 1
        time.sleep(SESSION_EXPIRY)
        self.start()

    def stop(self) -> None:
        """The end of the session: its data is thrown away, so no graceful shutdown (which
        this version can hang in) is waited for."""
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=60)

    def tail(self) -> str:
        if self.log is None or not self.log.exists():
            return ""
        return self.log.read_text(errors="replace")[-2000:]


def _port_open(port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.5):
        return True
    return False


def server_for_tests(base: Path) -> MilvusServer:
    """The session's server: started from PHOTOCOMIC_TEST_MILVUS_SERVER, or one already
    running at PHOTOCOMIC_TEST_MILVUS_URI; skipped (failed under CI) when neither is given."""
    command = os.environ.get("PHOTOCOMIC_TEST_MILVUS_SERVER")
    uri = os.environ.get("PHOTOCOMIC_TEST_MILVUS_URI")
    if command:
        server = MilvusServer(command, base / "milvus-data", log=base / "milvus.log")
        server.data.mkdir(parents=True, exist_ok=True)  # type: ignore[union-attr]
        if _port_open(PORT):
            raise RuntimeError(f"port {PORT} is taken: another Milvus server runs here")
        server.start()
        return server
    if uri:
        return MilvusServer(
            None, None, uri=uri, token=os.environ.get("PHOTOCOMIC_TEST_MILVUS_TOKEN", TOKEN)
        )
    message = (
        "no Milvus server for the server tests: set PHOTOCOMIC_TEST_MILVUS_SERVER to the "
        "milvus-server command of `pip install milvus==2.3.5` (as .ci/run does)"
    )
    if os.environ.get("PHOTOCOMIC_REQUIRE_MILVUS_SERVER"):
        pytest.fail(message)
    pytest.skip(message)
