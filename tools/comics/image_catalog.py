"""Which image models a key can use today, from the API itself, and the one to draw with.

The installed SDK and photocomic's table are frozen at release time; OpenAI adds and shuts
down image models between releases. So before the first drawing with a key, photocomic asks
the API's model list (``GET /v1/models``, free) and keeps the answer for a day in the data
folder, in a file named by a hash of the API's address and the key (never the key itself).
``PHOTOCOMIC_IMAGE_MODEL=auto`` (the default) draws with the newest "sunburst" model the key
can use, else the newest other GPT Image 2 model; a pinned model the key cannot use is refused
before any image request. A server without a model list (some proxies) falls back to the
table, and says so once.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import re
import threading
import time
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from photocomic.tools.comics.image_api import ApiAccess
from photocomic.tools.comics.image_models import (
    AUTO,
    family_of,
    is_current,
    known_models,
    rules_for,
)
from photocomic.tools.errors import ModelNotFound

log = logging.getLogger(__name__)

REFRESH_SECONDS = 24 * 3600
LIST_TIMEOUT = 15.0
_VERSION = re.compile(r"^gpt-image-(\d+)(?:\.(\d+))?(?:-([a-z]+))?$")
_warned: set[str] = set()
_warned_lock = threading.Lock()


@dataclass(frozen=True)
class Catalog:
    """The models a key can use (None when the list could not be read), and a note to show
    once when photocomic fell back to its own table."""

    models: frozenset[str] | None
    source: str  # "api", "cache" or "table"
    note: str | None = None

    def image_models(self) -> list[str]:
        names = self.models if self.models is not None else frozenset(known_models())
        return sorted(n for n in names if n.startswith(("gpt-image", "chatgpt-image", "dall-e")))


def catalog(access: ApiAccess | None, cache_dir: Path, now: float | None = None) -> Catalog:
    """The models ``access``'s key can use, cached for a day; the table when there is no key
    or the API has no model list."""
    import openai  # on first use: an engine that never draws starts 0.6 s sooner

    if access is None or not access.api_key:
        return Catalog(None, "table")
    key = hashlib.sha256(f"{access.base_url or ''}\0{access.api_key}".encode()).hexdigest()
    path = cache_dir / "models" / f"{key[:32]}.json"
    moment = time.time() if now is None else now
    cached, fetched_at = _read(path)
    if cached is not None and moment - fetched_at < REFRESH_SECONDS:
        return Catalog(cached, "cache")
    try:
        listed = _fetch(access)
    except openai.OpenAIError as exc:
        reason = access.scrub(" ".join(str(exc).split()))[:200]
        if cached is not None:  # yesterday's list beats the table
            log.warning("model list not refreshed (%s); using the one from before", reason)
            return Catalog(cached, "cache")
        note = (
            f"the API at {access.shown_url()} did not give its model list ({reason}), so "
            "photocomic chose from its own table of image models"
        )
        return Catalog(None, "table", _once(key, note))
    _write(path, listed, moment)
    return Catalog(listed, "api")


def choose(configured: str, found: Catalog, on: date | None = None) -> str:
    """The model to draw with: ``auto`` chosen from the list, or the pinned one if the key can
    use it; ModelRetired / ModelNotFound (naming the usable models) before anything is sent."""
    name = configured.strip()
    if name.lower() == AUTO:
        return newest(found.models if found.models is not None else known_models(), on)
    rules_for(name, on)  # a shut-down model is refused with its replacement named
    if found.models is not None and name not in found.models:
        usable = [n for n in found.image_models() if is_current(n, on)]
        raise ModelNotFound(
            f"your OpenAI key cannot use the image model {name}: the API lists "
            f"{', '.join(usable) or 'no image model'} for it. Use [[auto_model]] or one of "
            "those; nothing was sent."
        )
    return name


def newest(names: frozenset[str] | tuple[str, ...], on: date | None = None) -> str:
    """The newest current sunburst model among ``names``, else the newest other GPT Image 2."""
    ranked: list[tuple[tuple[int, int], bool, str]] = []
    for name in names:
        match = _VERSION.match(name)
        if match is None or family_of(name) != name or not is_current(name, on):
            continue
        major, minor, kind = int(match.group(1)), int(match.group(2) or 0), match.group(3)
        if major >= 2:
            ranked.append(((major, minor), kind == "sunburst", name))
    sunburst = [r for r in ranked if r[1]]
    pool = sunburst or ranked
    if not pool:
        raise ModelNotFound(
            "your OpenAI key can use no GPT Image 2 model today (the API lists "
            f"{', '.join(sorted(n for n in names if 'image' in n)) or 'no image model'}); "
            "check the key's project in the OpenAI dashboard, or name a model it can use with "
            "[[pick_model]]."
        )
    return max(pool, key=lambda r: (r[0], r[2]))[2]


def _fetch(access: ApiAccess) -> frozenset[str]:
    import openai

    client = openai.OpenAI(
        api_key=access.api_key, base_url=access.base_url, max_retries=1, timeout=LIST_TIMEOUT
    )
    try:
        return frozenset(model.id for model in client.models.list())
    finally:
        client.close()


def _read(path: Path) -> tuple[frozenset[str] | None, float]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        models = data["models"]
        if not isinstance(models, list) or not all(isinstance(m, str) for m in models):
            return None, 0.0
        return frozenset(models), float(data["fetched_at"])
    except (OSError, ValueError, KeyError, TypeError):
        return None, 0.0


def _write(path: Path, models: frozenset[str], moment: float) -> None:
    """Atomically, owner-only; a failure to cache costs one more free call, nothing else."""
    with contextlib.suppress(OSError):
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        temporary = path.with_suffix(f".{os.getpid()}.tmp")
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump({"fetched_at": moment, "models": sorted(models)}, handle)
        os.replace(temporary, path)


def _once(key: str, note: str) -> str | None:
    """``note`` the first time for this key in this process, then None."""
    with _warned_lock:
        if key in _warned:
            return None
        _warned.add(key)
    log.warning("%s", note)
    return note
