"""Style presets and prompt building for comics.

Kept apart from the API call so that the prompt a user is shown in a dry run is built by the
same code, byte for byte, as the prompt that is sent, and so the wording can be tuned without
touching the network code.
"""

from __future__ import annotations

from typing import get_args

from photocomic.tools.comics.contract import StyleKey, style_key
from photocomic.tools.comics.layouts import panel_instructions
from photocomic.tools.errors import InvalidInput

DEFAULT_STYLE = "ghibli"

# Each preset describes a look, not an artist, so it also reads well to models that refuse
# "in the style of <living artist>" prompts.
STYLES: dict[str, str] = {
    "ghibli": (
        "Studio Ghibli-inspired hand-drawn anime: soft painted watercolour backgrounds, warm "
        "natural light, a gentle pastel palette, lush detailed scenery and simple, expressive "
        "character faces with clean line art."
    ),
    "manga": (
        "Black-and-white Japanese manga: crisp ink line art, screentone shading, speed lines, "
        "dramatic camera angles and expressive eyes, with hand-lettered speech balloons."
    ),
    "watercolor": (
        "Loose watercolour illustration: visible paper texture, soft bleeding washes, light "
        "pencil outlines and a fresh, airy palette, like a picture book."
    ),
    "american-comic": (
        "Classic American comic book: bold black ink outlines, flat saturated colours with "
        "halftone dots, dynamic poses, caption boxes and lettered speech balloons."
    ),
    "3d-animation": (
        "Modern 3D animated feature film: rounded, appealing character shapes, soft global "
        "illumination, rich materials (fur, fabric, skin) and cinematic depth of field."
    ),
    "noir": (
        "Film-noir graphic novel: high-contrast black and white with a single accent colour, "
        "heavy shadows, rain-slick streets and moody, dramatic lighting."
    ),
}

MAX_PROMPT_CHARS = 4000


if set(STYLES) != set(get_args(StyleKey)):  # the contract's choices are these presets
    raise RuntimeError("comics/contract.StyleKey and comics/styles.STYLES name other styles")


def normalise_style(style: str) -> str:
    """The preset key for a user-typed style ("American comic" -> "american-comic").

    Raises InvalidInput listing the valid names, because a person (or an assistant) picking a
    style needs to see the choices, not just hear that theirs is wrong.
    """
    key = str(style_key(style))
    if key not in STYLES:
        raise InvalidInput(
            f"unknown style {style.strip()[:40]!r}; choose one of: {', '.join(STYLES)}"
        )
    return key


IDENTITY_GUIDANCE = (
    "Keep every subject recognisable as the same individual in every panel: face and head "
    "shape, eye colour, fur or hair colour and markings, body shape and size, and distinctive "
    "features or accessories, translated into the art style rather than replaced. Do not add "
    "people or animals that are not asked for."
)


def build_prompt(
    *,
    user_prompt: str,
    style: str,
    panels: int,
    layout: str,
    width: int,
    height: int,
    photo_count: int,
    story: str | None = None,
    refining: bool = False,
    cast_words: str | None = None,
    lettered: bool = False,
) -> str:
    """The full prompt: style preset, layout, the story (or the change), identity guidance
    (or, with ``cast_words``, which input images show whom).

    On a refinement the first input image is the earlier comic, so the prompt says so and asks
    for that comic to be kept with only the requested change applied; ``story`` (the words of
    ``comics/story.py``) says what the comic tells and what was changed before.
    """
    parts = [
        f"Create a comic in this art style: {STYLES[style]}",
        panel_instructions(panels, layout, width, height, lettered),
    ]
    if refining:
        parts.append(
            "The FIRST input image is the earlier version of this comic. Keep it: the same "
            "panel layout, art style, characters, setting and story, and change only what this "
            "instruction asks for."
        )
        if story:
            parts.append(story)
        parts.append(f"Change: {user_prompt}")
        if photo_count:
            what = (
                "is the original reference photo of the subjects"
                if photo_count == 1
                else "are the original reference photos of the subjects"
            )
            parts.append(
                f"The other {_count(photo_count, 'input image')} after the first {what}. "
                + IDENTITY_GUIDANCE
            )
        else:
            parts.append(
                "Keep every character looking exactly as in the earlier comic: same face, "
                "colours, markings and proportions."
            )
    else:
        parts.append(f"Story: {user_prompt}")
        if cast_words:
            parts.append(cast_words)
            return "\n\n".join(parts)
        parts.append(
            f"The {_count(photo_count, 'input image')} "
            f"{'is a reference photo' if photo_count == 1 else 'are reference photos'} of the "
            "real subjects of this story. " + IDENTITY_GUIDANCE
        )
    return "\n\n".join(parts)


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"
