"""Comics end to end: the real ``openai`` client against a local OpenAI-compatible double.

Photos are real JPEG files; the data folder is a temporary one; the API key is a fake secret
that must never show up in an error message, a saved file or a log line.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pytest
from conftest import write_photos
from photocomic.tools.comics import comic_store as comic_records
from photocomic.tools.comics.contract import ComicRecord, ComicRequest, DryRunResult
from photocomic.tools.comics.storyboard import split_captions
from photocomic.tools.comics.studio import ComicStudio
from photocomic.tools.comics.styles import STYLES
from photocomic.tools.config import Settings
from photocomic.tools.contract import PhotoRef
from photocomic.tools.errors import (
    AccessDenied,
    ApiKeyMissing,
    AuthFailed,
    BadResponse,
    ContentRefused,
    DecodeError,
    GenerationTimeout,
    InvalidInput,
    NotFound,
    PhotocomicError,
    RateLimited,
    ServiceUnavailable,
)
from PIL import Image, ImageDraw
from pydantic import ValidationError

try:
    from .openai_double import OpenAIDouble
except ImportError:  # tests/ is not a package: pytest put the folder itself on sys.path
    from openai_double import OpenAIDouble  # type: ignore[no-redef]

FAKE_KEY = "sk-test-9f8e7d6c5b4a-DO-NOT-LEAK-0123456789"
RETRIES = 2

# (stored size, EXIF orientation) -> size the model must receive (long side <= 1536)
PHOTO_SPECS = [
    ((3000, 2000), 1, (1536, 1024)),
    ((640, 480), 1, (640, 480)),
    ((2000, 1000), 6, (768, 1536)),  # a phone portrait stored sideways
]


@pytest.fixture
def api() -> Iterator[OpenAIDouble]:
    with OpenAIDouble(hang_seconds=5.0, retry_after_ms=10) as double:
        yield double


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


@pytest.fixture(autouse=True)
def env(monkeypatch: pytest.MonkeyPatch, api: OpenAIDouble, data_dir: Path) -> None:
    for name in (
        "OPENAI_ORG_ID",
        "OPENAI_PROJECT_ID",
        "OPENAI_ADMIN_KEY",
        "PHOTOCOMIC_IMAGE_MODEL",
        "PHOTOCOMIC_IMAGE_TIMEOUT",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("OPENAI_API_KEY", FAKE_KEY)
    monkeypatch.setenv("OPENAI_BASE_URL", api.base_url)
    monkeypatch.setenv("PHOTOCOMIC_DATA_DIR", str(data_dir))
    monkeypatch.setenv("PHOTOCOMIC_IMAGE_RETRIES", str(RETRIES))


@pytest.fixture
def make_studio() -> Callable[..., ComicStudio]:
    def make(**overrides: object) -> ComicStudio:
        return ComicStudio(Settings(**overrides))

    return make


@pytest.fixture
def studio(make_studio: Callable[..., ComicStudio]) -> ComicStudio:
    return make_studio(image_timeout=10.0)


@pytest.fixture
def photos(tmp_path: Path) -> list[PhotoRef]:
    refs = []
    for index, ((width, height), orientation, _) in enumerate(PHOTO_SPECS):
        picture = Image.new("RGB", (width, height), (40 + 70 * index, 120, 90))
        draw = ImageDraw.Draw(picture)
        draw.ellipse(
            (width // 4, height // 4, width * 3 // 4, height * 3 // 4), fill=(240, 230, 200)
        )
        exif = Image.Exif()
        exif[0x0112] = orientation
        path = tmp_path / "library" / f"dog-{index}.jpg"
        path.parent.mkdir(exist_ok=True)
        picture.save(path, "JPEG", quality=85, exif=exif)
        refs.append(PhotoRef(photo_id=100 + index, path=str(path)))
    return refs


def ask(studio: ComicStudio, **fields: object) -> ComicRecord | DryRunResult:
    """A comic request as a front door sends it: photos already resolved to references."""
    photos = fields.pop("photos", [])
    return studio.generate(ComicRequest(**fields), photos)  # type: ignore[arg-type]


def comic(studio: ComicStudio, **fields: object) -> ComicRecord:
    result = ask(studio, **fields)
    assert isinstance(result, ComicRecord)
    return result


def files_in(folder: Path) -> list[str]:
    """Files written, but for the cached list of the key's models (asked before planning)."""
    if not folder.exists():
        return []
    cached = folder / "cache" / "models"
    return sorted(p.name for p in folder.rglob("*") if p.is_file() and p.parent != cached)


def assert_key_absent(*texts: str, folder: Path | None = None) -> None:
    for text in texts:
        assert FAKE_KEY not in text
    if folder is not None and folder.exists():
        for path in folder.rglob("*"):
            if path.is_file():
                assert FAKE_KEY.encode() not in path.read_bytes(), path


# -- the request --------------------------------------------------------------------------------


def test_comic_request_carries_model_prompt_and_downscaled_images(
    studio: ComicStudio,
    api: OpenAIDouble,
    photos: list[PhotoRef],
    data_dir: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level("DEBUG")
    story = "Bella finds a red ball in the park. She chases it. She naps in the sun."
    record = comic(studio, prompt=story, photos=photos)

    assert len(api.requests) == 1
    sent = api.requests[0]
    assert sent.model == "gpt-image-2.6-sunburst"  # auto: the newest sunburst the key can use
    assert sent.prompt == record.prompt
    assert story in sent.prompt
    assert STYLES["ghibli"] in sent.prompt
    assert "four panels" in sent.prompt
    assert "recognisable" in sent.prompt and "3 input images are reference photos" in sent.prompt
    assert [(i.format, i.width, i.height) for i in sent.images] == [
        ("JPEG", *expected) for _, _, expected in PHOTO_SPECS
    ]
    assert "input_fidelity" not in sent.fields  # GPT Image 2 models refuse the parameter
    assert sent.fields["size"] == "1024x1024"  # auto: the size that fits a 2x2 page
    assert sent.fields["quality"] == "auto"
    assert sent.fields["safety_identifier"].startswith("photocomic-")
    assert sent.headers["authorization"] == f"Bearer {FAKE_KEY}"

    assert re.fullmatch(r"c[0-9a-f]{10}", record.comic_id)
    assert record.parent_id is None
    assert record.user_prompt == story
    assert record.photos == photos
    assert record.usage is not None and record.usage["total_tokens"] > 0
    assert record.cost_usd is None  # no published price for the default is known yet
    assert datetime.fromisoformat(record.created_at).utcoffset() == timezone.utc.utcoffset(None)
    with Image.open(record.path) as saved:
        assert saved.format == "PNG" and saved.size == (1024, 1024)
    assert Path(record.path).parent == data_dir / "comics"
    assert files_in(data_dir / "comics") == sorted(
        [f"{record.comic_id}.json", f"{record.comic_id}.png"]
    )
    assert_key_absent(caplog.text, record.model_dump_json(), folder=data_dir)
    assert str(data_dir) not in sent.fields["safety_identifier"]


def test_options_reach_the_api(
    make_studio: Callable[..., ComicStudio],
    api: OpenAIDouble,
    photos: list[PhotoRef],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    studio = make_studio()
    record = comic(
        studio,
        prompt="A rainy day.",
        photos=photos[:1],
        style="Manga",
        panels=6,
        size="1536x1024",
        quality="low",
        model="gpt-image-2",
    )
    sent = api.requests[-1]
    assert (sent.model, sent.fields["size"], sent.fields["quality"]) == (
        "gpt-image-2",
        "1536x1024",
        "low",
    )
    assert "input_fidelity" not in sent.fields  # gpt-image-2 refuses the parameter
    assert STYLES["manga"] in sent.prompt and "2 rows by 3 columns" in sent.prompt
    assert (record.style, record.panels, record.size, record.quality) == (
        "manga",
        6,
        "1536x1024",
        "low",
    )
    with Image.open(record.path) as saved:
        assert saved.size == (1536, 1024)

    monkeypatch.setenv("PHOTOCOMIC_IMAGE_MODEL", "gpt-image-2.5-flare")  # a pinned model
    record = comic(make_studio(), prompt="A sunny day.", photos=photos[:1], style="american comic")
    assert api.requests[-1].model == "gpt-image-2.5-flare" == record.model
    assert "input_fidelity" not in api.requests[-1].fields
    assert record.style == "american-comic"


# -- refinement and lineage ---------------------------------------------------------------------


def test_refine_sends_earlier_comic_first_and_links_parent(
    studio: ComicStudio, api: OpenAIDouble, photos: list[PhotoRef]
) -> None:
    first = comic(studio, prompt="Bella at the beach.", photos=photos, style="watercolor", panels=2)
    change = "Now put her in a Hogwarts uniform."
    second = comic(studio, prompt=change, refine=first.comic_id)

    sent = api.requests[-1]
    assert [(i.format, i.width, i.height) for i in sent.images] == [
        ("PNG", 1536, 1024),  # two panels side by side: a landscape page
        *[("JPEG", *expected) for _, _, expected in PHOTO_SPECS],
    ]
    assert "FIRST input image is the earlier version" in sent.prompt
    assert change in sent.prompt and "Bella at the beach." in sent.prompt
    assert second.parent_id == first.comic_id
    assert second.photos == first.photos
    assert (second.style, second.panels) == ("watercolor", 2)  # kept from the earlier comic
    assert second.input_images[0] == f"comic:{first.comic_id}"

    third = comic(
        studio, prompt="Make it night.", refine=second.comic_id, photos=photos[1:2], style="noir"
    )
    sent = api.requests[-1]
    assert [(i.format, i.width, i.height) for i in sent.images] == [
        ("PNG", 1536, 1024),
        ("JPEG", 640, 480),
    ]
    assert third.style == "noir" and third.photos == photos[1:2]
    assert [r.comic_id for r in studio.comics.lineage(third.comic_id)] == [
        third.comic_id,
        second.comic_id,
        first.comic_id,
    ]


def test_refine_leaves_out_reference_photos_that_are_gone(
    studio: ComicStudio, api: OpenAIDouble, photos: list[PhotoRef]
) -> None:
    first = comic(studio, prompt="Bella in the snow.", photos=photos)
    Path(photos[0].path).unlink()
    second = comic(studio, prompt="Add a scarf.", refine=first.comic_id)
    assert [i.format for i in api.requests[-1].images] == ["PNG", "JPEG", "JPEG"]
    assert second.photos == photos[1:]
    assert any(photos[0].path in note for note in second.notes)


def test_records_survive_a_new_studio_and_list_only_complete_comics(
    make_studio: Callable[..., ComicStudio], photos: list[PhotoRef], data_dir: Path
) -> None:
    studio = make_studio()
    first = comic(studio, prompt="One.", photos=photos[:1])
    second = comic(studio, prompt="Two.", refine=first.comic_id)
    third = comic(studio, prompt="Three.", photos=photos[:2])

    reopened = make_studio()
    assert [r.comic_id for r in reopened.comics.list()] == [
        third.comic_id,
        second.comic_id,
        first.comic_id,
    ]
    assert reopened.comics.get(second.comic_id) == second
    assert reopened.comics.get(second.comic_id).parent_id == first.comic_id

    folder = data_dir / "comics"
    Image.new("RGB", (8, 8)).save(folder / "c0123456789.png")  # orphan image: no record
    Path(third.path).unlink()  # record whose image is gone
    (folder / "cabcdefabcd.json").write_text("{not json")
    (folder / "cabcdefabcd.png").write_bytes(Path(first.path).read_bytes())
    assert [r.comic_id for r in make_studio().comics.list()] == [second.comic_id, first.comic_id]
    with pytest.raises(NotFound, match="missing"):
        reopened.comics.get(third.comic_id)


@pytest.mark.parametrize("bad_id", ["c0000000000", "../../etc/passwd", "", "C1234"])
def test_unknown_comic_id_is_not_found(studio: ComicStudio, bad_id: str, api: OpenAIDouble) -> None:
    with pytest.raises(NotFound, match="photocomic comics"):
        studio.comics.get(bad_id)
    with pytest.raises(NotFound):
        ask(studio, prompt="More.", refine=bad_id or "x")
    assert api.requests == []


# -- dry run and storyboard ---------------------------------------------------------------------


def test_dry_run_shows_exactly_what_would_be_sent_and_sends_nothing(
    studio: ComicStudio,
    api: OpenAIDouble,
    photos: list[PhotoRef],
    data_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    request = dict(prompt="Bella and the kite.", photos=photos, panels=1)
    monkeypatch.delenv("OPENAI_API_KEY")  # a dry run spends nothing, so needs no key
    preview = ask(studio, **request, dry_run=True)
    assert isinstance(preview, DryRunResult)
    assert api.requests == [] and files_in(data_dir) == []
    assert [(i.source, i.format, i.width, i.height) for i in preview.images] == [
        (ref.path, "JPEG", *spec[2]) for ref, spec in zip(photos, PHOTO_SPECS, strict=True)
    ]
    assert all(i.bytes > 0 for i in preview.images)
    assert (preview.model, preview.backend, preview.input_fidelity) == (
        "gpt-image-2.6-sunburst",  # no key to ask with: the newest in the table
        "openai",
        None,
    )

    monkeypatch.setenv("OPENAI_API_KEY", FAKE_KEY)
    record = comic(studio, **request)
    assert api.requests[0].prompt == preview.prompt == record.prompt
    assert [i.size for i in api.requests[0].images] == [i.bytes for i in preview.images]


def test_storyboard_needs_no_key_and_no_network(
    studio: ComicStudio,
    api: OpenAIDouble,
    photos: list[PhotoRef],
    data_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("OPENAI_API_KEY")
    board = comic(
        studio,
        prompt="Bella wakes. She eats. She plays. She sleeps. She dreams. The end.",
        photos=photos,
        panels=6,
        backend="storyboard",
    )
    assert api.requests == []
    assert (board.backend, board.model, board.usage) == ("storyboard", "storyboard", None)
    with Image.open(board.path) as page:
        page = page.convert("RGB")
        assert page.size == (1024, 1536)  # 6 panels, size auto: a portrait page of 3x2
        band = page.crop((0, 0, page.width, 90))
        # The preview label: yellow letters on the dark band at the top.
        rgb = np.asarray(band).reshape(-1, 3).astype(int)
        yellow = (rgb[:, 0] > 200) & (rgb[:, 1] > 180) & (rgb[:, 2] < 80)
        assert yellow.sum() > 500
        # Panels show the photos: the first panel's centre is the first photo's pale ellipse.
        assert page.getpixel((260, 330))[0] > 200

    refined = comic(studio, prompt="Add snow.", refine=board.comic_id, backend="storyboard")
    assert refined.parent_id == board.comic_id and refined.panels == 6
    assert refined.input_images[0] == f"comic:{board.comic_id}"
    assert api.requests == []

    monkeypatch.setenv("OPENAI_API_KEY", FAKE_KEY)
    final = comic(studio, prompt="Make it real.", refine=refined.comic_id)
    assert api.requests[0].images[0].format == "PNG"
    assert (api.requests[0].images[0].width, api.requests[0].images[0].height) == (1024, 1536)
    assert final.parent_id == refined.comic_id


def test_captions_follow_the_story_in_order() -> None:
    story = "Bella wakes up. She finds a ball. She chases it, then she naps. The end."
    assert split_captions(story, 4) == [
        "Bella wakes up.",
        "She finds a ball.",
        "She chases it, then she naps.",
        "The end.",
    ]
    assert split_captions(story, 2) == [
        "Bella wakes up. She finds a ball.",
        "She chases it, then she naps. The end.",
    ]
    six = split_captions(story, 6)
    assert len(six) == 6 and all(six) and " ".join(six) == story
    assert split_captions("my dog", 4) == ["my dog", "", "", ""]


# -- validation: nothing is sent, nothing is written --------------------------------------------


@pytest.mark.parametrize(
    ("fields", "error", "words"),
    [
        ({"prompt": "   "}, InvalidInput, ["prompt is empty"]),
        ({"prompt": "x" * 100_000}, ValidationError, ["prompt", "4000 characters"]),
        ({"prompt": "Hi", "style": "cubism"}, ValidationError, ["style", *STYLES]),
        ({"prompt": "Hi", "photos": []}, InvalidInput, ["at least one reference photo"]),
        ({"prompt": "Hi", "photos": "17"}, InvalidInput, ["17 given", "at most 16"]),
        ({"prompt": "Hi", "photos": "bad"}, DecodeError, ["notes.jpg", "not an image"]),
    ],
)
def test_bad_requests_fail_before_anything_is_sent(
    studio: ComicStudio,
    api: OpenAIDouble,
    photos: list[PhotoRef],
    data_dir: Path,
    tmp_path: Path,
    fields: dict[str, object],
    error: type[Exception],
    words: list[str],
) -> None:
    fields = dict(fields)
    if fields.get("photos") == "17":
        fields["photos"] = [PhotoRef(path=str(tmp_path / f"p{i}.jpg")) for i in range(17)]
    elif fields.get("photos") == "bad":
        bad = tmp_path / "notes.jpg"
        bad.write_text("shopping list")
        fields["photos"] = [photos[0], PhotoRef(path=str(bad))]
    else:
        fields.setdefault("photos", photos)
    with pytest.raises(error) as caught:
        ask(studio, **fields)
    for word in words:
        assert word in str(caught.value)
    assert api.requests == [] and files_in(data_dir) == []


def test_a_refinement_with_sixteen_photos_leaves_the_last_behind_for_the_earlier_comic(
    studio: ComicStudio, api: OpenAIDouble, photos: list[PhotoRef], tmp_path: Path
) -> None:
    first = comic(studio, prompt="One.", photos=photos[:1])
    paths = write_photos(tmp_path / "many", 17)
    every = [PhotoRef(path=str(p)) for p in paths]
    many = every[:16]
    second = comic(studio, prompt="Two.", refine=first.comic_id, photos=many)
    sent = api.requests[-1].images
    assert len(sent) == 16, "the earlier comic and the 15 best photos"
    assert [p.path for p in second.photos] == [str(p) for p in paths[:15]]
    assert any("stayed behind" in n and paths[15].name in n for n in second.notes), second.notes
    with pytest.raises(InvalidInput, match="17 given"):
        ask(studio, prompt="Three.", refine=first.comic_id, photos=every)
    assert len(api.requests) == 2


def test_missing_key_names_the_variable_and_the_storyboard(
    studio: ComicStudio,
    api: OpenAIDouble,
    photos: list[PhotoRef],
    data_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("OPENAI_API_KEY")
    with pytest.raises(ApiKeyMissing) as caught:
        ask(studio, prompt="Hi.", photos=photos)
    assert "OPENAI_API_KEY" in str(caught.value) and "storyboard" in str(caught.value)
    assert api.requests == [] and files_in(data_dir) == []


# -- faults from the API ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("script", "sent"),
    [(["rate_limit"], 2), (["server_error"] * RETRIES, RETRIES + 1)],
)
def test_transient_faults_are_retried_until_success(
    studio: ComicStudio, api: OpenAIDouble, photos: list[PhotoRef], script: list[str], sent: int
) -> None:
    api.script(*script)
    record = comic(studio, prompt="Hi.", photos=photos)
    assert len(api.requests) == sent
    assert Path(record.path).is_file() and studio.comics.list() == [record]


ATTEMPTS = RETRIES + 1


@pytest.mark.parametrize(
    ("script", "error", "words", "sent"),
    [
        (["rate_limit"] * ATTEMPTS, RateLimited, ["429", f"{ATTEMPTS} attempts"], ATTEMPTS),
        (
            ["server_error"] * ATTEMPTS,
            ServiceUnavailable,
            ["500", f"{ATTEMPTS} attempts"],
            ATTEMPTS,
        ),
        (["quota"] * ATTEMPTS, RateLimited, ["out of credit", "billing"], ATTEMPTS),
        (["moderation"], ContentRefused, ["moderation_blocked", "Rephrase"], 1),
        (["unauthorized"], AuthFailed, ["401", "OPENAI_API_KEY"], 1),
        (
            ["org_unverified"],
            AccessDenied,
            ["verified", "gpt-image-2.6-sunburst", "platform.openai.com/settings"],
            1,
        ),
        (["malformed"], BadResponse, ["not an image response"], 1),
        (["no_image"], BadResponse, ["without an image"], 1),
        (["not_an_image"], BadResponse, ["not a readable image"], 1),
    ],
)
def test_api_faults_give_clear_errors_and_leave_no_files(
    studio: ComicStudio,
    api: OpenAIDouble,
    photos: list[PhotoRef],
    data_dir: Path,
    caplog: pytest.LogCaptureFixture,
    script: list[str],
    error: type[Exception],
    words: list[str],
    sent: int,
) -> None:
    caplog.set_level("DEBUG")
    api.script(*script)
    with pytest.raises(error) as caught:
        ask(studio, prompt="Hi.", photos=photos)
    message = str(caught.value)
    for word in words:
        assert word in message
    assert len(api.requests) == sent
    assert files_in(data_dir / "comics") == [] and studio.comics.list() == []
    assert_key_absent(message, repr(caught.value), caplog.text, folder=data_dir)


def test_a_key_of_any_shape_is_never_echoed(
    studio: ComicStudio,
    api: OpenAIDouble,
    photos: list[PhotoRef],
    data_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Keys for other OpenAI-compatible servers need not start with sk-."""
    token = "proxy-token-3b1f9c2e7d5a"
    monkeypatch.setenv("OPENAI_API_KEY", token)
    api.script("unauthorized")
    with pytest.raises(AuthFailed) as caught:
        ask(studio, prompt="Hi.", photos=photos)
    assert api.requests[0].headers["authorization"] == f"Bearer {token}"
    assert token not in str(caught.value) and "[redacted]" in str(caught.value)
    assert files_in(data_dir / "comics") == []


def test_a_hang_times_out_with_advice(
    make_studio: Callable[..., ComicStudio],
    api: OpenAIDouble,
    photos: list[PhotoRef],
    data_dir: Path,
) -> None:
    studio = make_studio(image_timeout=0.5, image_retries=0)
    api.script("hang")
    started = time.monotonic()
    with pytest.raises(GenerationTimeout) as caught:
        ask(studio, prompt="Hi.", photos=photos)
    assert time.monotonic() - started < 4
    assert "PHOTOCOMIC_IMAGE_TIMEOUT" in str(caught.value) and "0.5 s" in str(caught.value)
    assert len(api.requests) == 1 and files_in(data_dir / "comics") == []
    assert_key_absent(str(caught.value))


def test_a_failed_save_leaves_no_image_behind(
    studio: ComicStudio, photos: list[PhotoRef], data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_write = comic_records.atomic_write

    def failing_write(path: Path, data: bytes) -> None:
        if path.suffix == ".json":
            raise OSError(28, "No space left on device")
        real_write(path, data)

    monkeypatch.setattr(comic_records, "atomic_write", failing_write)
    with pytest.raises(PhotocomicError, match="No space left on device"):
        ask(studio, prompt="Hi.", photos=photos)
    assert files_in(data_dir / "comics") == [] and studio.comics.list() == []


def test_record_file_is_plain_json_a_person_can_read(
    studio: ComicStudio, photos: list[PhotoRef], data_dir: Path
) -> None:
    record = comic(studio, prompt="Hi.", photos=photos[:1])
    saved = json.loads((data_dir / "comics" / f"{record.comic_id}.json").read_text())
    for name in (
        "comic_id",
        "parent_id",
        "path",
        "prompt",
        "user_prompt",
        "style",
        "panels",
        "photos",
        "model",
        "size",
        "quality",
        "backend",
        "usage",
        "created_at",
    ):
        assert name in saved
    assert saved["photos"] == [{"photo_id": 100, "path": photos[0].path, "raw_path": None}]
