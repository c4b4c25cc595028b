"""A small OpenAI-compatible Images API server for tests: real HTTP on 127.0.0.1.

The real ``openai`` client talks to it through ``OPENAI_BASE_URL``, so the tests exercise the
SDK's multipart encoding, retries and time-outs, not a mock of them. Every request is parsed
and recorded (model, prompt, each image part decoded with its size and order, other form
fields, headers); the answer is a real PNG as ``b64_json`` with a ``usage`` object, unless a
fault was scripted for that request.
"""

from __future__ import annotations

import base64
import contextlib
import io
import json
import threading
import time
from dataclasses import dataclass, field
from email.message import Message
from email.parser import BytesParser
from email.policy import HTTP
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from PIL import Image, ImageDraw

FAULTS = (
    "rate_limit",  # 429 with a short retry-after-ms
    "quota",  # 429 insufficient_quota: out of credit
    "server_error",  # 500 with a short retry-after-ms
    "moderation",  # 400 moderation_blocked
    "unauthorized",  # 401 that echoes the key it was sent, as careless servers do
    "org_unverified",  # 403 organisation must be verified
    "hang",  # no answer for `hang_seconds`
    "malformed",  # 200 with a body that is not JSON
    "no_image",  # 200, valid JSON, an empty data list
    "not_an_image",  # 200, b64_json that decodes to bytes that are no picture
)


@dataclass
class ReceivedImage:
    """One uploaded image part, decoded."""

    field: str
    filename: str
    content_type: str
    format: str
    width: int
    height: int
    size: int


@dataclass
class ReceivedRequest:
    """What one ``POST /v1/images/edits`` carried."""

    path: str
    headers: dict[str, str]
    model: str | None = None
    prompt: str | None = None
    images: list[ReceivedImage] = field(default_factory=list)
    fields: dict[str, str] = field(default_factory=dict)
    answered: str = "ok"


class OpenAIDouble:
    """Start with ``with OpenAIDouble() as api:``; point ``OPENAI_BASE_URL`` at ``api.base_url``.

    ``api.script("rate_limit", "server_error")`` makes the next requests fail in that order;
    requests after the script run out succeed.
    """

    def __init__(self, hang_seconds: float = 5.0, retry_after_ms: int = 20) -> None:
        self.hang_seconds = hang_seconds
        self.retry_after_ms = retry_after_ms
        self.requests: list[ReceivedRequest] = []
        self._script: list[str] = []
        self._lock = threading.Lock()
        self._release = threading.Event()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- control ------------------------------------------------------------------------------

    def script(self, *faults: str) -> None:
        unknown = [f for f in faults if f not in FAULTS]
        if unknown:
            raise ValueError(f"unknown fault modes {unknown}; known: {FAULTS}")
        with self._lock:
            self._script.extend(faults)

    def start(self) -> OpenAIDouble:
        double = self

        class Handler(_Handler):
            owner = double

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._release.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> OpenAIDouble:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        assert self._server is not None, "start() the double first"
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}/v1"

    # -- used by the handler ------------------------------------------------------------------

    def _next_fault(self) -> str:
        with self._lock:
            return self._script.pop(0) if self._script else "ok"

    def _record(self, request: ReceivedRequest) -> None:
        with self._lock:
            self.requests.append(request)


class _Handler(BaseHTTPRequestHandler):
    owner: OpenAIDouble

    def log_message(self, format: str, *args: Any) -> None:  # keep test output quiet
        return

    def do_POST(self) -> None:
        body = self._read_body()
        received = ReceivedRequest(
            path=self.path, headers={k.lower(): v for k, v in self.headers.items()}
        )
        if self.path.rstrip("/") != "/v1/images/edits":
            self._json(404, {"error": {"message": f"no route {self.path}", "code": None}})
            return
        _parse_multipart(self.headers.get("Content-Type", ""), body, received)
        fault = self.owner._next_fault()
        received.answered = fault
        self.owner._record(received)
        self._answer(fault, received)

    def _read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip(), 16)
                if size == 0:
                    self.rfile.readline()
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def _answer(self, fault: str, received: ReceivedRequest) -> None:
        owner = self.owner
        short_retry = {"retry-after-ms": str(owner.retry_after_ms)}
        if fault == "rate_limit":
            self._error(
                429, "Rate limit reached for images per minute.", "rate_limit_exceeded", short_retry
            )
        elif fault == "quota":
            self._error(
                429,
                "You exceeded your current quota, please check your plan and billing details.",
                "insufficient_quota",
                short_retry,
            )
        elif fault == "server_error":
            self._error(
                500, "The server had an error while processing your request.", None, short_retry
            )
        elif fault == "moderation":
            self._error(
                400,
                "Your request was rejected as a result of our safety system. Your request may "
                "contain content that is not allowed by our safety system.",
                "moderation_blocked",
            )
        elif fault == "unauthorized":
            token = received.headers.get("authorization", "").removeprefix("Bearer ")
            self._error(401, f"Incorrect API key provided: {token}.", "invalid_api_key")
        elif fault == "org_unverified":
            self._error(
                403,
                f"Your organization must be verified to use the model `{received.model}`. "
                "Please go to: https://platform.openai.com/settings/organization/general and "
                "click on Verify Organization. If you just verified, it can take up to 15 "
                "minutes for access to propagate.",
                None,
            )
        elif fault == "hang":
            owner._release.wait(owner.hang_seconds)
            self._json_quietly(200, _success_body(received))
        elif fault == "malformed":
            self._raw(200, b'{"created": 1, "data": [{"b64_json": "iVBORw0KG', "application/json")
        elif fault == "no_image":
            self._json(200, {"created": int(time.time()), "data": []})
        elif fault == "not_an_image":
            junk = base64.b64encode(b"this is not a picture" * 10).decode()
            self._json(200, {"created": int(time.time()), "data": [{"b64_json": junk}]})
        else:
            self._json(200, _success_body(received))

    def _error(
        self, status: int, message: str, code: str | None, headers: dict[str, str] | None = None
    ) -> None:
        kind = "requests" if status == 429 else "invalid_request_error"
        self._json(
            status,
            {"error": {"message": message, "type": kind, "param": None, "code": code}},
            headers,
        )

    def _json(self, status: int, payload: object, headers: dict[str, str] | None = None) -> None:
        self._raw(status, json.dumps(payload).encode(), "application/json", headers)

    def _json_quietly(self, status: int, payload: object) -> None:
        with contextlib.suppress(OSError):  # the client gave up waiting and hung up
            self._json(status, payload)

    def _raw(
        self, status: int, body: bytes, ctype: str, headers: dict[str, str] | None = None
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("x-request-id", f"req_double_{time.monotonic_ns()}")
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)


def _parse_multipart(content_type: str, body: bytes, received: ReceivedRequest) -> None:
    if not content_type.startswith("multipart/form-data"):
        return
    message = BytesParser(policy=HTTP).parsebytes(
        b"Content-Type: " + content_type.encode() + b"\r\n\r\n" + body
    )
    for part in message.iter_parts():
        assert isinstance(part, Message)
        name = part.get_param("name", header="content-disposition") or ""
        filename = part.get_filename()
        payload = part.get_payload(decode=True)
        assert isinstance(payload, bytes)
        if filename is not None:
            with Image.open(io.BytesIO(payload)) as picture:
                received.images.append(
                    ReceivedImage(
                        field=str(name),
                        filename=filename,
                        content_type=part.get_content_type(),
                        format=str(picture.format),
                        width=picture.width,
                        height=picture.height,
                        size=len(payload),
                    )
                )
            continue
        value = payload.decode("utf-8")
        if name == "model":
            received.model = value
        elif name == "prompt":
            received.prompt = value
        else:
            received.fields[str(name)] = value


def _success_body(received: ReceivedRequest) -> dict[str, Any]:
    size = received.fields.get("size", "auto")
    width, height = (int(p) for p in size.split("x")) if "x" in size else (1024, 1024)
    picture = Image.new("RGB", (width, height), (236, 226, 200))
    draw = ImageDraw.Draw(picture)
    draw.rectangle((16, 16, width // 2 - 8, height // 2 - 8), outline=(0, 0, 0), width=6)
    draw.ellipse((width // 2, height // 2, width - 32, height - 32), fill=(90, 140, 200))
    buf = io.BytesIO()
    picture.save(buf, "PNG")
    text_tokens = len((received.prompt or "").split())
    image_tokens = 323 * len(received.images)
    return {
        "created": int(time.time()),
        "background": "opaque",
        "output_format": "png",
        "quality": received.fields.get("quality", "auto"),
        "size": f"{width}x{height}",
        "data": [{"b64_json": base64.b64encode(buf.getvalue()).decode()}],
        "usage": {
            "input_tokens": text_tokens + image_tokens,
            "input_tokens_details": {"text_tokens": text_tokens, "image_tokens": image_tokens},
            "output_tokens": 4160,
            "total_tokens": text_tokens + image_tokens + 4160,
        },
    }
