"""Comics that move: the GIF output's rules, the words that ask for one, the frames a refinement
sends back, and the small still that stands for a GIF in an answer (the storyboard lays out
its offline animation).

What the SDK documents for GIF output (``images.edit``): ``output_format="gif"`` with
``frame_count`` 2-16 (9 when left out) and ``frame_duration_ms`` (200 when left out, rounded to
10 ms, at most 655,350 ms); no streaming, no partial images, no mask and no output compression;
the size within the model's GIF limits; access to the GIF preview for the model. A GIF cannot
be sent as an input image, so a refinement sends the earlier animation's frames as one sprite
sheet (a grid of frames, read like a page) and says so.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass

from photocomic.tools.comics.image_models import MIN_PIXELS, SIZE_STEP, ModelRules, parse_size
from photocomic.tools.comics.styles import IDENTITY_GUIDANCE, STYLES
from photocomic.tools.errors import InvalidInput
from photocomic.tools.photos.images import encode_jpeg
from PIL import Image, ImageOps, ImageSequence

MIN_FRAMES, MAX_FRAMES, DEFAULT_FRAMES = 2, 16, 9
DEFAULT_FRAME_MS, MIN_FRAME_MS, MAX_FRAME_MS = 200, 10, 655_350
# OpenAI publishes no GIF size limits ("the model's GIF size limits"); these are what others
# measured on GPT Image 2.6 in 2026-11: the largest square frame per frame count. A larger frame
# is refused here rather than by the API; any shape with the same pixels or fewer is allowed.
SQUARE_CAPS = ((9, 960), (12, 816), (16, 720))
AUTO_SIDE = 720  # a frame size every frame count takes
STRIP_FRAMES = 4  # frames shown side by side in the still that stands for a GIF


@dataclass(frozen=True)
class Motion:
    """An animation as it is asked for: its frames, their timing and the frame size."""

    frames: int
    frame_ms: int
    size: str
    width: int
    height: int

    @property
    def seconds(self) -> float:
        return round(self.frames * self.frame_ms / 1000, 1)


def check_motion(
    rules: ModelRules | None, model: str, size: str, frames: int, frame_ms: int
) -> Motion:
    """The animation a request asks for, judged by the model's GIF rules before anything is
    sent; ``rules`` None: the offline storyboard, which draws any frame size."""
    if rules is not None and not rules.gif:
        raise InvalidInput(
            f"{model} makes no GIFs: animation needs a model with the GIF preview "
            "(gpt-image-2.6-sunburst or gpt-image-2.6-flare); choose one with [[pick_model]], "
            "or draw a still comic"
        )
    if not MIN_FRAMES <= frames <= MAX_FRAMES:
        raise InvalidInput(f"an animation has {MIN_FRAMES} to {MAX_FRAMES} frames, not {frames}")
    cap = next(side for most, side in SQUARE_CAPS if frames <= most)
    width, height = parse_size(size) or (min(AUTO_SIDE, cap), min(AUTO_SIDE, cap))
    if width % SIZE_STEP or height % SIZE_STEP or max(width, height) > 3 * min(width, height):
        raise InvalidInput(
            f"a GIF frame of {width}x{height} is not one the models take: both sides multiples "
            f"of {SIZE_STEP}, aspect between 1:3 and 3:1 (or size='auto')"
        )
    if rules is not None and width * height > cap * cap:
        raise InvalidInput(
            f"a {width}x{height} frame is too large for {frames} frames: at most {cap * cap:,} "
            f"pixels a frame (e.g. {cap}x{cap}); fewer frames allow larger ones"
        )
    if rules is not None and frames * width * height < MIN_PIXELS:
        raise InvalidInput(
            f"{frames} frames of {width}x{height} are too few pixels for the model (at least "
            f"{MIN_PIXELS:,} in all): choose larger frames or more of them"
        )
    return Motion(frames, frame_ms, f"{width}x{height}", width, height)


def motion_prompt(
    *, style: str, user_prompt: str, motion: Motion, photo_count: int, story: str | None,
    earlier: str | None, cast_words: str | None,
) -> str:  # fmt: skip
    """The words that ask for an animation; ``earlier`` is 'gif' or 'still' on a refinement."""
    parts = [
        f"Create a short looping animation, {motion.frames} frames of {motion.frame_ms} ms "
        f"(about {motion.seconds:g} s), in this art style: {STYLES[style]}",
        "One scene that moves: a steady camera, the characters moving smoothly from frame to "
        "frame, the last frame leading back into the first. No text, no panel borders.",
    ]
    if earlier == "gif":
        parts.append(
            "The FIRST input image is a sprite sheet of the earlier version of this animation: "
            "its frames in a grid, read left to right, top to bottom. Keep its characters, "
            "style, setting and motion, and change only what this instruction asks for."
        )
    elif earlier == "still":
        parts.append(
            "The FIRST input image is a still comic: animate its scene, keeping its characters, "
            "style and setting."
        )
    if story:
        parts.append(story)
    parts.append(f"{'Change' if earlier else 'What happens'}: {user_prompt}")
    if cast_words:
        parts.append(cast_words)
    elif photo_count:
        first = 2 if earlier else 1
        parts.append(
            f"Input images {first} onwards are photos of the real subjects. " + IDENTITY_GUIDANCE
        )
    return "\n\n".join(parts)


def frames_of(data: bytes | str) -> list[Image.Image]:
    """Every frame of a GIF, as RGB pictures."""
    source = io.BytesIO(data) if isinstance(data, bytes) else data
    with Image.open(source) as opened:
        return [frame.convert("RGB") for frame in ImageSequence.Iterator(opened)]


def sprite_sheet(frames: Sequence[Image.Image]) -> Image.Image:
    """The frames in a grid as near square as the count allows, for the model to look at."""
    columns = max(1, round(len(frames) ** 0.5 + 0.49))
    rows = -(-len(frames) // columns)
    width, height = frames[0].size
    sheet = Image.new("RGB", (columns * width, rows * height), (255, 255, 255))
    for index, frame in enumerate(frames):
        row, column = divmod(index, columns)
        sheet.paste(frame.resize((width, height)), (column * width, row * height))
    return sheet


def frame_strip(data: bytes | str, side: int = 256) -> Image.Image:
    """A few frames side by side: the still that stands for a GIF in an answer."""
    frames = frames_of(data)
    step = max(1, len(frames) // STRIP_FRAMES)
    chosen = frames[::step][:STRIP_FRAMES]
    cells = [ImageOps.contain(f, (side, side)) for f in chosen]
    strip = Image.new("RGB", (sum(c.width for c in cells) + 4 * (len(cells) - 1),
                              max(c.height for c in cells)), (255, 255, 255))  # fmt: skip
    x = 0
    for cell in cells:
        strip.paste(cell, (x, 0))
        x += cell.width + 4
    return strip


def animation_preview(path: str) -> bytes:
    """The small still JPEG an answer carries for a GIF (a strip of a few of its frames)."""
    return encode_jpeg(frame_strip(path), quality=80)


def gif_facts(data: bytes) -> tuple[int, int, int, int]:
    """(width, height, frames, ms per frame) of a GIF, or ValueError when it is none."""
    with Image.open(io.BytesIO(data)) as opened:
        if opened.format != "GIF":
            raise ValueError(f"a {opened.format} picture, not a GIF")
        return (opened.width, opened.height, getattr(opened, "n_frames", 1),
                int(opened.info.get("duration") or 0))  # fmt: skip
