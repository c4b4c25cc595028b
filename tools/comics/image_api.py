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
import io
import logging
import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import openai
from photocomic.tools.comics.image_models import AUTO, retirement_notice
from photocomic.tools.errors import (
    AccessDenied,
    ApiKeyMissing,
    AuthFailed,
    BadResponse,
    ConfigError,
    ContentRefused,
    GenerationError,
    GenerationTimeout,
    ModelNotFound,
    ModelRetired,
    RateLimited,
    ServiceUnavailable,
)
from PIL import Image

log = logging.getLogger(__name__)

VERIFY_URL = "https://platform.openai.com/settings/organization/general"
BILLING_URL = "https://platform.openai.com/settings/organization/billing"
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
                "or use backend='storyboard' (CLI: --backend storyboard) for an offline layout "
                "preview that needs no key."
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
        if call.safety_identifier:
            kwargs["safety_identifier"] = call.safety_identifier
        return kwargs

    def _plain(self, client: openai.OpenAI, call: ImageCall) -> ImageAnswer:
        try:
            response = client.images.edit(**self._kwargs(call))
        except openai.OpenAIError as exc:
            raise self.translate(exc, call.model) from None
        except ValueError as exc:  # e.g. a body that is not JSON
            raise BadResponse(
                f"the image API at {self.access.shown_url()} answered with something that is "
                f"not an image response ({type(exc).__name__}); check OPENAI_BASE_URL"
            ) from None
        png, usage = decode_answer(response, self.access.shown_url())
        more = [_png_from_b64(getattr(d, "b64_json", None)) for d in response.data[1 : call.n]]
        return ImageAnswer(png, usage, more=more)

    def _streamed(
        self, client: openai.OpenAI, call: ImageCall, on_partial: PartialFn
    ) -> ImageAnswer:
        """Partial images as they come, then the final one; _StreamBroke if it breaks off."""
        try:
            stream = client.images.edit(
                **self._kwargs(call), stream=True, partial_images=PARTIAL_IMAGES
            )
        except openai.OpenAIError as exc:
            raise self.translate(exc, call.model) from None
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
            raise self.translate(exc, call.model) from None
        except openai.APIConnectionError as exc:
            raise _StreamBroke(type(exc).__name__) from None
        except openai.APIError as exc:  # an error event inside the stream
            body = exc.body if isinstance(exc.body, dict) else {}
            code = str(body.get("code") or "").lower()
            if any(word in code for word in ("moderation", "safety", "content_policy")):
                raise _refusal(code) from None
            raise _StreamBroke(f"error event: {self.access.scrub(exc.message)[:120]}") from None
        except ValueError as exc:  # an event that is not JSON: the stream broke off
            raise _StreamBroke(type(exc).__name__) from None
        finally:
            stream.close()
        raise _StreamBroke("the stream ended before the final image")

    def _client(self) -> openai.OpenAI:
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

    # -- failures -------------------------------------------------------------------------------

    def translate(self, exc: openai.OpenAIError, model: str) -> GenerationError:
        """A message per failure that says what happened and what the user can do."""
        attempts = self.retries + 1
        tries = f"{attempts} attempt{'s' * (attempts > 1)}"
        if isinstance(exc, openai.APITimeoutError):
            return GenerationTimeout(
                f"the image model did not answer within {self.timeout:g} s ({tries}). Drawing "
                "can take one to two minutes, more for large or high-quality images; raise the "
                "limit with PHOTOCOMIC_IMAGE_TIMEOUT (seconds, e.g. PHOTOCOMIC_IMAGE_TIMEOUT=300)"
                " or ask for quality='low'."
            )
        if isinstance(exc, openai.APIConnectionError):
            return ServiceUnavailable(
                f"could not reach the image API at {self.access.shown_url()} ({tries}): "
                f"{self.access.scrub(str(exc))}. Check the network and OPENAI_BASE_URL, or use "
                "backend='storyboard' offline."
            )
        if isinstance(exc, openai.APIStatusError):
            return self._status_error(exc, model, tries)
        if isinstance(exc, openai.APIResponseValidationError):
            return BadResponse(
                f"the image API at {self.access.shown_url()} answered in an unexpected shape; "
                "check OPENAI_BASE_URL points at an OpenAI-compatible Images API."
            )
        return GenerationError(f"the image call failed: {self.access.scrub(str(exc))}")

    def _status_error(self, exc: openai.APIStatusError, model: str, tries: str) -> GenerationError:
        status, code = exc.status_code, (exc.code or "").lower()
        said = self._server_message(exc)
        told = f" The server said: {said}" if said else ""
        lowered = said.lower()
        if status == 401:
            return AuthFailed(
                "the image API refused the key in OPENAI_API_KEY (401 Unauthorized). Check "
                "that it is a current key for this project and server (OPENAI_BASE_URL)." + told
            )
        if status == 403:
            if "verif" in lowered or "verif" in code:
                return AccessDenied(
                    f"your OpenAI organization must be verified before it can use {model} "
                    f"(403). Verify it at {VERIFY_URL} (access can take up to 15 minutes to "
                    "arrive), or choose another model with PHOTOCOMIC_IMAGE_MODEL."
                )
            return AccessDenied(
                f"the key in OPENAI_API_KEY may not use {model} (403 Forbidden). Check the "
                f"project's model permissions at {VERIFY_URL}, or choose another model with "
                "PHOTOCOMIC_IMAGE_MODEL." + told
            )
        if _is_model_problem(status, code, lowered):
            return self._model_error(model, status, told, lowered)
        if status == 400 and (
            any(word in code for word in ("moderation", "safety", "content_policy"))
            or "safety system" in lowered
        ):
            return _refusal(code)
        if status == 429:
            if code == "insufficient_quota" or "quota" in lowered:
                return RateLimited(
                    f"the OpenAI account is out of credit (429 insufficient_quota). Add credit "
                    f"at {BILLING_URL}, or use backend='storyboard' for now."
                )
            return RateLimited(
                f"the image API is still rate limiting this key (429) after {tries} with "
                "backoff. Wait a minute and try again, or raise PHOTOCOMIC_IMAGE_RETRIES."
            )
        if status >= 500:
            return ServiceUnavailable(
                f"the image API failed with HTTP {status} on all {tries}; the service is "
                "having trouble. Try again in a few minutes." + told
            )
        return GenerationError(
            f"the image API rejected the request for {model} (HTTP {status}"
            + (f", {code}" if code else "")
            + ")."
            + told
        )

    def _model_error(self, model: str, status: int, told: str, said: str) -> GenerationError:
        notice = retirement_notice(model)
        if notice is not None or any(w in said for w in ("shut down", "deprecat", "retired")):
            return ModelRetired(
                f"the image API says {model} is no longer available (HTTP {status}). "
                + (notice + " " if notice else "")
                + f"Set PHOTOCOMIC_IMAGE_MODEL={AUTO} (the newest model your key can use)"
                " (or pass --model to `photocomic comic`)." + told
            )
        return ModelNotFound(
            f"the image API at {self.access.shown_url()} does not know the model {model!r} "
            f"(HTTP {status}): check the name in PHOTOCOMIC_IMAGE_MODEL (or --model on "
            f"`photocomic comic`), e.g. {AUTO}, and OPENAI_BASE_URL." + told
        )

    def _server_message(self, exc: openai.APIStatusError) -> str:
        body = exc.body
        message = body.get("message") if isinstance(body, dict) else body
        text = message if isinstance(message, str) else ""
        return self.access.scrub(" ".join(text.split()))[:300]


class _StreamBroke(Exception):
    """The streamed answer stopped before its final image."""


def _refusal(code: str) -> ContentRefused:
    return ContentRefused(
        "the image model refused this request under its content policy "
        f"({code or 'moderation'}): the prompt or one of the reference photos was flagged. "
        "Rephrase the prompt (plainer wording, no real people's names, nothing violent or "
        "explicit) or choose other photos; nothing was saved."
    )


def _is_model_problem(status: int, code: str, said: str) -> bool:
    if code in ("model_not_found", "model_deprecated", "model_shut_down"):
        return True
    return (
        status in (400, 404)
        and "model" in said
        and any(
            w in said for w in ("not found", "does not exist", "shut down", "deprecat", "retired")
        )
    )


def decode_answer(response: object, base_url: str) -> tuple[bytes, dict[str, Any] | None]:
    """The PNG bytes and token usage from an images response, or BadResponse."""
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
    return _png_from_b64(encoded), _usage_dict(getattr(response, "usage", None))


def _png_from_b64(encoded: str | None) -> bytes:
    if not encoded:
        raise BadResponse("the image API answered without an image (no image data); try again")
    try:
        raw = base64.b64decode(encoded, validate=True)
        with Image.open(io.BytesIO(raw)) as picture:
            picture.load()
            if picture.format == "PNG":
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
