"""The pictures a comic sends: the reference photos and the earlier comic, each opened (inside
the caller's folders), decoded, scaled to what the model takes and encoded; and which photos of
an earlier comic a refinement may still send."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from photocomic.tools.comics.animation import frames_of, sprite_sheet
from photocomic.tools.comics.contract import ComicRecord
from photocomic.tools.comics.image_api import InputPicture
from photocomic.tools.contract import PhotoRef
from photocomic.tools.errors import DecodeError, NotFound, PathRefused
from photocomic.tools.photos.images import encode_jpeg, encode_png, fit_within, open_photo
from PIL import Image

MAX_INPUT_SIDE = 1536
AllowFn = Callable[[PhotoRef], None]  # raises PathRefused for a photo the caller may not read


@dataclass
class Input:
    """One picture as it will be sent."""

    source: str
    image: Image.Image
    data: bytes
    format: Literal["JPEG", "PNG"]

    def picture(self) -> InputPicture:
        if self.format == "PNG":
            return InputPicture("image.png", self.data, "image/png")
        return InputPicture("image.jpg", self.data, "image/jpeg")


def inherited(
    parent: ComicRecord | None,
    room: int,
    allow: AllowFn | None,
    inputs: list[Input],
    notes: list[str],
    within: Sequence[Path] | None = None,
) -> list[PhotoRef]:
    """The earlier comic's photos that may and can still be read, up to ``room``."""
    chosen: list[PhotoRef] = []
    for ref in parent.photos if parent else []:
        if len(chosen) >= room:
            notes.append(f"only the first {room} of the earlier comic's photos were used")
            break
        try:
            if allow is not None:
                allow(ref)
            inputs.append(encode_photo(ref, within))
        except (PathRefused, NotFound):  # not named: the caller may not know it is there
            notes.append(
                "a reference photo of the earlier comic lies outside the allowed photo folders "
                "and was left out"
            )
            continue
        except DecodeError as exc:
            notes.append(f"reference photo {_describe(ref)} was left out: {exc}")
            continue
        chosen.append(ref)
    return chosen


def dedupe(photos: list[PhotoRef]) -> list[PhotoRef]:
    seen: set[str] = set()
    unique = []
    for ref in photos:
        if ref.path not in seen:
            seen.add(ref.path)
            unique.append(ref)
    return unique


def _describe(ref: PhotoRef) -> str:
    return f"{ref.path} (id {ref.photo_id})" if ref.photo_id is not None else ref.path


def encode_photo(ref: PhotoRef, within: Sequence[Path] | None = None) -> Input:
    """Decode, downscale (long side ≤ 1536 px) and encode a reference photo as JPEG."""
    try:
        photo = open_photo(ref.local_path(), min_side=MAX_INPUT_SIDE, within=within)
    except DecodeError as exc:
        raise DecodeError(f"cannot read photo {_describe(ref)}: {exc}") from None
    picture = fit_within(photo.image, MAX_INPUT_SIDE)
    return Input(
        source=ref.path, image=picture, data=encode_jpeg(picture, quality=90), format="JPEG"
    )


def encode_comic(record: ComicRecord) -> Input:
    """The earlier comic as PNG (lossless, so its line art stays crisp); a comic photocomic
    lettered is sent as its drawing without the letters, which are lettered again after; an
    animated one as a sprite sheet of its frames (the models take no GIF)."""
    if record.format == "gif":
        try:
            sheet = fit_within(sprite_sheet(frames_of(record.path)), MAX_INPUT_SIDE)
        except OSError as exc:
            raise DecodeError(
                f"cannot read comic {record.comic_id} ({record.path}): {exc}"
            ) from None
        return Input(source=f"comic:{record.comic_id}", image=sheet, data=encode_png(sheet),
                     format="PNG")  # fmt: skip
    try:
        photo = open_photo(record.art_path or record.path)
    except DecodeError as exc:
        raise DecodeError(f"cannot read comic {record.comic_id} ({record.path}): {exc}") from None
    picture = fit_within(photo.image, MAX_INPUT_SIDE)
    return Input(
        source=f"comic:{record.comic_id}", image=picture, data=encode_png(picture), format="PNG"
    )
