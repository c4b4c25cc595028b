"""A synchronous handle on a real MCP client session, for tests that drive the real server.

Why a blocking portal: the client's transports live in one event loop for the whole session
(a server spawned once per module), while each test is a plain function that makes calls and
checks answers. Every answer's text is kept so a test can search all output for secrets.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from functools import partial
from pathlib import Path
from typing import IO, Any

from anyio.from_thread import BlockingPortal, start_blocking_portal
from mcp import Client, StdioServerParameters
from mcp.client.stdio import stdio_client
from mcp_types import CallToolResult

ProgressFn = Callable[[float, float | None, str | None], Awaitable[None]]


def serve_command(*args: str) -> list[str]:
    """``photocomic serve ...`` run with this interpreter, as a client would launch it."""
    return [sys.executable, "-m", "photocomic.server.cli", "serve", *args]


def server_env(data_dir: Path, **extra: str) -> dict[str, str]:
    """A clean environment for a server: its own data folder and folder of compiled models,
    offline, nothing inherited."""
    env = {
        "PHOTOCOMIC_DATA_DIR": str(data_dir),
        "PHOTOCOMIC_COMPILED_DIR": f"{data_dir}-compiled",
        "PHOTOCOMIC_ENGINE_IDLE": "20",
        "HF_HUB_OFFLINE": "1",
        "PYTHONUNBUFFERED": "1",
    }
    for name in ("HOME", "PATH", "LANG", "TMPDIR"):
        if name in os.environ:
            env[name] = os.environ[name]
    env.update(extra)
    return env


class McpSession:
    """``with McpSession.stdio(cmd, env, log) as s: s.call("tool", {...})``."""

    def __init__(
        self, transport: AbstractAsyncContextManager[Any], extensions: list[Any] | None = None
    ) -> None:
        self.transport = transport
        self.extensions = extensions
        self.outputs: list[str] = []
        self.started = 0.0
        self.connected = 0.0
        self._portal_cm: Any = None
        self.portal: BlockingPortal | None = None
        self._client_cm: Any = None
        self.client: Client | None = None

    @classmethod
    def stdio(
        cls,
        command: list[str],
        env: dict[str, str],
        errlog: IO[str],
        extensions: list[Any] | None = None,
    ) -> McpSession:
        params = StdioServerParameters(command=command[0], args=command[1:], env=env)
        return cls(stdio_client(params, errlog=errlog), extensions)

    def __enter__(self) -> McpSession:
        self.started = time.perf_counter()
        self._portal_cm = start_blocking_portal()
        self.portal = self._portal_cm.__enter__()
        try:
            self._client_cm = self.portal.wrap_async_context_manager(
                Client(self.transport, read_timeout_seconds=120, extensions=self.extensions)
            )
            self.client = self._client_cm.__enter__()
        except BaseException:
            self._portal_cm.__exit__(*sys.exc_info())
            raise
        self.connected = time.perf_counter()
        return self

    def __exit__(self, *exc: Any) -> None:
        try:
            if self._client_cm is not None:
                self._client_cm.__exit__(None, None, None)
        finally:
            self._portal_cm.__exit__(None, None, None)

    def _run(self, fn: Callable[[], Awaitable[Any]]) -> Any:
        assert self.portal is not None
        return self.portal.call(fn)

    def call(
        self, name: str, arguments: dict[str, Any] | None = None, progress: ProgressFn | None = None
    ) -> CallToolResult:
        assert self.client is not None
        answer: CallToolResult = self._run(
            partial(self.client.call_tool, name, arguments or {}, progress_callback=progress)
        )
        for block in answer.content:
            if block.type == "text":
                self.outputs.append(block.text)
        if answer.structured_content is not None:
            self.outputs.append(json.dumps(answer.structured_content))
        return answer

    def list_tools(self) -> Any:
        assert self.client is not None
        return self._run(self.client.list_tools)

    def read(self, uri: str) -> Any:
        assert self.client is not None
        return self._run(partial(self.client.read_resource, uri))

    def prompt(self, name: str, arguments: dict[str, str]) -> Any:
        assert self.client is not None
        return self._run(partial(self.client.get_prompt, name, arguments))

    def templates(self) -> Any:
        assert self.client is not None
        return self._run(self.client.list_resource_templates)

    def prompts(self) -> Any:
        assert self.client is not None
        return self._run(self.client.list_prompts)

    def complete(self, prompt: str, argument: str, typed: str) -> list[str]:
        """What the server offers for a prompt argument as the person types ``typed``."""
        from mcp_types import PromptReference

        assert self.client is not None
        ref = PromptReference(type="ref/prompt", name=prompt)
        answer = self._run(partial(self.client.complete, ref, {"name": argument, "value": typed}))
        return list(answer.completion.values)


def text_of(answer: CallToolResult) -> str:
    return "\n".join(b.text for b in answer.content if b.type == "text")


def ok(answer: CallToolResult) -> dict[str, Any]:
    """The structured result of a call that must have succeeded (its text shown if not)."""
    assert not answer.is_error, text_of(answer)
    assert answer.structured_content is not None
    return answer.structured_content


# A bare streamable-HTTP ``initialize`` request, for checking what the transport lets in.
HTTP_HEADERS = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}
HTTP_INITIALIZE = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {
        "protocolVersion": "2025-06-18",
        "capabilities": {},
        "clientInfo": {"name": "photocomic-tests", "version": "1"},
    },
}
