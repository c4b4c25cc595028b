"""A small OpenAI-compatible Images API server for tests: real HTTP on 127.0.0.1.

The real ``openai`` client talks to it through ``OPENAI_BASE_URL``, so the tests exercise the
SDK's multipart encoding, retries, time-outs and streaming, not a mock of them. Every request is
parsed and recorded (model, prompt, each image part decoded with its size and order, other form
fields, headers). Like the real API it refuses what the SDK documents as refused: shut-down and
unknown models, input_fidelity where a model does not take it, sizes and quality tiers a model
cannot draw, more than 16 images, over-long prompts. Otherwise the answer is a real PNG as
``b64_json`` with a ``usage`` object, or, with ``stream=true``, server-sent events with the
partial images asked for and then the final one; unless a fault was scripted for the request.

The rules below are written from the SDK's documentation (``openai/types/image_edit_params.py``
and ``image_model.py``) on their own, not taken from photocomic, so a test fails when the two
disagree.
"""

from __future__ import annotations

import base64
import contextlib
import io
import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
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
    "stream_break",  # a stream that sends one partial image, then hangs up
    "slow",  # answers normally after `hang_seconds` (streams: partials first, then waits)
)

# -- what the SDK documents (openai 3.x, read 2026-12) and OpenAI announced ------------------
# Shutdowns, each from its own day on, with the replacement OpenAI named: the SDK's notes for
# gpt-image-1 and DALL·E, and OpenAI's deprecations page (announced 2026-06-02) for the three
# shut down on 2026-12-01, which the installed SDK still lists as current.
SHUT_DOWN = {
    "gpt-image-1": (date(2026, 10, 23), "Use gpt-image-2.5-sunburst or gpt-image-2.5-flare."),
    "dall-e-2": (date(2026, 5, 12), "Use a GPT image model instead."),
    "dall-e-3": (date(2026, 5, 12), "Use a GPT image model instead."),
    "gpt-image-1.5": (date(2026, 12, 1), "Use gpt-image-2 instead."),
    "gpt-image-1-mini": (date(2026, 12, 1), "Use gpt-image-2 instead."),
    "chatgpt-image-latest": (date(2026, 12, 1), "Use gpt-image-2 instead."),
}
FIXED_SIZE_MODELS = {"gpt-image-1.5", "gpt-image-1-mini", "chatgpt-image-latest"}
FREE_SIZE_MODELS = {
    "gpt-image-2", "gpt-image-2-2026-04-21",
    "gpt-image-2.5-sunburst", "gpt-image-2.5-sunburst-2026-09-08",
    "gpt-image-2.5-flare", "gpt-image-2.5-flare-2026-09-08",
    "gpt-image-2.6-sunburst", "gpt-image-2.6-flare",
}  # fmt: skip
TOP_QUALITY_MODELS = {
    m for m in FREE_SIZE_MODELS if m.startswith(("gpt-image-2.5", "gpt-image-2.6"))
}
MARKUP_MODELS = TOP_QUALITY_MODELS  # "Supports GPT Image 2.5" (and what came after it)
# GIF output: "Requires access to the GIF preview for the selected model"; the preview is
# GPT Image 2.6's (the models ComfyUI's GPT Image 2.6 GIF node lists). Its size limits are not
# published by OpenAI; API resellers measured a budget for the whole request of 655,360 to
# 8,294,400 pixels (frames x width x height), frame sides multiples of 16.
GIF_MODELS = {"gpt-image-2.6-sunburst", "gpt-image-2.6-flare"}
GIF_ONLY = ("frame_count", "frame_duration_ms")
OTHER_MODELS = ("gpt-5", "gpt-4o-mini", "text-embedding-3-small", "whisper-1")


def shut_down(model: str, on: date | None = None) -> str | None:
    """The API's words for a model shut down by ``on`` (today), else None."""
    entry = SHUT_DOWN.get(model)
    when = on or datetime.now(timezone.utc).date()
    if entry is None or when < entry[0]:
        return None
    return f"The model `{model}` has been shut down. {entry[1]}"


def listed_today() -> list[str]:
    """What ``GET /v1/models`` lists for a key with access to every current model."""
    models = sorted(m for m in FIXED_SIZE_MODELS | FREE_SIZE_MODELS if not shut_down(m))
    return [*models, *OTHER_MODELS]


STANDARD_SIZES = {"1024x1024", "1536x1024", "1024x1536", "auto"}


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
    transparent_box: tuple[int, int, int, int] | None = None  # where alpha is 0, if anywhere


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
    refused: str | None = None  # why the double refused it, like the real API would


class OpenAIDouble:
    """Start with ``with OpenAIDouble() as api:``; point ``OPENAI_BASE_URL`` at ``api.base_url``.

    ``api.script("rate_limit", "server_error")`` makes the next requests fail in that order;
    requests after the script run out succeed.
    """

    def __init__(
        self,
        hang_seconds: float = 5.0,
        retry_after_ms: int = 20,
        models: list[str] | None = None,
        lists_models: bool = True,
        gif_preview: bool = True,
    ) -> None:
        self.models = listed_today() if models is None else list(models)
        self.lists_models = lists_models  # False: a proxy without GET /v1/models
        self.gif_preview = gif_preview  # False: a key without access to the GIF preview
        self.model_lists = 0  # how many times the model list was asked for
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

    def do_GET(self) -> None:
        if self.path.split("?")[0].rstrip("/") != "/v1/models" or not self.owner.lists_models:
            self._json(404, {"error": {"message": f"no route {self.path}", "code": None}})
            return
        with self.owner._lock:
            self.owner.model_lists += 1
        data = [{"id": m, "object": "model", "created": 1767225600, "owned_by": "openai"}
                for m in self.owner.models]  # fmt: skip
        self._json(200, {"object": "list", "data": data})

    def do_POST(self) -> None:
        body = self._read_body()
        received = ReceivedRequest(
            path=self.path, headers={k.lower(): v for k, v in self.headers.items()}
        )
        if self.path.rstrip("/") != "/v1/images/edits":
            self._json(404, {"error": {"message": f"no route {self.path}", "code": None}})
            return
        _parse_multipart(self.headers.get("Content-Type", ""), body, received)
        refusal = refuse(received, self.owner.models) or _gif_refusal(
            received, self.owner.gif_preview
        )
        if refusal is not None:
            status, message, code, param = refusal
            received.answered, received.refused = "refused", message
            self.owner._record(received)
            self._error(status, message, code, param=param)
            return
        fault = self.owner._next_fault()
        received.answered = fault
        self.owner._record(received)
        if received.fields.get("stream") == "true":
            self._stream(fault, received)
        else:
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
        elif fault in ("hang", "slow"):
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

    def _stream(self, fault: str, received: ReceivedRequest) -> None:
        """Server-sent events: the partial images asked for, then the final image."""
        if fault not in ("ok", "stream_break", "slow", "malformed", "no_image", "not_an_image"):
            self._answer(fault, received)  # errors come before the stream starts
            return
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.end_headers()
        body = _success_body(received)
        partials = int(received.fields.get("partial_images") or 0)
        common = {
            "background": "opaque", "output_format": "png", "size": body["size"],
            "quality": body["quality"], "created_at": int(time.time()),
        }  # fmt: skip
        try:
            for index in range(partials):
                self._event(
                    "image_edit.partial_image",
                    {**common, "type": "image_edit.partial_image", "partial_image_index": index,
                     "b64_json": _partial_png(body["size"], index)},
                )  # fmt: skip
                if fault == "stream_break":
                    self.wfile.flush()
                    self.close_connection = True
                    return
                time.sleep(0.05)
            if fault == "slow":
                self.owner._release.wait(self.owner.hang_seconds)
            if fault == "malformed":  # the final event cut off in the middle of its JSON
                self.wfile.write(b'event: image_edit.completed\ndata: {"b64_json": "iVBORw0KG\n\n')
                self.close_connection = True
                return
            final = {**common, "type": "image_edit.completed", "usage": body["usage"]}
            if fault == "not_an_image":
                final["b64_json"] = base64.b64encode(b"this is not a picture" * 10).decode()
            elif fault != "no_image":
                final["b64_json"] = body["data"][0]["b64_json"]
            self._event("image_edit.completed", final)
        except OSError:
            return

    def _event(self, name: str, payload: dict[str, Any]) -> None:
        self.wfile.write(f"event: {name}\ndata: {json.dumps(payload)}\n\n".encode())
        self.wfile.flush()

    def _error(
        self,
        status: int,
        message: str,
        code: str | None,
        headers: dict[str, str] | None = None,
        param: str | None = None,
    ) -> None:
        kind = "requests" if status == 429 else "invalid_request_error"
        self._json(
            status,
            {"error": {"message": message, "type": kind, "param": param, "code": code}},
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
                        transparent_box=_transparent_box(picture),
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


def refuse(
    received: ReceivedRequest, listed: list[str] | None = None
) -> tuple[int, str, str | None, str | None] | None:
    """(status, message, code, param) of the real API's refusal, or None when it would draw."""
    model = received.model or ""
    fields = received.fields
    gone = shut_down(model)
    if gone:
        return 404, gone, "model_not_found", "model"
    known = FIXED_SIZE_MODELS | FREE_SIZE_MODELS
    if model not in known or (listed is not None and model not in listed):
        return (
            404,
            f"The model `{model}` does not exist or you do not have access to it.",
            "model_not_found",
            "model",
        )
    if "response_format" in fields:
        return 400, "Unknown parameter: 'response_format'.", "unknown_parameter", "response_format"
    fidelity = fields.get("input_fidelity")
    if fidelity is not None:
        allowed = {"gpt-image-1.5": {"high", "low"}, "gpt-image-1-mini": {"low"}}.get(model, set())
        if not allowed:
            return (
                400, "Unknown parameter: 'input_fidelity'.", "unknown_parameter", "input_fidelity"
            )  # fmt: skip
        if fidelity not in allowed:
            return 400, f"Invalid value: '{fidelity}'.", "invalid_value", "input_fidelity"
    gif = fields.get("output_format") == "gif"
    size_error = None if gif else _size_refusal(model, fields.get("size", "auto"))
    if size_error:
        return 400, size_error, "invalid_value", "size"
    quality = fields.get("quality", "auto")
    qualities = {"low", "medium", "high", "auto"} | (
        {"xhigh", "max"} if model in TOP_QUALITY_MODELS else set()
    )
    if quality not in qualities:
        return (
            400,
            f"Invalid value: '{quality}'. Supported values are: {sorted(qualities)}.",
            ("invalid_value"),
            "quality",
        )
    if len(received.images) > 16:
        return 400, "Too many images: at most 16 are allowed.", "invalid_value", "image"
    if any(i.format not in ("PNG", "JPEG", "WEBP") for i in received.images):
        return 400, "Invalid image file: use png, webp or jpg.", "invalid_image", "image"
    if len(received.prompt or "") > 32000:
        return (
            400,
            "The prompt is too long: at most 32000 characters.",
            "string_above_max_length",
            ("prompt"),
        )
    partials = fields.get("partial_images")
    if partials is not None and not (partials.isdigit() and 0 <= int(partials) <= 3):
        return 400, "partial_images must be between 0 and 3.", "invalid_value", "partial_images"
    count = fields.get("n")
    if count is not None and not (count.isdigit() and 1 <= int(count) <= 10):
        return 400, f"Invalid value: '{count}'. n must be between 1 and 10.", "invalid_value", "n"
    return _overlay_refusal(model, received)


def _gif_refusal(
    received: ReceivedRequest, preview: bool
) -> tuple[int, str, str | None, str | None] | None:
    """What the SDK documents for GIF output: 2-16 frames, frame options only with it, no
    streaming, partial images, mask or output compression, and access to the preview."""
    fields = received.fields
    if fields.get("output_format") != "gif":
        extra = [name for name in GIF_ONLY if name in fields]
        if extra:
            only = f"{extra[0]} is only supported with output_format=gif."
            return 400, only, "invalid_value", extra[0]
        return None
    model = received.model or ""
    if model not in GIF_MODELS or not preview:
        return (
            403, f"Your organization does not have access to the GIF preview for `{model}`.",
            "gif_preview_access_required", "output_format",
        )  # fmt: skip
    for name in ("stream", "partial_images", "output_compression"):
        if name in fields and fields[name] not in ("false", "0"):
            return 400, f"GIF output does not support {name}.", "invalid_value", name
    if any(i.field == "mask" for i in received.images):
        return 400, "GIF output does not support masks.", "invalid_value", "mask"
    count = fields.get("frame_count", "9")
    if not (count.isdigit() and 2 <= int(count) <= 16):
        return 400, "frame_count must be between 2 and 16.", "invalid_value", "frame_count"
    delay = fields.get("frame_duration_ms", "200")
    if not delay.isdigit():
        return 400, "frame_duration_ms must be an integer.", "invalid_value", "frame_duration_ms"
    size = fields.get("size", "auto")
    if size != "auto":
        width, height = (int(p) for p in size.split("x"))
        total = int(count) * width * height
        if width % 16 or height % 16 or not 655_360 <= total <= 8_294_400:
            return (
                400, f"Size {size} is not within the GIF limits for {count} frames.",
                "invalid_value", "size",
            )  # fmt: skip
    return None


def _overlay_refusal(
    model: str, received: ReceivedRequest
) -> tuple[int, str, str | None, str | None] | None:
    """mask: a PNG the size of the first image with transparent pixels; markup: the same, on
    GPT Image 2.5 and later, never with a mask."""
    pictures = [i for i in received.images if i.field in ("image", "image[]")]
    overlays = {i.field: i for i in received.images if i.field in ("mask", "markup")}
    if len(overlays) == 2:
        return 400, "markup cannot be combined with mask.", "invalid_value", "markup"
    if "markup" in overlays and model not in MARKUP_MODELS:
        return 400, "Unknown parameter: 'markup'.", "unknown_parameter", "markup"
    for name, overlay in overlays.items():
        if overlay.format != "PNG" or (name == "mask" and overlay.size >= 4 * 1024 * 1024):
            return 400, f"Invalid {name}: it must be a PNG file under 4MB.", "invalid_value", name
        first = pictures[0] if pictures else None
        if first is None or (overlay.width, overlay.height) != (first.width, first.height):
            return (
                400, f"Invalid {name}: it must have the same dimensions as the first image.",
                "invalid_value", name,
            )  # fmt: skip
        if overlay.transparent_box is None:
            return 400, f"Invalid {name}: it has no transparent pixels.", "invalid_value", name
    return None


def _transparent_box(picture: Image.Image) -> tuple[int, int, int, int] | None:
    """The box (left, top, right, bottom) around the fully transparent pixels, if any."""
    if "A" not in picture.getbands() and "transparency" not in picture.info:
        return None
    alpha = picture.convert("RGBA").getchannel("A")
    clear = alpha.point(lambda v: 255 if v == 0 else 0)
    return clear.getbbox()


def _size_refusal(model: str, size: str) -> str | None:
    if model in FIXED_SIZE_MODELS:
        if size in STANDARD_SIZES:
            return None
        return f"Invalid size '{size}'. Supported sizes: 1024x1024, 1024x1536, 1536x1024, auto."
    if size == "auto":
        return None
    try:
        width, height = (int(p) for p in size.split("x"))
    except ValueError:
        return f"Invalid size '{size}': use WIDTHxHEIGHT."
    if width % 16 or height % 16:
        return f"Invalid size '{size}': width and height must be divisible by 16."
    if max(width, height) > 3 * min(width, height):
        return f"Invalid size '{size}': the aspect ratio must be between 1:3 and 3:1."
    if max(width, height) > 3840 or width * height > 3840 * 2160:
        return f"Invalid size '{size}': the maximum supported resolution is 3840x2160."
    if width * height < 655_360:
        return f"Invalid size '{size}': at least 655,360 pixels are required."
    return None


def _variant(picture: Image.Image, index: int) -> str:
    """The drawing, told apart per variant by a mark in its corner."""
    copy = picture.copy()
    ImageDraw.Draw(copy).rectangle((0, 0, 8 + 8 * index, 8), fill=(200, 30 * index, 30))
    buf = io.BytesIO()
    copy.save(buf, "PNG")
    return base64.b64encode(buf.getvalue()).decode()


def _partial_png(size: str, index: int) -> str:
    width, height = (int(p) for p in size.split("x"))
    picture = Image.new("RGB", (width // 4, height // 4), (40 * (index + 1), 90, 160))
    buf = io.BytesIO()
    picture.save(buf, "PNG")
    return base64.b64encode(buf.getvalue()).decode()


def _gif_b64(received: ReceivedRequest, width: int, height: int) -> str:
    """A real animated GIF: a ball crossing the frame, as many frames as asked, with the delay."""
    count = int(received.fields.get("frame_count") or 9)
    delay = int(received.fields.get("frame_duration_ms") or 200)
    frames = []
    for index in range(count):
        frame = Image.new("RGB", (width, height), (236, 226, 200))
        x = (width - 60) * index // max(1, count - 1)
        ImageDraw.Draw(frame).ellipse((x, height // 2 - 30, x + 60, height // 2 + 30),
                                      fill=(200, 60, 40))  # fmt: skip
        frames.append(frame)
    buf = io.BytesIO()
    frames[0].save(buf, "GIF", save_all=True, append_images=frames[1:], duration=delay, loop=0)
    return base64.b64encode(buf.getvalue()).decode()


def _success_body(received: ReceivedRequest) -> dict[str, Any]:
    size = received.fields.get("size", "auto")
    width, height = (int(p) for p in size.split("x")) if "x" in size else (1024, 1024)
    picture = Image.new("RGB", (width, height), (236, 226, 200))
    draw = ImageDraw.Draw(picture)
    draw.rectangle((16, 16, width // 2 - 8, height // 2 - 8), outline=(0, 0, 0), width=6)
    draw.ellipse((width // 2, height // 2, width - 32, height - 32), fill=(90, 140, 200))
    text_tokens = len((received.prompt or "").split())
    image_tokens = 323 * len(received.images)
    return {
        "created": int(time.time()),
        "background": "opaque",
        "output_format": received.fields.get("output_format", "png"),
        "quality": received.fields.get("quality", "auto"),
        "size": f"{width}x{height}",
        "data": [
            {"b64_json": _gif_b64(received, width, height)
             if received.fields.get("output_format") == "gif" else _variant(picture, k)}
            for k in range(int(received.fields.get("n") or 1))
        ],
        "usage": {
            "input_tokens": text_tokens + image_tokens,
            "input_tokens_details": {"text_tokens": text_tokens, "image_tokens": image_tokens},
            "output_tokens": 4160,
            "total_tokens": text_tokens + image_tokens + 4160,
        },
    }


@contextlib.contextmanager
def pointed_at(monkeypatch: Any, key: str, **options: Any) -> Iterator[OpenAIDouble]:
    """A double started with ``options``, and this process's OpenAI settings pointing at it
    (``key`` as the API key, no retries) until the block ends."""
    with OpenAIDouble(**options) as double:
        monkeypatch.setenv("OPENAI_API_KEY", key)
        monkeypatch.setenv("OPENAI_BASE_URL", double.base_url)
        monkeypatch.setenv("PHOTOCOMIC_IMAGE_RETRIES", "0")
        yield double
