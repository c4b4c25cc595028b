"""``photocomic engine --info`` and ``--stop``: look at or stop the owner of a data folder."""

from __future__ import annotations

import http.client
import sys
import time
from pathlib import Path

from photocomic.tools.config import Settings
from photocomic.tools.owner.client import Door, lock_path
from photocomic.tools.owner.contract import EngineInfo, Hello, Shutdown


def _running(door: Door) -> EngineInfo | None:
    """The engine's answer to hello, without starting one."""
    import json

    try:
        status, data = door._send(Hello.op, json.dumps(door.envelope(Hello())).encode(), 5.0)
    except (OSError, http.client.HTTPException):
        return None
    return EngineInfo.model_validate(json.loads(data)["result"]) if status == 200 else None


def engine_info(settings: Settings) -> int:
    info = _running(Door(settings))
    if info is None:
        print(f"no engine serves {settings.data_dir} (one starts when a command needs it)")
        return 0
    print(info.model_dump_json(indent=2))
    return 0


def stop_engine(settings: Settings, timeout: float = 30.0) -> int:
    door = Door(settings)
    info = _running(door)
    if info is None:
        print(f"no engine serves {settings.data_dir}", file=sys.stderr)
        return 0
    door.call(Shutdown())
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not _lock_free(lock_path(door.data_dir)):
        time.sleep(0.05)  # the engine holds its lock until its store is closed
    print(f"engine {info.pid} stopped", file=sys.stderr)
    return 0


def _lock_free(path: Path) -> bool:
    import fcntl

    try:
        with open(path, "a+b") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            fcntl.flock(handle, fcntl.LOCK_UN)
    except OSError:
        return False
    return True
