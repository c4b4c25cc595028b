"""Streamable HTTP for shared use: uvicorn, 127.0.0.1 unless told otherwise, a bearer token.

Why a plain ASGI check rather than the SDK's OAuth machinery: a single shared secret
(PHOTOCOMIC_HTTP_TOKEN or --token) is what a home server or a team box needs, and it must
guard every path, including the MCP session's GET and DELETE requests.
"""

from __future__ import annotations

import hmac
import ipaddress
import json
import logging
import sys
from typing import Any

from starlette.types import ASGIApp, Receive, Scope, Send

log = logging.getLogger("photocomic.server")


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
                    "the token this server was started with (PHOTOCOMIC_HTTP_TOKEN or --token)",
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


def run_http(starlette_app: ASGIApp, host: str, port: int, token: str | None) -> None:
    """Serve until interrupted. Logs go to stderr; no request is served without the token."""
    import uvicorn

    from .logs import redact_handlers

    app: ASGIApp = BearerAuth(starlette_app, token) if token else starlette_app
    if not token and not is_loopback(host):
        print(
            f"photocomic: WARNING: serving on {host} without a token: anyone who can reach this "
            "address can read your photos' paths and thumbnails. Set PHOTOCOMIC_HTTP_TOKEN or "
            "--token.",
            file=sys.stderr,
        )
    config = uvicorn.Config(
        app, host=host, port=port, log_level="warning", access_log=False, lifespan="on"
    )
    server = uvicorn.Server(config)
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        redact_handlers(logging.getLogger(name))
    shown = f"[{host}]" if ":" in host else host
    guard = "bearer token required" if token else "no token"
    print(f"photocomic: MCP server at http://{shown}:{port}/mcp ({guard})", file=sys.stderr)
    server.run()


def token_text(value: Any) -> str | None:
    """The token from settings (a SecretStr, or a plain string from --token), or None."""
    if value is None:
        return None
    text = value.get_secret_value() if hasattr(value, "get_secret_value") else str(value)
    return text.strip() or None
