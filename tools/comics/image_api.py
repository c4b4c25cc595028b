"""The OpenAI Images API call that draws a comic: the request, streaming, and its failures.

Everything the API is sent is decided by the caller (``comics.py`` plans it against the rules
in ``image_models.py``); this module sends it with the official SDK, turns streamed partial
images into progress, falls back once to a plain call when a stream breaks, and translates
every failure into a message that says what happened and what to do. The API key is read from
``ApiAccess`` and never appears in a message.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import io
import logging
import os
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from photocomic.tools.comics.api_errors import refusal, translate
from photocomic.tools.errors import (
    ApiKeyMissing,
    BadResponse,
    ConfigError,
)
from PIL import Image

if TYPE_CHECKING:
    import openai

log = logging.getLogger(__name__)

PARTIAL_IMAGES = 2
_KEY_LIKE = re.compile(r"\b(sk-[A-Za-z0-9_\-]{3})[A-Za-z0-9_\-*.]{8,}")

PartialFn = Callable[[int, bytes], None]


@dataclass(frozen=True)
class ApiAccess:
    """Where the Images API is and the key for it (from the caller's environment)."""

    api_key: str | None = field(default=None, repr=False)
    base_url: str | None = None

    @classmethod
    def from_env(cls) -> ApiAccess:
        key = os.environ.get("OPENAI_API_KEY", "").strip() or None
        url = os.environ.get("OPENAI_BASE_URL", "").strip() or None
        return cls(key, url)

    def shown_url(self) -> str:
        url = self.base_url or "https://api.openai.com/v1"
        return self.scrub(re.sub(r"//[^/@]*@", "//", url))

    def scrub(self, text: str) -> str:
        """``text`` without the key (or anything shaped like one)."""
        if self.api_key and len(self.api_key) >= 6:
            text = text.replace(self.api_key, "[redacted]")
        return _KEY_LIKE.sub(r"\1…[redacted]", text)


@dataclass(frozen=True)
class InputPicture:
    filename: str
    data: bytes
    mime: str


@dataclass(frozen=True)
class ImageCall:
    """One ``images.edit`` request, fully decided."""

    model: str
    prompt: str
    images: list[InputPicture]
    size: str
    quality: str
    input_fidelity: str | None = None
    safety_identifier: str | None = None
    stream: bool = False
    mask: InputPicture | None = None  # transparent where the first image may change
    markup: InputPicture | None = None  # strokes over the first image that guide the edit
    n: int = 1  # drawings to make (variants to choose from)
    output_format: str | None = None  # "gif": an animation (else the API's default, PNG)
    frame_count: int | None = None
    frame_duration_ms: int | None = None


@dataclass
class ImageAnswer:
    png: bytes
    usage: dict[str, Any] | None
    partials: int = 0
    notes: list[str] = field(default_factory=list)
    more: list[bytes] = field(default_factory=list)  # the other variants, when n > 1


class ImageApi:
    """Sends image calls; the SDK retries 429/5xx/time-outs, this class explains the rest."""

    def __init__(self, access: ApiAccess, timeout: float, retries: int) -> None:
        if not access.api_key:
            raise ApiKeyMissing(
                "OPENAI_API_KEY is not set, so the OpenAI image model cannot be called. "
                "Set OPENAI_API_KEY (and OPENAI_BASE_URL for another OpenAI-compatible server), "
                "in the environment of photocomic (only it can give the key), or use "
                "[[storyboard]]."
            )
        self.access = access
        self.timeout = timeout
        self.retries = retries

    def draw(self, call: ImageCall, on_partial: PartialFn | None = None) -> ImageAnswer:
        client = self._client()
        try:
            if call.stream and on_partial is not None and call.n == 1:
                try:
                    return self._streamed(client, call, on_partial)
                except _StreamBroke as exc:
                    log.warning("image stream broke (%s); asking once more without", exc)
                    answer = self._plain(client, call)
                    answer.notes.append(
                        f"the streamed answer broke off ({exc}); drawn again without streaming"
                    )
                    return answer
            return self._plain(client, call)
        finally:
            client.close()

    # -- the two ways of calling ------------------------------------------------------------

    def _kwargs(self, call: ImageCall) -> dict[str, Any]:
        kwargs: dict[str, Any] = {
            "model": call.model,
            "prompt": call.prompt,
            "image": [(p.filename, p.data, p.mime) for p in call.images],
            "size": call.size,
            "quality": call.quality,
            "n": call.n,
        }
        for name in ("mask", "markup"):
            overlay: InputPicture | None = getattr(call, name)
            if overlay is not None:
                kwargs[name] = (overlay.filename, overlay.data, overlay.mime)
        if call.input_fidelity:
            kwargs["input_fidelity"] = call.input_fidelity
        for name in ("output_format", "frame_count", "frame_duration_ms"):
            if getattr(call, name) is not None:
                kwargs[name] = getattr(call, name)
        if call.safety_identifier:
            kwargs["safety_identifier"] = call.safety_identifier
        return kwargs

    def _plain(self, client: openai.OpenAI, call: ImageCall) -> ImageAnswer:
        import openai  # on first use: an engine that never draws starts 0.6 s sooner

        try:
            response = client.images.edit(**self._kwargs(call))
        except openai.OpenAIError as exc:
            raise translate(exc, call.model, self.access, self.timeout, self.retries) from None
        except ValueError as exc:  # e.g. a body that is not JSON
            raise BadResponse(
                f"the image API at {self.access.shown_url()} answered with something that is "
                f"not an image response ({type(exc).__name__}); check OPENAI_BASE_URL"
            ) from None
        gif = call.output_format == "gif"
        png, usage = decode_answer(response, self.access.shown_url(), gif)
        more = [_png_from_b64(getattr(d, "b64_json", None), gif) for d in response.data[1 : call.n]]
        return ImageAnswer(png, usage, more=more)

    def _streamed(
        self, client: openai.OpenAI, call: ImageCall, on_partial: PartialFn
    ) -> ImageAnswer:
        """Partial images as they come, then the final one; _StreamBroke if it breaks off."""
        import openai

        try:
            stream = client.images.edit(
                **self._kwargs(call), stream=True, partial_images=PARTIAL_IMAGES
            )
        except openai.OpenAIError as exc:
            raise translate(exc, call.model, self.access, self.timeout, self.retries) from None
        partials = 0
        try:
            for event in stream:
                kind = getattr(event, "type", "")
                if kind.endswith("partial_image"):
                    partials += 1
                    picture = _b64_picture(getattr(event, "b64_json", None))
                    if picture is not None:
                        on_partial(
                            int(getattr(event, "partial_image_index", partials - 1)), picture
                        )
                elif kind.endswith("completed"):
                    png = _png_from_b64(getattr(event, "b64_json", None))
                    return ImageAnswer(png, _usage_dict(getattr(event, "usage", None)), partials)
        except openai.APIStatusError as exc:
            raise translate(exc, call.model, self.access, self.timeout, self.retries) from None
        except openai.APIConnectionError as exc:
            raise _StreamBroke(type(exc).__name__) from None
        except openai.APIError as exc:  # an error event inside the stream
            body = exc.body if isinstance(exc.body, dict) else {}
            code = str(body.get("code") or "").lower()
            if any(word in code for word in ("moderation", "safety", "content_policy")):
                raise refusal(code) from None
            raise _StreamBroke(f"error event: {self.access.scrub(exc.message)[:120]}") from None
        except ValueError as exc:  # an event that is not JSON: the stream broke off
            raise _StreamBroke(type(exc).__name__) from None
        finally:
            stream.close()
        raise _StreamBroke("the stream ended before the final image")

    def _client(self) -> openai.OpenAI:
        import openai

        try:
            return openai.OpenAI(
                api_key=self.access.api_key,
                base_url=self.access.base_url,
                max_retries=self.retries,
                timeout=self.timeout,
            )
        except openai.OpenAIError as exc:
            raise ConfigError(
                f"cannot set up the OpenAI client: {self.access.scrub(str(exc))}"
            ) from None


class _StreamBroke(Exception):
    """The streamed answer stopped before its final image."""


def decode_answer(
    response: object, base_url: str, gif: bool = False
) -> tuple[bytes, dict[str, Any] | None]:
    """The PNG (``gif``: GIF) bytes and token usage from an images response, or BadResponse."""
    data = getattr(response, "data", None)
    if not isinstance(data, list) or not data:
        raise BadResponse(
            f"the image API at {base_url} answered without an image; check OPENAI_BASE_URL "
            "and try again"
        )
    first = data[0]
    encoded = getattr(first, "b64_json", None)
    if not encoded:
        extra = (
            " (only a URL, which photocomic does not download)"
            if getattr(first, "url", None)
            else ""
        )
        raise BadResponse(f"the image API answered without image data{extra}; try again")
    return _png_from_b64(encoded, gif), _usage_dict(getattr(response, "usage", None))


def _png_from_b64(encoded: str | None, gif: bool = False) -> bytes:
    if not encoded:
        raise BadResponse("the image API answered without an image (no image data); try again")
    try:
        raw = base64.b64decode(encoded, validate=True)
        with Image.open(io.BytesIO(raw)) as picture:
            picture.load()
            if picture.format == "PNG" or (gif and picture.format == "GIF"):
                return raw
            buf = io.BytesIO()
            picture.save(buf, "PNG")
            return buf.getvalue()
    except (binascii.Error, ValueError, OSError, Image.DecompressionBombError):
        raise BadResponse(
            "the image API answered with data that is not a readable image; try again"
        ) from None


def _b64_picture(encoded: str | None) -> bytes | None:
    """A partial image's bytes, or None when it is unreadable (partials are only previews)."""
    try:
        return _png_from_b64(encoded)
    except BadResponse:
        return None


def _usage_dict(usage: object) -> dict[str, Any] | None:
    if usage is None:
        return None
    if hasattr(usage, "model_dump"):
        return dict(usage.model_dump())
    return dict(usage) if isinstance(usage, dict) else None


def safety_identifier(data_dir: Path) -> str:
    """A stable, anonymous id for this library's user, as OpenAI asks for abuse monitoring.

    A hash of a random secret kept in the data folder: stable across runs, and it carries no
    user name, path or machine name (a hash of those could be guessed back).
    """
    secret_file = data_dir / "identity"
    try:
        secret = secret_file.read_text(encoding="ascii").strip()
    except OSError:
        secret = ""
    if len(secret) < 32:
        secret = secrets.token_hex(16)
        with contextlib.suppress(OSError):
            data_dir.mkdir(parents=True, exist_ok=True)
            fd = os.open(secret_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w", encoding="ascii") as handle:
                handle.write(secret + "\n")
    return "photocomic-" + hashlib.sha256(secret.encode()).hexdigest()[:32]
