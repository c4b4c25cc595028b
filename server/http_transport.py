"""Streamable HTTP for shared use: uvicorn, 127.0.0.1 unless told otherwise, a bearer token
always (one is made when none is given), unless the person says ``--no-auth``.

Why a plain ASGI check rather than the SDK's OAuth machinery: a single shared secret is what
a home server or a team box needs, and it must guard every path, including the MCP session's
GET and DELETE requests. Loopback is not private: every local user can reach it.
"""

from __future__ import annotations

import contextlib
import hmac
import ipaddress
import json
import logging
import math
import os
import secrets
import sys
from pathlib import Path
from typing import Any

from mcp.server.transport_security import TransportSecuritySettings
from photocomic.tools.errors import ConfigError
from photocomic.tools.folders import make_private
from starlette.types import ASGIApp, Receive, Scope, Send

log = logging.getLogger("photocomic.server")
TOKEN_FILE = "http_token"
MAX_SESSIONS = 64  # open MCP sessions at once; each holds memory until it ends or expires
SESSION_IDLE = 600.0  # seconds an unused session is kept (the SDK's default is 30 minutes)
BODY_MARGIN = 1024 * 1024


class BearerAuth:
    """Answer 401 to every HTTP request that lacks ``Authorization: Bearer <token>``."""

    def __init__(self, app: ASGIApp, token: str) -> None:
        self.app = app
        self._token = token.encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and not self._allowed(scope):
            body = json.dumps(
                {
                    "error": "invalid_token",
                    "error_description": "send the header 'Authorization: Bearer <token>' with "
                    "the token this server printed when it started (kept in the data folder's "
                    "http_token, or PHOTOCOMIC_HTTP_TOKEN)",
                }
            ).encode()
            await send(
                {
                    "type": "http.response.start",
                    "status": 401,
                    "headers": [
                        (b"content-type", b"application/json"),
                        (b"content-length", str(len(body)).encode()),
                        (b"www-authenticate", b'Bearer realm="photocomic"'),
                    ],
                }
            )
            await send({"type": "http.response.body", "body": body})
            return
        await self.app(scope, receive, send)

    def _allowed(self, scope: Scope) -> bool:
        for name, value in scope.get("headers") or []:
            if name.lower() == b"authorization":
                scheme, _, supplied = value.partition(b" ")
                if scheme.lower() == b"bearer":
                    return hmac.compare_digest(supplied.strip(), self._token)
        return False


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def token_text(value: Any) -> str | None:
    """The token from settings (a SecretStr, or a plain string), or None."""
    if value is None:
        return None
    text = value.get_secret_value() if hasattr(value, "get_secret_value") else str(value)
    return text.strip() or None


def choose_token(
    given: Any, token_file: str | None, data_dir: Path, no_auth: bool
) -> tuple[str | None, str]:
    """The bearer token HTTP clients must send, and where it came from.

    Like Jupyter: with none given (``--token``, ``--token-file``, PHOTOCOMIC_HTTP_TOKEN), one
    is made and kept in ``<data folder>/http_token`` (0600), the same on every start. No
    token at all only with ``--no-auth``.
    """
    if no_auth:
        return None, "no token (--no-auth)"
    if token_file:
        try:
            text = Path(token_file).expanduser().read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ConfigError(f"cannot read the token file {token_file}: {exc}") from None
        if not text:
            raise ConfigError(f"the token file {token_file} is empty")
        return text, f"the token in {token_file}"
    text = token_text(given)
    if text:
        return text, "the given token"
    text, made = _kept_token(data_dir)
    where = data_dir / TOKEN_FILE
    return text, (f"{MADE_NOW} and kept in {where}" if made else f"the token kept in {where}")


MADE_NOW = "a token made now"


def _kept_token(data_dir: Path) -> tuple[str, bool]:
    """The kept token, and whether it was made by this call (only then is it shown)."""
    path = data_dir / TOKEN_FILE
    make_private(data_dir)
    with contextlib.suppress(FileNotFoundError):
        text = path.read_text(encoding="utf-8").strip()
        if text:
            return text, False
    text = secrets.token_urlsafe(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text + "\n")
    return text, True


def http_app(server: Any, host: str, upload_limit: int) -> ASGIApp:
    """The SDK's streamable HTTP app with photocomic's limits: few sessions that expire soon
    (each costs memory), a body large enough for the largest upload photocomic accepts, and
    Host/Origin checks on any loopback address (DNS rebinding)."""
    security = None
    if is_loopback(host):
        shown = f"[{host.strip('[]')}]" if ":" in host else host
        names = dict.fromkeys([shown, "127.0.0.1", "localhost", "[::1]"])
        security = TransportSecuritySettings(
            enable_dns_rebinding_protection=True,
            allowed_hosts=[f"{name}:*" for name in names],
            allowed_origins=[f"http://{name}:*" for name in names],
        )
    body = 4 * math.ceil(upload_limit / 3) + BODY_MARGIN  # base64, and the JSON around it
    return server.streamable_http_app(
        host=host, transport_security=security, max_request_body_size=body,
        max_sessions=MAX_SESSIONS, session_idle_timeout=SESSION_IDLE,
    )  # fmt: skip


def run_http(starlette_app: ASGIApp, host: str, port: int, token: str | None, how: str) -> None:
    """Serve until interrupted. Logs go to stderr; no request is served without the token
    (unless started with --no-auth)."""
    import uvicorn
    from photocomic.tools.logs import redact_handlers

    app: ASGIApp = BearerAuth(starlette_app, token) if token else starlette_app
    if not token:
        where = "any local user" if is_loopback(host) else f"anyone who can reach {host}"
        print(
            f"photocomic: WARNING: serving without a token (--no-auth): {where} can search "
            "your photos, read them and draw with your OpenAI key.",
            file=sys.stderr,
        )
    raise_file_limit()
    config = uvicorn.Config(
        app, host=host, port=port, log_level="warning", access_log=False, lifespan="on",
        http=guarded_protocol(), timeout_keep_alive=KEEP_ALIVE,
    )  # fmt: skip
    server = uvicorn.Server(config)
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        redact_handlers(logging.getLogger(name))
    shown = f"[{host}]" if ":" in host else host
    print(f"photocomic: MCP server at http://{shown}:{port}/mcp", file=sys.stderr)
    if token:
        print(token_line(token, how), file=sys.stderr)
    server.run()


HEADER_TIMEOUT = 10.0  # seconds a connection has to send a whole request's headers
# Seconds an idle connection is kept between requests: longer than clients keep theirs (httpx,
# the MCP SDK's, 5 s), so the client always lets go first; with the same 5 s on both sides a
# request sent as the server closed the connection failed with a read error. Idle connections
# still make room past MAX_CONNECTIONS.
KEEP_ALIVE = 75
MAX_CONNECTIONS = 256  # held at once; past that the oldest one still waiting is closed


def raise_file_limit() -> None:
    """As many open files as the system lets this user have: each connection is one."""
    import resource

    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    with contextlib.suppress(ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def guarded_protocol() -> type[Any]:
    """uvicorn's HTTP/1.1 protocol that no idle or slow client can starve: a connection that
    has not sent a whole request's headers within HEADER_TIMEOUT is closed, and past
    MAX_CONNECTIONS the oldest connection still waiting for its headers (or idle between
    requests) makes room for the new one. Why: any local user, with no token, could hold a
    thousand half-sent requests open and use up the server's file descriptors before any
    token is checked; a client with a token sends its headers at once and is never waiting."""
    from uvicorn.protocols.http.h11_impl import H11Protocol

    class GuardedH11(H11Protocol):
        def connection_made(self, transport: Any) -> None:
            super().connection_made(transport)
            self.opened_at = self.loop.time()
            self.slow = self.loop.call_later(HEADER_TIMEOUT, self._close_if_waiting)
            staying = [c for c in self.connections if not c.transport.is_closing()]
            if len(staying) > MAX_CONNECTIONS:
                waiting = [c for c in staying if c is not self and _waiting(c)]
                if waiting:
                    min(waiting, key=lambda c: c.opened_at).transport.close()

        def _close_if_waiting(self) -> None:
            if self.cycle is None:
                self.transport.close()

        def connection_lost(self, exc: Exception | None) -> None:
            self.slow.cancel()
            super().connection_lost(exc)

    return GuardedH11


def _waiting(connection: Any) -> bool:
    """Not in the middle of a request: still sending headers, or idle between requests."""
    cycle = getattr(connection, "cycle", None)
    return cycle is None or bool(cycle.response_complete)


def token_line(token: str, how: str) -> str:
    """What a start says about the token: the token itself only when it was made now (the
    person has to learn it once); else where it is, so it never lands in a service's log."""
    if how.startswith(MADE_NOW):
        return f"photocomic: clients send the header 'Authorization: Bearer {token}' ({how})"
    return f"photocomic: clients send 'Authorization: Bearer <{how}>'"
