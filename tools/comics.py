"""Comics from photos: prompt building, the OpenAI image call, refinement lineage, saving.

The CLI and the MCP server both call :class:`ComicStudio`; everything they need (validation,
error messages a person can act on, the records) lives here so the two front doors agree.

A comic is two files in ``settings.comics_dir``: ``<id>.png`` and ``<id>.json``. The PNG is
written first and the JSON record last, each atomically, so the record is the commit point: a
crash leaves at most an orphan image that :meth:`ComicStudio.list` does not show.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import io
import logging
import os
import re
import secrets
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Literal

import openai
from PIL import Image
from pydantic import BaseModel, Field, ValidationError

from .comic_styles import (
    DEFAULT_STYLE,
    MAX_PROMPT_CHARS,
    STYLES,
    build_prompt,
    normalise_style,
)
from .config import Settings
from .errors import (
    AccessDenied,
    ApiKeyMissing,
    AuthFailed,
    BadResponse,
    ConfigError,
    ContentRefused,
    DecodeError,
    GenerationError,
    GenerationTimeout,
    InvalidInput,
    NotFound,
    PhotocomicError,
    RateLimited,
    ServiceUnavailable,
)
from .images import encode_jpeg, encode_png, fit_within, open_photo
from .results import InputImage, PhotoRef
from .storyboard import render_storyboard, split_captions

__all__ = [
    "MAX_INPUT_IMAGES",
    "MAX_INPUT_SIDE",
    "MAX_PROMPT_CHARS",
    "STYLES",
    "ComicRecord",
    "ComicRequest",
    "ComicStudio",
    "DryRunResult",
    "InputImage",
    "PhotoRef",
]

log = logging.getLogger(__name__)

MAX_INPUT_IMAGES = 16
MAX_INPUT_SIDE = 1536
DEFAULT_PANELS = 4
STORYBOARD_MODEL = "storyboard"
VERIFY_URL = "https://platform.openai.com/settings/organization/general"
BILLING_URL = "https://platform.openai.com/settings/organization/billing"

_COMIC_ID = re.compile(r"^c[0-9a-f]{10}$")
# gpt-image-1 and gpt-image-1.5 (and their dated snapshots) take input_fidelity="high";
# gpt-image-1-mini takes only "low", gpt-image-2 and dall-e-2 refuse the parameter.
_HIGH_FIDELITY_MODEL = re.compile(r"^gpt-image-1(\.5)?(-\d{4}-\d{2}-\d{2})?$")
_KEY_LIKE = re.compile(r"\b(sk-[A-Za-z0-9_\-]{3})[A-Za-z0-9_\-*.]{8,}")

Size = Literal["1024x1024", "1536x1024", "1024x1536", "auto"]
Quality = Literal["low", "medium", "high", "auto"]
Backend = Literal["openai", "storyboard"]


class ComicRequest(BaseModel):
    """What to draw. ``style`` and ``panels`` left unset mean: the earlier comic's on a
    refinement, else ``ghibli`` and 4."""

    prompt: str
    photos: list[PhotoRef] = Field(default_factory=list)
    style: str | None = None
    panels: Literal[1, 2, 4, 6] | None = None
    refine: str | None = None
    size: Size = "auto"
    quality: Quality = "auto"
    model: str | None = None
    backend: Backend = "openai"
    dry_run: bool = False


class ComicRecord(BaseModel):
    """One saved comic and how it was made; ``parent_id`` links a refinement to its source."""

    comic_id: str
    parent_id: str | None = None
    path: str
    prompt: str
    user_prompt: str
    style: str
    panels: int
    photos: list[PhotoRef] = Field(default_factory=list)
    model: str
    size: str
    quality: str
    backend: Backend
    usage: dict[str, Any] | None = None
    created_at: str
    width: int | None = None
    height: int | None = None
    input_fidelity: str | None = None
    input_images: list[str] = Field(default_factory=list)
    notes: list[str] = Field(default_factory=list)


class DryRunResult(BaseModel):
    """Exactly what :meth:`ComicStudio.generate` would send; nothing was sent or written."""

    prompt: str
    images: list[InputImage]
    model: str
    size: str
    quality: str
    backend: Backend
    style: str
    panels: int
    parent_id: str | None = None
    photos: list[PhotoRef] = Field(default_factory=list)
    input_fidelity: str | None = None
    notes: list[str] = Field(default_factory=list)


@dataclass
class _Input:
    source: str
    image: Image.Image
    data: bytes
    format: Literal["JPEG", "PNG"]

    @property
    def filename(self) -> str:
        return "image.png" if self.format == "PNG" else "image.jpg"

    @property
    def mime(self) -> str:
        return "image/png" if self.format == "PNG" else "image/jpeg"


@dataclass
class _Plan:
    """A validated request with its pictures decoded and encoded, ready to send or lay out."""

    user_prompt: str
    prompt: str
    style: str
    panels: int
    model: str
    size: str
    quality: str
    backend: Backend
    parent: ComicRecord | None
    photos: list[PhotoRef]
    inputs: list[_Input]
    input_fidelity: str | None
    notes: list[str] = field(default_factory=list)


class ComicStudio:
    """Makes, saves and lists comics. Stateless apart from the files, so any number of
    instances (CLI runs, server restarts) see the same comics."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    @property
    def comics_dir(self) -> Path:
        return self.settings.comics_dir

    # -- public API ---------------------------------------------------------------------------

    def generate(self, request: ComicRequest) -> ComicRecord | DryRunResult:
        """Validate, build the prompt and inputs, then (unless a dry run) make and save a comic.

        Everything that can be checked locally is checked before anything is sent, so a bad
        request costs nothing. Raises PhotocomicError subclasses with actionable messages.
        """
        plan = self._plan(request)
        if request.dry_run:
            return DryRunResult(
                prompt=plan.prompt,
                images=[
                    InputImage(
                        source=item.source,
                        width=item.image.width,
                        height=item.image.height,
                        format=item.format,
                        bytes=len(item.data),
                    )
                    for item in plan.inputs
                ],
                model=plan.model,
                size=plan.size,
                quality=plan.quality,
                backend=plan.backend,
                style=plan.style,
                panels=plan.panels,
                parent_id=plan.parent.comic_id if plan.parent else None,
                photos=plan.photos,
                input_fidelity=plan.input_fidelity,
                notes=plan.notes,
            )
        started = time.monotonic()
        if plan.backend == "storyboard":
            png, usage = self._storyboard(plan), None
        else:
            png, usage = self._call_openai(plan)
        record = self._save(plan, png, usage)
        log.info(
            "comic %s saved (%s, %s, %.1f s)",
            record.comic_id,
            record.backend,
            record.model,
            time.monotonic() - started,
        )
        return record

    def list(self) -> list[ComicRecord]:
        """Every saved comic whose image is present, newest first."""
        folder = self.comics_dir
        if not folder.is_dir():
            return []
        records = []
        for path in folder.glob("c*.json"):
            if not _COMIC_ID.match(path.stem):
                continue
            try:
                records.append(self._load(path.stem))
            except PhotocomicError as exc:
                log.warning("skipping comic %s: %s", path.stem, exc)
        records.sort(key=lambda r: (r.created_at, r.comic_id), reverse=True)
        return records

    def get(self, comic_id: str) -> ComicRecord:
        """The record of one comic; NotFound if there is no such comic or its image is gone."""
        comic_id = comic_id.strip()
        if not _COMIC_ID.match(comic_id):
            raise NotFound(
                f"no comic with id {comic_id[:40]!r}: comic ids look like 'c1a2b3c4d5e' "
                "(`photocomic comics` lists them)"
            )
        return self._load(comic_id)

    # -- planning -----------------------------------------------------------------------------

    def _plan(self, request: ComicRequest) -> _Plan:
        user_prompt = _check_prompt(request.prompt)
        refine = (request.refine or "").strip() or None
        parent = self.get(refine) if refine else None

        style = normalise_style(request.style or (parent.style if parent else DEFAULT_STYLE))
        panels = request.panels or (parent.panels if parent else DEFAULT_PANELS)
        backend = request.backend
        model = (request.model or "").strip() or self.settings.image_model
        if backend == "storyboard":
            model = STORYBOARD_MODEL

        explicit = _dedupe(request.photos)
        if parent is None and not explicit:
            raise InvalidInput(
                "a comic needs at least one reference photo (a photo id or path), "
                "or refine=<comic id> to change an earlier comic"
            )
        room = MAX_INPUT_IMAGES - (1 if parent else 0)
        if len(explicit) > room:
            where = " besides the earlier comic" if parent else ""
            raise InvalidInput(
                f"too many photos: {len(explicit)} given, the image model takes at most "
                f"{room}{where}; choose the best {room}"
            )

        inputs: list[_Input] = []
        notes: list[str] = []
        if parent is not None:
            inputs.append(_encode_comic(parent))
        photos: list[PhotoRef] = []
        if explicit:
            for ref in explicit:
                inputs.append(_encode_photo(ref))
                photos.append(ref)
        elif parent is not None:
            for ref in parent.photos:
                if len(photos) >= room:
                    notes.append(f"only the first {room} of the earlier comic's photos were used")
                    break
                try:
                    inputs.append(_encode_photo(ref))
                except DecodeError as exc:
                    notes.append(f"reference photo {_describe(ref)} was left out: {exc}")
                    continue
                photos.append(ref)

        prompt = build_prompt(
            user_prompt=user_prompt,
            style=style,
            panels=panels,
            size=request.size,
            photo_count=len(photos),
            parent_prompt=parent.user_prompt if parent else None,
            refining=parent is not None,
        )
        fidelity = "high" if backend == "openai" and _HIGH_FIDELITY_MODEL.match(model) else None
        return _Plan(
            user_prompt=user_prompt,
            prompt=prompt,
            style=style,
            panels=panels,
            model=model,
            size=request.size,
            quality=request.quality,
            backend=backend,
            parent=parent,
            photos=photos,
            inputs=inputs,
            input_fidelity=fidelity,
            notes=notes,
        )

    # -- backends -----------------------------------------------------------------------------

    def _storyboard(self, plan: _Plan) -> bytes:
        page = render_storyboard(
            [item.image for item in plan.inputs],
            split_captions(plan.user_prompt, plan.panels),
            plan.panels,
            plan.size,
            subtitle=f"photocomic · {plan.style} · {plan.panels} panels",
        )
        return encode_png(page)

    def _call_openai(self, plan: _Plan) -> tuple[bytes, dict[str, Any] | None]:
        """One ``images.edit`` call; the SDK retries 429/5xx/timeouts, we translate the rest."""
        client = self._client()
        kwargs: dict[str, Any] = {
            "model": plan.model,
            "prompt": plan.prompt,
            "image": [(item.filename, item.data, item.mime) for item in plan.inputs],
            "size": plan.size,
            "quality": plan.quality,
            "n": 1,
        }
        if plan.input_fidelity:
            kwargs["input_fidelity"] = plan.input_fidelity
        if plan.model.startswith("dall-e"):
            kwargs["response_format"] = "b64_json"  # retired models answered URLs by default
        try:
            response = client.images.edit(**kwargs)
        except openai.OpenAIError as exc:
            raise self._translate(exc, plan) from None
        except ValueError as exc:  # e.g. a body that is not JSON
            raise BadResponse(
                f"the image API at {self._base_url()} answered with something that is not an "
                f"image response ({_scrub(type(exc).__name__)}); check OPENAI_BASE_URL"
            ) from None
        finally:
            client.close()
        return _decode_answer(response, self._base_url())

    def _client(self) -> openai.OpenAI:
        if not os.environ.get("OPENAI_API_KEY", "").strip():
            raise ApiKeyMissing(
                "OPENAI_API_KEY is not set, so the OpenAI image model cannot be called. "
                "Set OPENAI_API_KEY (and OPENAI_BASE_URL for another OpenAI-compatible server), "
                "or use backend='storyboard' (CLI: --backend storyboard) for an offline layout "
                "preview that needs no key."
            )
        try:
            return openai.OpenAI(
                max_retries=self.settings.image_retries, timeout=self.settings.image_timeout
            )
        except openai.OpenAIError as exc:
            raise ConfigError(f"cannot set up the OpenAI client: {_scrub(str(exc))}") from None

    def _base_url(self) -> str:
        url = os.environ.get("OPENAI_BASE_URL", "").strip() or "https://api.openai.com/v1"
        return _scrub(re.sub(r"//[^/@]*@", "//", url))

    def _translate(self, exc: openai.OpenAIError, plan: _Plan) -> GenerationError:
        """A message per failure that says what happened and what the user can do."""
        attempts = self.settings.image_retries + 1
        tries = f"{attempts} attempt{'s' * (attempts > 1)}"
        model = plan.model
        if isinstance(exc, openai.APITimeoutError):
            timeout = self.settings.image_timeout
            return GenerationTimeout(
                f"the image model did not answer within {timeout:g} s ({tries}). Generation "
                "can take one to two minutes, more for large or high-quality images; raise the "
                "limit with PHOTOCOMIC_IMAGE_TIMEOUT (seconds, e.g. PHOTOCOMIC_IMAGE_TIMEOUT=300)"
                " or ask for quality='low'."
            )
        if isinstance(exc, openai.APIConnectionError):
            return ServiceUnavailable(
                f"could not reach the image API at {self._base_url()} ({tries}): "
                f"{_scrub(str(exc))}. Check the network and OPENAI_BASE_URL, or use "
                "backend='storyboard' offline."
            )
        if isinstance(exc, openai.APIStatusError):
            status = exc.status_code
            code = (exc.code or "").lower()
            said = _server_message(exc)
            if status == 401:
                return AuthFailed(
                    "the image API refused the key in OPENAI_API_KEY (401 Unauthorized). Check "
                    "that it is a current key for this project and server (OPENAI_BASE_URL)."
                    + (f" The server said: {said}" if said else "")
                )
            if status == 403:
                if "verif" in said.lower() or "verif" in code:
                    return AccessDenied(
                        f"your OpenAI organization must be verified before it can use {model} "
                        f"(403). Verify it at {VERIFY_URL} (access can take up to 15 minutes "
                        "to arrive), or choose another model with PHOTOCOMIC_IMAGE_MODEL."
                    )
                return AccessDenied(
                    f"the key in OPENAI_API_KEY may not use {model} (403 Forbidden). Check the "
                    f"project's model permissions at {VERIFY_URL}, or choose another model."
                    + (f" The server said: {said}" if said else "")
                )
            if status == 400 and (
                "moderation" in code
                or "safety" in code
                or "content_policy" in code
                or "safety system" in said.lower()
            ):
                return ContentRefused(
                    "the image model refused this request under its content policy "
                    f"({code or 'moderation'}): the prompt or one of the reference photos was "
                    "flagged. Rephrase the prompt (plainer wording, no real people's names, "
                    "nothing violent or explicit) or choose other photos; nothing was saved."
                )
            if status == 429:
                if code == "insufficient_quota" or "quota" in said.lower():
                    return RateLimited(
                        f"the OpenAI account is out of credit (429 insufficient_quota). Add "
                        f"credit at {BILLING_URL}, or use backend='storyboard' for now."
                    )
                return RateLimited(
                    f"the image API is still rate limiting this key (429) after {tries} with "
                    "backoff. Wait a minute and try again, or raise PHOTOCOMIC_IMAGE_RETRIES."
                )
            if status >= 500:
                return ServiceUnavailable(
                    f"the image API failed with HTTP {status} on all {tries}; the service is "
                    "having trouble. Try again in a few minutes."
                    + (f" The server said: {said}" if said else "")
                )
            if status == 404:
                return GenerationError(
                    f"the image API answered 404 for model {model!r} at {self._base_url()}: "
                    "check the model name (PHOTOCOMIC_IMAGE_MODEL) and OPENAI_BASE_URL."
                    + (f" The server said: {said}" if said else "")
                )
            return GenerationError(
                f"the image API rejected the request (HTTP {status}"
                + (f", {code}" if code else "")
                + ")."
                + (f" The server said: {said}" if said else "")
            )
        if isinstance(exc, openai.APIResponseValidationError):
            return BadResponse(
                f"the image API at {self._base_url()} answered in an unexpected shape; "
                "check OPENAI_BASE_URL points at an OpenAI-compatible Images API."
            )
        return GenerationError(f"the image call failed: {_scrub(str(exc))}")

    # -- files --------------------------------------------------------------------------------

    def _save(self, plan: _Plan, png: bytes, usage: dict[str, Any] | None) -> ComicRecord:
        """Image first, record last, both atomic; on any failure neither file remains."""
        folder = self.comics_dir
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise PhotocomicError(
                f"cannot create the comics folder {folder}: {exc.strerror or exc}"
            ) from None
        comic_id = self._new_id()
        image_path = folder / f"{comic_id}.png"
        with Image.open(io.BytesIO(png)) as picture:
            width, height = picture.size
        record = ComicRecord(
            comic_id=comic_id,
            parent_id=plan.parent.comic_id if plan.parent else None,
            path=str(image_path.absolute()),
            prompt=plan.prompt,
            user_prompt=plan.user_prompt,
            style=plan.style,
            panels=plan.panels,
            photos=plan.photos,
            model=plan.model,
            size=plan.size,
            quality=plan.quality,
            backend=plan.backend,
            usage=usage,
            created_at=datetime.now(timezone.utc).isoformat(),
            width=width,
            height=height,
            input_fidelity=plan.input_fidelity,
            input_images=[item.source for item in plan.inputs],
            notes=plan.notes,
        )
        try:
            _atomic_write(image_path, png)
            try:
                body = record.model_dump_json(indent=2).encode()
                _atomic_write(folder / f"{comic_id}.json", body)
            except BaseException:
                image_path.unlink(missing_ok=True)
                raise
        except OSError as exc:
            raise PhotocomicError(
                f"could not save the comic in {folder}: {exc.strerror or exc}; nothing was kept"
            ) from None
        return record

    def _new_id(self) -> str:
        while True:
            comic_id = "c" + secrets.token_hex(5)
            if (
                not (self.comics_dir / f"{comic_id}.json").exists()
                and not (self.comics_dir / f"{comic_id}.png").exists()
            ):
                return comic_id

    def _load(self, comic_id: str) -> ComicRecord:
        record_path = self.comics_dir / f"{comic_id}.json"
        image_path = self.comics_dir / f"{comic_id}.png"
        try:
            raw = record_path.read_bytes()
        except FileNotFoundError:
            raise NotFound(
                f"no comic with id {comic_id!r} in {self.comics_dir} "
                "(`photocomic comics` lists the saved ones)"
            ) from None
        except OSError as exc:
            raise PhotocomicError(
                f"cannot read the record of comic {comic_id}: {exc.strerror or exc}"
            ) from None
        try:
            record = ComicRecord.model_validate_json(raw)
        except ValidationError:
            raise PhotocomicError(
                f"the record of comic {comic_id} ({record_path}) is damaged and cannot be read"
            ) from None
        if not image_path.is_file():
            raise NotFound(f"comic {comic_id}'s image {image_path} is missing (deleted?)")
        # The folder may have moved with the data dir: trust where the files are now.
        return record.model_copy(update={"path": str(image_path.absolute())})


# -- helpers ------------------------------------------------------------------------------------


def _check_prompt(prompt: str) -> str:
    text = (prompt or "").strip()
    if not text:
        raise InvalidInput("the prompt is empty: say what the comic should show or change")
    if len(text) > MAX_PROMPT_CHARS:
        raise InvalidInput(
            f"the prompt is {len(text):,} characters long; the limit is {MAX_PROMPT_CHARS:,}. "
            "Describe the story in a few sentences; nothing was sent."
        )
    return text


def _dedupe(photos: list[PhotoRef]) -> list[PhotoRef]:
    seen: set[str] = set()
    unique = []
    for ref in photos:
        if ref.path not in seen:
            seen.add(ref.path)
            unique.append(ref)
    return unique


def _describe(ref: PhotoRef) -> str:
    return f"{ref.path} (id {ref.photo_id})" if ref.photo_id is not None else ref.path


def _encode_photo(ref: PhotoRef) -> _Input:
    """Decode, downscale (long side ≤ 1536 px) and encode a reference photo as JPEG."""
    try:
        photo = open_photo(ref.path, min_side=MAX_INPUT_SIDE)
    except DecodeError as exc:
        raise DecodeError(f"cannot read photo {_describe(ref)}: {exc}") from None
    picture = fit_within(photo.image, MAX_INPUT_SIDE)
    return _Input(
        source=ref.path, image=picture, data=encode_jpeg(picture, quality=90), format="JPEG"
    )


def _encode_comic(record: ComicRecord) -> _Input:
    """The earlier comic as PNG (lossless, so its line art and lettering stay crisp)."""
    try:
        photo = open_photo(record.path)
    except DecodeError as exc:
        raise DecodeError(f"cannot read comic {record.comic_id} ({record.path}): {exc}") from None
    picture = fit_within(photo.image, MAX_INPUT_SIDE)
    return _Input(
        source=f"comic:{record.comic_id}", image=picture, data=encode_png(picture), format="PNG"
    )


def _decode_answer(response: object, base_url: str) -> tuple[bytes, dict[str, Any] | None]:
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
    try:
        raw = base64.b64decode(encoded, validate=True)
        with Image.open(io.BytesIO(raw)) as picture:
            picture.load()
            fmt = picture.format
            png = raw if fmt == "PNG" else _to_png(picture)
    except (binascii.Error, ValueError, OSError, Image.DecompressionBombError):
        raise BadResponse(
            "the image API answered with data that is not a readable image; try again"
        ) from None
    usage_obj = getattr(response, "usage", None)
    usage = None
    if usage_obj is not None:
        usage = usage_obj.model_dump() if hasattr(usage_obj, "model_dump") else dict(usage_obj)
    return png, usage


def _to_png(picture: Image.Image) -> bytes:
    buf = io.BytesIO()
    picture.save(buf, "PNG")
    return buf.getvalue()


def _server_message(exc: openai.APIStatusError) -> str:
    body = exc.body
    message = body.get("message") if isinstance(body, dict) else body
    text = message if isinstance(message, str) else ""
    return _scrub(" ".join(text.split()))[:300]


def _scrub(text: str) -> str:
    """Remove the API key (and anything shaped like one) from text that might be shown."""
    key = os.environ.get("OPENAI_API_KEY", "").strip()
    if len(key) >= 6:
        text = text.replace(key, "[redacted]")
    return _KEY_LIKE.sub(r"\1…[redacted]", text)


def _atomic_write(path: Path, data: bytes) -> None:
    """Write to a temporary file beside ``path``, flush it to disk, then rename over."""
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}-", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp_name, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp_name)
        raise


def iter_lineage(studio: ComicStudio, comic_id: str) -> Iterator[ComicRecord]:
    """A comic, then its parent, grandparent...: how it came to be (stops at a missing one)."""
    seen: set[str] = set()
    current: str | None = comic_id
    while current and current not in seen:
        seen.add(current)
        try:
            record = studio.get(current)
        except NotFound:
            return
        yield record
        current = record.parent_id
