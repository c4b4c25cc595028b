"""What each OpenAI image model accepts: sizes, quality tiers, input fidelity, streaming, prices.

One table, read by everything that plans or sends a comic, so a request the model cannot take
is refused here, before anything is sent or paid for. The rules follow the installed ``openai``
SDK's documentation (``openai/types/image_edit_params.py`` and ``image_model.py``); a name that
is not in the table is sent as it is, with only what every GPT image model accepts. OpenAI's
announced shutdowns are kept with their dates and enforced by the clock (the installed SDK
lags: on the day a shutdown takes effect it still lists the model as current); models a newer
SDK lists as shut down are refused too.
"""

from __future__ import annotations

import functools
import math
import re
from dataclasses import dataclass
from datetime import date, datetime, timezone
from typing import get_args

from photocomic.tools.comics.contract import BaseQuality, ExtraQuality
from photocomic.tools.comics.layouts import auto_size
from photocomic.tools.config import DEFAULT_IMAGE_MODEL
from photocomic.tools.errors import InvalidInput, ModelRetired

# The default is "auto": the newest "sunburst" image model the key can use, as the API's own
# model list says (see image_catalog.py). The SDK documents the sunburst models as the best at
# keeping reference subjects and earlier edits across turns, which is what a comic refined turn
# by turn needs; the flare ones are the faster choice. Models change faster than releases of
# photocomic or the SDK, so the choice is made against the list, each time it is refreshed.
AUTO = DEFAULT_IMAGE_MODEL
FALLBACK_IMAGE_MODEL = "gpt-image-2"  # named as the replacement of the models shut down today

STANDARD_SIZES = ("1024x1024", "1536x1024", "1024x1536")
BASE_QUALITIES: tuple[str, ...] = get_args(BaseQuality)
EXTRA_QUALITIES: tuple[str, ...] = get_args(ExtraQuality)
ALL_QUALITIES = (*BASE_QUALITIES, *EXTRA_QUALITIES)
MAX_INPUT_IMAGES = 16
MAX_PROMPT_CHARS_API = 32000

# Free sizes on GPT Image 2 and later: both sides multiples of 16, aspect 1:3 to 3:1, the long
# side at most 3840, and between 655,360 and 8,294,400 pixels (3840x2160) in all.
SIZE_STEP = 16
MAX_ASPECT = 3.0
MAX_EDGE = 3840
MIN_PIXELS = 655_360
MAX_PIXELS = 3840 * 2160

# US dollars per million tokens, from OpenAI's published price list as of 2026-11 (text input,
# image input, image output). Models without an entry get no cost estimate, never a guess: the
# 2.5 and 2.6 models are not priced here because no published price was at hand when this was
# written (add theirs here, with PRICES_AS_OF, once known).
PRICES_AS_OF = "2026-11"


@dataclass(frozen=True)
class Prices:
    text_input: float
    image_input: float
    image_output: float


@dataclass(frozen=True)
class ModelRules:
    """What one model (a family of names and dated snapshots) accepts."""

    family: str
    free_sizes: bool
    qualities: tuple[str, ...]
    input_fidelity: tuple[str, ...]  # empty: the parameter must be left out
    fidelity_to_send: str | None
    streams: bool
    prices: Prices | None
    known: bool = True
    markup: bool = False  # takes a markup layer (GPT Image 2.5 and later)
    gif: bool = False  # GIF output (the GIF preview: GPT Image 2.6)

    def describe_sizes(self) -> str:
        if self.free_sizes:
            return (
                f"WIDTHxHEIGHT with both sides multiples of {SIZE_STEP}, aspect between 1:3 and "
                f"3:1, the long side at most {MAX_EDGE} and {MIN_PIXELS:,} to {MAX_PIXELS:,} "
                "pixels in all (e.g. 1536x512, 1024x1024, 2048x1152), or auto"
            )
        return ", ".join(STANDARD_SIZES) + " or auto"


_TABLE: dict[str, ModelRules] = {
    "gpt-image-1-mini": ModelRules(
        "gpt-image-1-mini", False, BASE_QUALITIES, ("low",), None, True, Prices(2.0, 2.5, 8.0)
    ),
    "gpt-image-1.5": ModelRules(
        "gpt-image-1.5", False, BASE_QUALITIES, ("high", "low"), "high", True,
        Prices(5.0, 8.0, 32.0),
    ),
    "gpt-image-2": ModelRules(
        "gpt-image-2", True, BASE_QUALITIES, (), None, True, Prices(5.0, 8.0, 30.0)
    ),
    "gpt-image-2.5-sunburst": ModelRules(
        "gpt-image-2.5-sunburst", True, ALL_QUALITIES, (), None, True, None, markup=True
    ),
    "gpt-image-2.5-flare": ModelRules(
        "gpt-image-2.5-flare", True, ALL_QUALITIES, (), None, True, None, markup=True
    ),
    "gpt-image-2.6-sunburst": ModelRules(
        "gpt-image-2.6-sunburst", True, ALL_QUALITIES, (), None, True, None, markup=True, gif=True
    ),
    "gpt-image-2.6-flare": ModelRules(
        "gpt-image-2.6-flare", True, ALL_QUALITIES, (), None, True, None, markup=True, gif=True
    ),
    # "follows the same input constraints as GPT image models": the common subset
    "chatgpt-image-latest": ModelRules(
        "chatgpt-image-latest", False, BASE_QUALITIES, (), None, False, None
    ),
}  # fmt: skip


@dataclass(frozen=True)
class Shutdown:
    """A model OpenAI announced it will shut down (or did), and what it named instead."""

    on: date
    replacement: str
    announced: date | None = None


# OpenAI's announced shutdowns (its deprecations page). Enforced against today's date, so a
# shutdown takes effect on its day without a new release of photocomic or of the SDK.
SHUTDOWNS: dict[str, Shutdown] = {
    "dall-e-2": Shutdown(date(2026, 5, 12), FALLBACK_IMAGE_MODEL),
    "dall-e-3": Shutdown(date(2026, 5, 12), FALLBACK_IMAGE_MODEL),
    "gpt-image-1": Shutdown(date(2026, 10, 23), "gpt-image-2.5-sunburst"),
    "gpt-image-1.5": Shutdown(date(2026, 12, 1), "gpt-image-2", announced=date(2026, 6, 2)),
    "gpt-image-1-mini": Shutdown(date(2026, 12, 1), "gpt-image-2", announced=date(2026, 6, 2)),
    "chatgpt-image-latest": Shutdown(date(2026, 12, 1), "gpt-image-2", announced=date(2026, 6, 2)),
}


def today() -> date:
    """Today's date in UTC, when shutdowns take effect."""
    return datetime.now(timezone.utc).date()


_SNAPSHOT = re.compile(r"-\d{4}-\d{2}-\d{2}$")


def family_of(model: str) -> str:
    """The name without a dated snapshot suffix: gpt-image-2-2026-04-21 -> gpt-image-2."""
    return _SNAPSHOT.sub("", model.strip())


def rules_for(model: str, on: date | None = None) -> ModelRules:
    """The rules of ``model``; ModelRetired for one shut down by ``on`` (today); the safe
    subset if unknown."""
    name = model.strip()
    retired = retirement_notice(name, on)
    if retired is not None:
        raise ModelRetired(
            f"the image model {name} is no longer available: {retired} Use [[auto_model]] or "
            f"{replacement_of(name)}; nothing was sent."
        )
    known = _TABLE.get(family_of(name))
    if known is not None:
        return known
    return ModelRules(name, False, BASE_QUALITIES, (), None, False, None, known=False)


def retirement_notice(model: str, on: date | None = None) -> str | None:
    """Why ``model`` cannot be used on ``on`` (today), from the announced dates or the
    installed SDK's notes; None if it can."""
    when = on or today()
    family = family_of(model)
    for name in (model.strip(), family):
        shutdown = SHUTDOWNS.get(name)
        if shutdown is None:
            continue
        if when < shutdown.on:  # the announced date rules, whatever a newer SDK says
            return None
        told = f" (announced {shutdown.announced:%Y-%m-%d})" if shutdown.announced else ""
        return (
            f"OpenAI shut {name} down on {shutdown.on:%Y-%m-%d}{told}; its replacement is "
            f"{shutdown.replacement}."
        )
    notices = sdk_retired_models()
    return notices.get(model) or notices.get(family)


def coming_shutdown(model: str, on: date | None = None) -> str | None:
    """A note for a model whose announced shutdown is still ahead."""
    when = on or today()
    shutdown = SHUTDOWNS.get(family_of(model))
    if shutdown is None or when >= shutdown.on:
        return None
    return (
        f"OpenAI will shut {family_of(model)} down on {shutdown.on:%Y-%m-%d}; its replacement "
        f"is {shutdown.replacement}"
    )


def replacement_of(model: str) -> str:
    shutdown = SHUTDOWNS.get(family_of(model))
    return shutdown.replacement if shutdown is not None else FALLBACK_IMAGE_MODEL


def is_current(model: str, on: date | None = None) -> bool:
    return retirement_notice(model, on) is None


@functools.lru_cache(maxsize=1)
def sdk_retired_models() -> dict[str, str]:
    """The "Deprecated values" the installed SDK lists for image models, name -> its note.

    Read from the SDK's source because the notes live in a docstring after the type alias.
    """
    try:
        import inspect

        from openai.types import image_model

        source = inspect.getsource(image_model)
    except (ImportError, OSError, TypeError):
        return {}
    _, _, notes = source.partition("Deprecated values:")
    found: dict[str, str] = {}
    for item in re.split(r"\n\s*- ", "\n" + notes.split('"""')[0]):
        head, sep, text = item.partition(":")
        if not sep:
            continue
        message = " ".join(text.split())
        for name in re.findall(r'"([^"]+)"', head):
            found[name] = message
    return found


def sdk_models() -> tuple[str, ...]:
    """Every model name the installed SDK's ``ImageModel`` lists."""
    from typing import get_args

    from openai.types.image_model import ImageModel

    return tuple(get_args(ImageModel))


def parse_size(size: str) -> tuple[int, int] | None:
    """(width, height) of a ``WxH`` size; None for ``auto``; InvalidInput if malformed."""
    text = size.strip().lower()
    if text == "auto":
        return None
    match = re.fullmatch(r"(\d{2,5})x(\d{2,5})", text)
    if not match:
        raise InvalidInput(f"size {size[:40]!r} is not WIDTHxHEIGHT (e.g. 1536x1024) or auto")
    return int(match.group(1)), int(match.group(2))


def check_canvas(width: int, height: int, who: str = "the storyboard") -> None:
    """InvalidInput for a picture larger than any image model draws (checked before a pixel
    is allocated: 99999x99999 would need 30 GB)."""
    if max(width, height) > MAX_EDGE or width * height > MAX_PIXELS:
        raise InvalidInput(
            f"{who} cannot draw {width}x{height}: at most {MAX_EDGE} pixels a side and "
            f"{MAX_PIXELS:,} pixels in all, as the image models; try 1536x1024"
        )


def size_problem(width: int, height: int) -> str | None:
    """Why a free size breaks the GPT Image 2 rules, or None when it is fine."""
    if width % SIZE_STEP or height % SIZE_STEP:
        return f"both sides must be multiples of {SIZE_STEP}"
    if max(width, height) > MAX_EDGE:
        return f"the long side may be at most {MAX_EDGE}"
    if max(width, height) > MAX_ASPECT * min(width, height):
        return "the aspect ratio must lie between 1:3 and 3:1"
    if width * height > MAX_PIXELS:
        return f"at most {MAX_PIXELS:,} pixels (3840x2160)"
    if width * height < MIN_PIXELS:
        return f"at least {MIN_PIXELS:,} pixels (e.g. 1024x640)"
    return None


def nearest_free_size(width: int, height: int) -> tuple[int, int]:
    """A size that keeps the requested shape as well as the free-size rules allow."""
    aspect = min(MAX_ASPECT, max(1 / MAX_ASPECT, width / max(1, height)))
    wide = aspect >= 1
    ratio = aspect if wide else 1 / aspect
    pixels = float(min(MAX_PIXELS, max(MIN_PIXELS, width * height)))
    for _ in range(200):
        long_side = min(MAX_EDGE, round((pixels * ratio) ** 0.5 / SIZE_STEP) * SIZE_STEP)
        short_side = math.ceil(long_side / ratio / SIZE_STEP) * SIZE_STEP
        w, h = (long_side, short_side) if wide else (short_side, long_side)
        if size_problem(w, h) is None:
            return w, h
        pixels *= 1.02 if w * h < MIN_PIXELS else 0.98
    return 1024, 1024


def nearest_standard_size(width: int, height: int) -> str:
    if width > height * 1.2:
        return "1536x1024"
    if height > width * 1.2:
        return "1024x1536"
    return "1024x1024"


def check_size(rules: ModelRules, model: str, size: str) -> str:
    """``size`` as the API wants it, or InvalidInput with the rule and a size that works."""
    parsed = parse_size(size)
    if parsed is None:
        return "auto"
    width, height = parsed
    text = f"{width}x{height}"
    if rules.free_sizes:
        problem = size_problem(width, height)
        if problem is None:
            return text
        w, h = nearest_free_size(width, height)
        raise InvalidInput(
            f"{model} cannot draw {text}: {problem}. It takes {rules.describe_sizes()}. "
            f"Try size {w}x{h}; nothing was sent."
        )
    if text in STANDARD_SIZES:
        return text
    raise InvalidInput(
        f"{model} cannot draw {text}: it takes only {rules.describe_sizes()}. Try size "
        f"{nearest_standard_size(width, height)}, or a GPT Image 2 model "
        f"({FALLBACK_IMAGE_MODEL} or later) for free sizes; nothing was sent."
    )


def check_quality(rules: ModelRules, model: str, quality: str) -> str:
    value = quality.strip().lower()
    if value in rules.qualities:
        return value
    if value in ALL_QUALITIES:
        raise InvalidInput(
            f"{model} has no quality {value!r}: it takes {', '.join(rules.qualities)} (xhigh and "
            "max need GPT Image 2.5 or later, e.g. gpt-image-2.6-sunburst); nothing was sent."
        )
    raise InvalidInput(
        f"unknown quality {quality[:20]!r}: choose one of {', '.join(ALL_QUALITIES)}"
    )


def estimate_cost(model: str, usage: dict[str, object] | None) -> float | None:
    """US dollars for one call from the usage the API reported; None when unknown."""
    if not usage:
        return None
    try:
        rules = rules_for(model)
    except ModelRetired:
        rules = None
    prices = rules.prices if rules is not None else None
    if prices is None:
        return None
    details = usage.get("input_tokens_details") or {}
    if not isinstance(details, dict):
        return None
    try:
        text_in = float(details.get("text_tokens") or 0)
        image_in = float(details.get("image_tokens") or 0)
        if not (text_in or image_in):
            text_in = float(usage.get("input_tokens") or 0)  # type: ignore[arg-type]
        out = float(usage.get("output_tokens") or 0)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    dollars = (
        text_in * prices.text_input + image_in * prices.image_input + out * prices.image_output
    ) / 1_000_000
    return round(dollars, 4)


def known_models() -> tuple[str, ...]:
    """The model names this table has rules for or knows the shutdown of."""
    return tuple(dict.fromkeys([*_TABLE, *SHUTDOWNS]))


def choose_size(
    rules: ModelRules | None, model: str, requested: str, panels: int, layout: str
) -> tuple[str, int, int]:
    """(size to send, width, height): the requested size checked against the model, or for
    ``auto`` the size that fits the layout."""
    if rules is None:  # the storyboard draws any size the image models could
        parsed = parse_size(requested)
        width, height = parsed or auto_size(panels, layout, free_sizes=True)
        check_canvas(width, height)
        return f"{width}x{height}", width, height
    size = check_size(rules, model, requested)
    if size == "auto":
        width, height = auto_size(panels, layout, rules.free_sizes)
        return f"{width}x{height}", width, height
    width, height = (int(part) for part in size.split("x"))
    return size, width, height
