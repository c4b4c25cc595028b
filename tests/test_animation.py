"""Comics that move: GIF output sent as the SDK documents it (and refused, before anything is
sent, where it cannot be), saved as a real GIF with its frames, refined from its frames, and
laid out offline by the storyboard."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from photocomic.tools.comics.contract import ComicRecord, ComicRequest, DryRunResult
from photocomic.tools.comics.studio import ComicStudio
from photocomic.tools.config import Settings
from photocomic.tools.contract import PhotoRef
from photocomic.tools.errors import AccessDenied, InvalidInput
from PIL import Image, ImageSequence
from pydantic import ValidationError

try:
    from .openai_double import OpenAIDouble, pointed_at
except ImportError:  # tests/ is not a package: pytest put the folder itself on sys.path
    from openai_double import OpenAIDouble, pointed_at  # type: ignore[no-redef]

Double = Callable[..., OpenAIDouble]


@pytest.fixture
def double(monkeypatch: pytest.MonkeyPatch) -> Iterator[Double]:
    """Starts a double with the options given, this process's OpenAI settings pointed at it."""
    with contextlib.ExitStack() as started:
        yield lambda **options: started.enter_context(
            pointed_at(monkeypatch, "sk-animation-test", **options)
        )


@pytest.fixture
def photos(tmp_path: Path) -> list[PhotoRef]:
    refs = []
    for n, colour in enumerate(((200, 150, 90), (60, 120, 200))):
        path = tmp_path / f"cola_{n}.jpg"
        Image.new("RGB", (800, 600), colour).save(path, "JPEG")
        refs.append(PhotoRef(photo_id=n + 1, path=str(path)))
    return refs


def _drawn(studio: ComicStudio, photos: list[PhotoRef], **fields: object) -> ComicRecord:
    record = studio.generate(ComicRequest(**fields), photos)  # type: ignore[arg-type]
    assert isinstance(record, ComicRecord)
    return record


def _frames(path: str) -> list[int]:
    with Image.open(path) as gif:
        assert gif.format == "GIF"
        return [int(frame.info.get("duration", 0)) for frame in ImageSequence.Iterator(gif)]


def test_an_animated_comic_is_sent_as_gif_output_and_saved_as_a_gif(
    double: Double, photos: list[PhotoRef]
) -> None:
    api = double()
    studio = ComicStudio(Settings())
    record = _drawn(studio, photos, prompt="Cola jumps for the frisbee", animate=True, frames=6,
                    frame_ms=120)  # fmt: skip
    sent = api.requests[-1]
    assert sent.fields["output_format"] == "gif" and sent.fields["frame_count"] == "6"
    assert sent.fields["frame_duration_ms"] == "120"
    assert sent.fields.get("stream") in (None, "false") and "partial_images" not in sent.fields
    assert not [i for i in sent.images if i.field in ("mask", "markup")]
    assert sent.model.startswith("gpt-image-2.6")
    assert record.format == "gif" and record.frames == 6 and record.frame_ms == 120
    assert record.path.endswith(".gif") and _frames(record.path) == [120] * 6
    assert studio.comics.get(record.comic_id).format == "gif"

    # a refinement sends the frames as one sprite sheet, says so, and draws a new GIF
    again = _drawn(studio, [], prompt="she jumps higher", refine=record.comic_id)
    sent = api.requests[-1]
    first = sent.images[0]
    assert first.format == "PNG" and first.width > first.height * 1.2  # a grid of 6 frames
    assert "sprite sheet" in (sent.prompt or "") and "Cola jumps for the frisbee" in sent.prompt
    assert sent.fields["output_format"] == "gif" and sent.fields["frame_count"] == "6"
    assert again.format == "gif" and again.parent_id == record.comic_id and again.frames == 6


def test_a_still_comic_is_animated_as_a_refinement(double: Double, photos: list[PhotoRef]) -> None:
    api = double()
    studio = ComicStudio(Settings())
    still = _drawn(studio, photos, prompt="Cola and the frisbee")
    moving = _drawn(studio, [], prompt="make it move", refine=still.comic_id, animate=True)
    sent = api.requests[-1]
    assert sent.fields["output_format"] == "gif" and "frame_count" in sent.fields
    assert "still comic" in (sent.prompt or "") and moving.frames == 9 and moving.panels == 1


@pytest.mark.parametrize(
    ("fields", "why"),
    [({"frames": 20}, "less than or equal to 16"), ({"frames": 1}, "greater than or equal")],
)
def test_a_frame_count_outside_the_range_is_refused_by_the_request(
    fields: dict[str, object], why: str
) -> None:
    with pytest.raises(ValidationError, match=why):
        ComicRequest(prompt="x", animate=True, **fields)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("fields", "said"),
    [
        ({"model": "gpt-image-2"}, "makes no GIFs"),
        ({"panels": 4}, "panels"),
        ({"variants": 2}, "variants"),
        ({"size": "1536x1024"}, "too large"),
        ({"size": "1000x1000"}, "multiples of 16"),
        ({"frames": 2, "size": "384x384"}, "too few pixels"),
        ({"script": [{"lines": [{"who": "Cola", "text": "Mine!"}]}]}, "lettering"),
    ],
)  # fmt: skip
def test_what_a_gif_cannot_be_is_refused_before_anything_is_sent(
    double: Double, photos: list[PhotoRef], fields: dict[str, object], said: str
) -> None:
    api = double()
    with pytest.raises(InvalidInput, match=said):
        ComicStudio(Settings()).generate(
            ComicRequest(prompt="Cola jumps", animate=True, **fields), photos  # type: ignore[arg-type]
        )
    assert not [r for r in api.requests if r.path.endswith("/edits")]


def test_frames_without_animate_are_refused(double: Double, photos: list[PhotoRef]) -> None:
    double()
    with pytest.raises(InvalidInput, match="animate"):
        ComicStudio(Settings()).generate(ComicRequest(prompt="x", frames=6), photos)


def test_a_key_without_the_gif_preview_is_told_what_to_do_and_nothing_is_saved(
    double: Double, photos: list[PhotoRef], tmp_path: Path
) -> None:
    api = double(gif_preview=False)
    studio = ComicStudio(Settings())
    with pytest.raises(AccessDenied) as caught:
        studio.generate(ComicRequest(prompt="Cola jumps", animate=True, frames=6), photos)
    said = caught.value.for_door("mcp")
    assert "GIF preview" in said and "without animate" in said and "nothing was" in said.lower()
    assert "--animate" in caught.value.for_door("cli")
    assert api.requests[-1].refused and studio.comics.list() == []
    comics = tmp_path / "data" / "comics"
    assert not comics.exists() or not any(comics.iterdir())


def test_a_dry_run_shows_the_gif_parameters_and_counts_what_gifs_cost(
    double: Double, photos: list[PhotoRef]
) -> None:
    double()
    studio = ComicStudio(Settings())
    dry = studio.generate(ComicRequest(prompt="Cola", animate=True, frames=6, dry_run=True), photos)
    assert isinstance(dry, DryRunResult)
    assert (dry.output_format, dry.frame_count, dry.frame_duration_ms, dry.stream) == (
        "gif", 6, 200, False,
    )  # fmt: skip
    assert dry.estimated_cost_usd is None, "no GIF drawn yet: no estimate, never a guess"
    _drawn(studio, photos, prompt="Cola", model="gpt-image-2", size="1024x1024")
    assert studio.generate(
        ComicRequest(prompt="Cola", animate=True, frames=6, dry_run=True), photos
    ).estimated_cost_usd is None, "a still's cost says nothing about a GIF's"  # type: ignore[union-attr]


def test_the_storyboard_makes_an_animated_preview_offline(
    photos: list[PhotoRef],
) -> None:
    record = _drawn(ComicStudio(Settings()), photos, prompt="Cola jumps", animate=True,
                    frames=5, frame_ms=300, backend="storyboard")  # fmt: skip
    assert record.format == "gif" and _frames(record.path) == [300] * 5
    with Image.open(record.path) as gif:
        gif.seek(1)
        second = gif.convert("RGB")
        gif.seek(0)
        first = gif.convert("RGB")
    assert first.getpixel((400, 400)) != second.getpixel((400, 400)), "the photos are its frames"
    assert Path(record.path).stat().st_size > 1000
