"""``photocomic engine --info`` and ``--stop``: look at or stop the owner of a data folder."""

from __future__ import annotations

import http.client
import sys
import time

from photocomic.tools.config import Settings
from photocomic.tools.requests import Empty, EngineInfo

from .engine_client import Door, socket_path


def _running(door: Door) -> EngineInfo | None:
    """The engine's answer to hello, without starting one."""
    import json

    try:
        status, data = door._send("hello", json.dumps(door.envelope(Empty())).encode(), 5.0)
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
    door.call("shutdown", Empty(), Empty)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and socket_path(door.data_dir).exists():
        time.sleep(0.1)
    print(f"engine {info.pid} stopped", file=sys.stderr)
    return 0
