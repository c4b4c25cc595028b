"""Today's image models: the default draws, each model gets only what it accepts, shut-down and
unknown models are explained, strips use the new sizes, drawing streams partial images.

Everything goes through the real ``openai`` client to the strict double on 127.0.0.1, which
refuses what the SDK documents the real API as refusing.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import openai
import pytest
from photocomic.tools.comics import image_models
from photocomic.tools.comics.contract import ComicRecord, ComicRequest
from photocomic.tools.comics.studio import ComicStudio
from photocomic.tools.config import Settings
from photocomic.tools.contract import PhotoRef
from photocomic.tools.errors import InvalidInput, ModelNotFound, ModelRetired
from PIL import Image

try:
    from .openai_double import OpenAIDouble, pointed_at
except ImportError:
    from openai_double import OpenAIDouble, pointed_at  # type: ignore[no-redef]

KEY = "sk-test-image-models-0123456789abcdef"


@pytest.fixture
def api(monkeypatch: pytest.MonkeyPatch) -> Iterator[OpenAIDouble]:
    with pointed_at(monkeypatch, KEY, hang_seconds=3.0) as double:
        yield double


@pytest.fixture
def photos(tmp_path: Path) -> list[PhotoRef]:
    refs = []
    for n in range(2):
        path = tmp_path / "photos" / f"cola-{n}.jpg"
        path.parent.mkdir(exist_ok=True)
        Image.new("RGB", (800, 600), (30 + 90 * n, 120, 60)).save(path, "JPEG")
        refs.append(PhotoRef(photo_id=10 + n, path=str(path)))
    return refs


def draw(photos: list[PhotoRef], on_partial=None, **fields: object) -> ComicRecord:  # type: ignore[no-untyped-def]
    result = ComicStudio(Settings()).generate(
        ComicRequest(**fields),  # type: ignore[arg-type]
        photos,
        on_partial=on_partial,
    )
    assert isinstance(result, ComicRecord)
    return result


def comics_written(data: Path) -> list[str]:
    folder = data / "comics"
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


# -- the default and the SDK ------------------------------------------------------------------


def test_the_default_is_auto_and_the_table_knows_every_model_the_sdk_lists() -> None:
    """The SDK's notes are still read (a newer SDK's shutdowns count too), and every model the
    table has rules or a shutdown date for is one the SDK knows by name."""
    assert Settings().image_model == image_models.DEFAULT_IMAGE_MODEL == "auto"
    retired = image_models.sdk_retired_models()
    assert "gpt-image-1" in retired  # the notes are read, so an empty dict is no pass
    for name in image_models.known_models():
        assert name in image_models.sdk_models(), f"{name} is not a model the SDK lists"


def test_shutdowns_take_effect_on_their_day_by_the_clock() -> None:
    from datetime import date

    eve, day = date(2026, 11, 30), date(2026, 12, 1)
    for model in ("gpt-image-1.5", "gpt-image-1-mini", "chatgpt-image-latest"):
        assert model in image_models.sdk_models()  # the installed SDK still lists it as current
        assert image_models.retirement_notice(model, eve) is None
        assert "2026-12-01" in (image_models.coming_shutdown(model, eve) or "")
        notice = image_models.retirement_notice(model, day)
        assert notice and "gpt-image-2" in notice and "2026-06-02" in notice
        with pytest.raises(ModelRetired, match="gpt-image-2"):
            image_models.rules_for(model, day)
    assert image_models.retirement_notice("gpt-image-1", date(2026, 10, 22)) is None
    assert "2026-10-23" in (image_models.retirement_notice("gpt-image-1", date(2026, 10, 23)) or "")
    assert "2026-05-12" in (image_models.retirement_notice("dall-e-2", day) or "")
    assert image_models.retirement_notice("gpt-image-1.5") is not None  # today, by the clock


def test_a_comic_with_the_defaults_draws_with_the_newest_sunburst_the_key_can_use(
    api: OpenAIDouble, photos: list[PhotoRef], isolated_env: Path
) -> None:
    record = draw(photos, prompt="Cola chews the mouse.")
    sent = api.requests[-1]
    assert sent.answered == "ok" and sent.model == "gpt-image-2.6-sunburst"
    assert "input_fidelity" not in sent.fields and sent.fields["size"] == "1024x1024"
    assert record.model == "gpt-image-2.6-sunburst" and record.layout == "grid"
    assert record.usage and record.cost_usd is None  # no published price known: none shown
    assert api.model_lists == 1
    draw(photos, prompt="Again.")
    assert api.model_lists == 1  # asked once a day, not per drawing
    cached = list((isolated_env / "cache" / "models").glob("*.json"))
    assert len(cached) == 1 and KEY not in cached[0].name and KEY not in cached[0].read_text()
    assert (cached[0].stat().st_mode & 0o777) == 0o600


@pytest.mark.parametrize(
    ("listed", "chosen"),
    [
        (["gpt-image-2", "gpt-image-2.5-flare", "gpt-image-2.5-sunburst", "gpt-5"],
         "gpt-image-2.5-sunburst"),
        (["gpt-image-2", "gpt-image-2-2026-04-21", "gpt-4o-mini"], "gpt-image-2"),
        (["gpt-image-2", "gpt-image-2.6-flare"], "gpt-image-2.6-flare"),
    ],
)  # fmt: skip
def test_auto_follows_the_models_the_key_can_use(
    photos: list[PhotoRef], monkeypatch: pytest.MonkeyPatch, listed: list[str], chosen: str
) -> None:
    with pointed_at(monkeypatch, KEY + chosen, models=listed) as double:
        record = draw(photos, prompt="Hi.")
        assert double.requests[-1].model == chosen == record.model


@pytest.mark.parametrize("model", ["gpt-image-1.5", "gpt-image-1-mini", "chatgpt-image-latest"])
def test_a_model_shut_down_today_is_refused_before_any_image_request(
    api: OpenAIDouble, photos: list[PhotoRef], isolated_env: Path, model: str
) -> None:
    with pytest.raises(ModelRetired) as caught:
        draw(photos, prompt="Hi.", model=model)
    message = str(caught.value)
    assert model in message and "gpt-image-2" in message and "nothing was sent" in message
    assert api.requests == [] and comics_written(isolated_env) == []


def test_a_model_the_key_cannot_use_is_refused_naming_those_it_can(
    photos: list[PhotoRef], monkeypatch: pytest.MonkeyPatch, isolated_env: Path
) -> None:
    with pointed_at(monkeypatch, KEY, models=["gpt-image-2", "gpt-5"]) as double:
        with pytest.raises(ModelNotFound) as caught:
            draw(photos, prompt="Hi.", model="gpt-image-2.6-sunburst")
        message = str(caught.value)
        assert "cannot use the image model gpt-image-2.6-sunburst" in message
        assert "gpt-image-2" in message and "gpt-5" not in message and "auto" in message
        assert double.requests == [] and double.model_lists == 1


def test_without_a_model_list_photocomic_uses_its_table_and_says_so_once(
    photos: list[PhotoRef], monkeypatch: pytest.MonkeyPatch
) -> None:
    with pointed_at(monkeypatch, KEY + "-proxy", lists_models=False):
        first = draw(photos, prompt="Hi.")
        second = draw(photos, prompt="Again.")
        assert first.model == second.model == "gpt-image-2.6-sunburst"
        assert any("did not give its model list" in n for n in first.notes)
        assert not any("model list" in n for n in second.notes)
        assert KEY not in " ".join(first.notes)


# -- strips and the new sizes -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("layout", "size", "words"),
    [
        ("strip", (1536, 512), "horizontal comic strip of exactly three panels"),
        ("vertical", (512, 1536), "vertical comic strip of exactly three panels"),
    ],
)
def test_strips_use_the_free_sizes_and_say_so_in_the_prompt(
    api: OpenAIDouble,
    photos: list[PhotoRef],
    layout: str,
    size: tuple[int, int],
    words: str,
) -> None:
    record = draw(photos, prompt="A walk. A ball. A nap.", panels=3, layout=layout)
    sent = api.requests[-1]
    assert sent.fields["size"] == f"{size[0]}x{size[1]}"
    assert words in sent.prompt and "1536" in sent.prompt
    assert (record.layout, record.size, (record.width, record.height)) == (
        layout,
        sent.fields["size"],
        size,
    )


def test_an_explicit_strip_size_is_sent_as_given(api: OpenAIDouble, photos: list[PhotoRef]) -> None:
    draw(photos, prompt="Two panels.", panels=2, layout="strip", size="1536x512")
    assert api.requests[-1].fields["size"] == "1536x512"


def test_the_storyboard_draws_the_same_strip(api: OpenAIDouble, photos: list[PhotoRef]) -> None:
    record = draw(
        photos, prompt="Wake. Play. Sleep.", panels=3, layout="strip", backend="storyboard"
    )
    assert api.requests == []
    with Image.open(record.path) as page:
        assert page.size == (1536, 512)
        pixels = np.asarray(page.convert("RGB")).astype(int)
    # three photo panels side by side: the middle of each third shows a photo, not the page
    row = pixels[300]
    for third in range(3):
        x = 1536 * (2 * third + 1) // 6
        assert abs(row[x] - np.array([250, 250, 247])).sum() > 60


# -- refused before anything is sent ----------------------------------------------------------


def test_a_size_the_model_cannot_draw_is_refused_with_one_that_works(
    api: OpenAIDouble, photos: list[PhotoRef], isolated_env: Path
) -> None:
    with pytest.raises(InvalidInput) as caught:
        draw(photos, prompt="Hi.", size="1000x333")
    message = str(caught.value)
    assert "multiples of 16" in message and "1408x480" in message and "nothing was sent" in message
    assert api.requests == [] and comics_written(isolated_env) == []
    suggested = message.split("Try size ")[1].split(";")[0]
    draw(photos, prompt="Hi.", size=suggested)  # the size it offers does work
    assert api.requests[-1].answered == "ok"


@pytest.mark.parametrize(
    ("model", "quality", "words"),
    [
        ("gpt-image-2", "xhigh", ["xhigh", "2.5 or later"]),
        ("gpt-image-2", "max", ["max", "low, medium, high, auto"]),
    ],
)
def test_a_quality_tier_the_model_lacks_is_refused(
    api: OpenAIDouble, photos: list[PhotoRef], model: str, quality: str, words: list[str]
) -> None:
    with pytest.raises(InvalidInput) as caught:
        draw(photos, prompt="Hi.", model=model, quality=quality)
    assert all(word in str(caught.value) for word in words) and api.requests == []


def test_the_top_quality_tiers_reach_the_models_that_have_them(
    api: OpenAIDouble, photos: list[PhotoRef]
) -> None:
    draw(photos, prompt="Hi.", quality="max", model="gpt-image-2.5-flare")
    assert api.requests[-1].fields["quality"] == "max" and api.requests[-1].answered == "ok"


@pytest.mark.parametrize("model", ["gpt-image-1", "dall-e-3", "gpt-image-1-2025-04-15"])
def test_a_shut_down_model_is_refused_with_its_replacement(
    api: OpenAIDouble,
    photos: list[PhotoRef],
    isolated_env: Path,
    monkeypatch: pytest.MonkeyPatch,
    model: str,
) -> None:
    monkeypatch.setenv("PHOTOCOMIC_IMAGE_MODEL", model)
    with pytest.raises(ModelRetired) as caught:
        draw(photos, prompt="Hi.")
    message = str(caught.value)
    assert model in message and "gpt-image-2" in message
    assert "PHOTOCOMIC_IMAGE_MODEL" in message and "nothing was sent" in message
    assert api.requests == [] and comics_written(isolated_env) == []


def test_an_unknown_model_goes_out_and_its_404_is_explained(
    photos: list[PhotoRef], isolated_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Through a proxy without a model list (so photocomic cannot tell beforehand)."""
    with (
        pointed_at(monkeypatch, KEY, lists_models=False) as api,
        pytest.raises(ModelNotFound) as caught,
    ):
        draw(photos, prompt="Hi.", model="gpt-image-9-preview")
    message = str(caught.value)
    assert "gpt-image-9-preview" in message and "--model" in message  # it was asked for
    assert "model='auto'" in caught.value.for_door("mcp") and "--" not in caught.value.for_door(
        "mcp"
    )
    sent = api.requests[-1]
    # the safe subset: a standard size, no input_fidelity
    assert sent.fields["size"] == "1024x1024" and "input_fidelity" not in sent.fields
    assert comics_written(isolated_env) == []


def test_the_double_refuses_what_the_real_api_refuses(api: OpenAIDouble) -> None:
    """The double is only worth its tests if it says no where the real API does."""
    client = openai.OpenAI(max_retries=0)
    image = ("a.png", _png(), "image/png")
    cases = [
        {"model": "gpt-image-2", "input_fidelity": "high"},
        {"model": "gpt-image-1-mini", "input_fidelity": "high"},
        {"model": "gpt-image-2.5-sunburst", "size": "1000x333"},
        {"model": "gpt-image-1.5", "size": "1536x512"},
        {"model": "gpt-image-2", "quality": "xhigh"},
        {"model": "gpt-image-1"},
        {"model": "gpt-image-1.5"},  # shut down today
        {"model": "gpt-image-2", "n": 11},
        {"model": "gpt-image-2", "mask": ("m.png", _png(32, 32, clear=True), "image/png")},
        {"model": "gpt-image-2", "mask": ("m.png", _png(), "image/png")},  # nothing clear
        {"model": "gpt-image-2", "markup": ("k.png", _png(clear=True), "image/png")},
        {
            "model": "gpt-image-2.5-sunburst",
            "markup": ("k.png", _png(clear=True), "image/png"),
            "mask": ("m.png", _png(clear=True), "image/png"),
        },
    ]
    for extra in cases:
        with pytest.raises(openai.APIStatusError):
            client.images.edit(image=[image], prompt="x", **extra)  # type: ignore[call-overload]
    assert all(r.answered == "refused" for r in api.requests)
    # and draws what it should: a proper mask, markup on 2.5, three variants
    clear = ("m.png", _png(clear=True), "image/png")
    client.images.edit(image=[image], prompt="x", model="gpt-image-2", mask=clear)
    client.images.edit(image=[image], prompt="x", model="gpt-image-2.5-sunburst", markup=clear)
    three = client.images.edit(image=[image], prompt="x", model="gpt-image-2", n=3)
    assert len(three.data or []) == 3 and api.requests[-3].images[-1].transparent_box == (
        4,
        4,
        20,
        20,
    )


# -- progress while drawing -------------------------------------------------------------------


def test_partial_images_stream_in_as_progress(api: OpenAIDouble, photos: list[PhotoRef]) -> None:
    seen: list[tuple[int, tuple[int, int]]] = []

    def on_partial(index: int, png: bytes) -> None:
        import io

        with Image.open(io.BytesIO(png)) as partial:
            seen.append((index, partial.size))

    record = draw(photos, on_partial=on_partial, prompt="Hi.")
    sent = api.requests[-1]
    assert sent.fields["stream"] == "true" and sent.fields["partial_images"] == "2"
    assert [index for index, _ in seen] == [0, 1]
    assert Path(record.path).is_file() and record.usage and record.usage["output_tokens"] > 0


def test_a_stream_that_breaks_off_is_drawn_once_more_without_streaming(
    api: OpenAIDouble, photos: list[PhotoRef]
) -> None:
    api.script("stream_break")
    seen: list[int] = []
    record = draw(photos, on_partial=lambda i, _: seen.append(i), prompt="Hi.")
    assert [r.fields.get("stream") for r in api.requests] == ["true", None]
    assert seen == [0] and any("without streaming" in note for note in record.notes)


# -- privacy, cost and old records ------------------------------------------------------------


def test_the_safety_identifier_is_a_stable_anonymous_hash(
    api: OpenAIDouble, photos: list[PhotoRef], isolated_env: Path
) -> None:
    draw(photos, prompt="One.")
    draw(photos, prompt="Two.")
    first, second = (r.fields["safety_identifier"] for r in api.requests)
    assert first == second and len(first) == len("photocomic-") + 32
    import getpass
    import socket

    for private in (getpass.getuser(), socket.gethostname(), str(isolated_env)):
        assert private not in first
    assert KEY not in first


@pytest.mark.parametrize("model", ["gpt-image-2.5-sunburst", "gpt-image-2.6-sunburst"])
def test_a_model_without_known_prices_gets_no_invented_cost(
    api: OpenAIDouble, photos: list[PhotoRef], model: str
) -> None:
    record = draw(photos, prompt="Hi.", model=model)
    assert record.usage is not None and record.cost_usd is None and record.prices_as_of is None


def test_a_priced_model_is_charged_what_its_reported_usage_costs(
    api: OpenAIDouble, photos: list[PhotoRef]
) -> None:
    record = draw(photos, prompt="Hi.", model="gpt-image-2")
    usage = record.usage
    assert usage is not None
    details = usage["input_tokens_details"]
    dollars = details["text_tokens"] * 5 + details["image_tokens"] * 8 + usage["output_tokens"] * 30
    assert details["image_tokens"] > 0 and record.cost_usd == round(dollars / 1e6, 4)
    assert record.prices_as_of == image_models.PRICES_AS_OF


@pytest.mark.parametrize("old_model", ["gpt-image-1", "gpt-image-1.5"])
def test_a_comic_of_a_shut_down_model_lists_and_refines_with_todays_model(
    api: OpenAIDouble, photos: list[PhotoRef], isolated_env: Path, old_model: str
) -> None:
    folder = isolated_env / "comics"
    folder.mkdir(parents=True)
    Image.new("RGB", (1024, 1024), (200, 180, 150)).save(folder / "c00000000aa.png")
    old = {  # a record as photocomic wrote them before layouts and costs
        "comic_id": "c00000000aa", "parent_id": None, "path": str(folder / "c00000000aa.png"),
        "prompt": "p", "user_prompt": "Cola at the beach.", "style": "ghibli", "panels": 4,
        "photos": [p.model_dump(exclude={"raw_path"}) for p in photos], "model": old_model,
        "size": "auto", "quality": "auto", "backend": "openai", "usage": None,
        "created_at": "2026-10-01T10:00:00+00:00", "input_fidelity": "high",
    }  # fmt: skip
    (folder / "c00000000aa.json").write_text(json.dumps(old))
    studio = ComicStudio(Settings())
    assert [r.comic_id for r in studio.comics.list()] == ["c00000000aa"]
    record = draw([], prompt="Now at Hogwarts.", refine="c00000000aa")
    sent = api.requests[-1]
    assert sent.model == "gpt-image-2.6-sunburst" and sent.images[0].format == "PNG"
    assert len(sent.images) == 3 and record.parent_id == "c00000000aa"
    assert any(old_model in n and "no longer available" in n for n in record.notes)


def _png(width: int = 64, height: int = 64, clear: bool = False) -> bytes:
    """A PNG; with ``clear``, RGBA with a fully transparent square in it."""
    import io

    buf = io.BytesIO()
    picture = Image.new("RGBA" if clear else "RGB", (width, height), (1, 2, 3))
    if clear:
        picture.paste((0, 0, 0, 0), (4, 4, 20, 20))
    picture.save(buf, "PNG")
    return buf.getvalue()
