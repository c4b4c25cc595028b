"""Lettering by photocomic: a script's lines never reach the image model, each is set inside its
panel apart from the others in a font that has its characters, a translation changes only the
letters' pixels, and books hold the comics in order (read back with PDF and zip readers)."""

from __future__ import annotations

import io
import zipfile
from collections.abc import Iterator
from pathlib import Path
from xml.etree import ElementTree as ET

import numpy as np
import pypdf
import pytest
from comicapi.comicarchive import ComicArchive, MetaDataStyle
from photocomic.tools.comics.books import cbz_of, cover_page, pdf_of
from photocomic.tools.comics.contract import ComicRecord, ComicRequest
from photocomic.tools.comics.layouts import panel_box
from photocomic.tools.comics.lettering import letter
from photocomic.tools.comics.script_contract import Letter, ScriptPanel
from photocomic.tools.comics.studio import ComicStudio
from photocomic.tools.config import Settings
from photocomic.tools.contract import PhotoRef
from photocomic.tools.errors import InvalidInput
from PIL import Image

try:
    from .openai_double import OpenAIDouble, pointed_at
except ImportError:  # tests/ is not a package: pytest put the folder itself on sys.path
    from openai_double import OpenAIDouble, pointed_at  # type: ignore[no-redef]

ENGLISH = [
    {"scene": "Biscuit spots a red ball in the garden",
     "lines": [{"kind": "caption", "text": "One sunny morning..."},
               {"who": "Biscuit", "text": "A ball! Is it mine?"}]},
    {"scene": "Max holds the ball", "lines": [{"who": "Max", "text": "Finders keepers!"}]},
    {"scene": "Biscuit leaps",
     "lines": [{"kind": "sound", "text": "WHOOSH"},
               {"who": "Biscuit", "text": "Mine now!", "kind": "thought"}]},
    {"scene": "both lie in the grass", "lines": [{"who": "Max", "text": "Let us share it."}]},
]  # fmt: skip
GERMAN = [
    {"lines": [{"kind": "caption", "text": "Eines sonnigen Morgens..."},
               {"who": "Biscuit", "text": "Ein Ball! Gehört er mir?"}]},
    {"lines": [{"who": "Max", "text": "Wer findet, behält!"}]},
    {"lines": [{"kind": "sound", "text": "WUSCH"},
               {"who": "Biscuit", "text": "Jetzt meiner!", "kind": "thought"}]},
    {"lines": [{"who": "Max", "text": "Teilen wir ihn."}]},
]  # fmt: skip


def _lines(script: list[dict]) -> list[str]:
    return [line["text"] for panel in script for line in panel["lines"]]


@pytest.fixture
def api(monkeypatch: pytest.MonkeyPatch) -> Iterator[OpenAIDouble]:
    with pointed_at(monkeypatch, "sk-lettering-test") as double:
        yield double


@pytest.fixture
def photo(tmp_path: Path) -> list[PhotoRef]:
    path = tmp_path / "biscuit.jpg"
    Image.new("RGB", (800, 600), (200, 150, 90)).save(path, "JPEG")
    return [PhotoRef(photo_id=1, path=str(path))]


def _pixels(path: str) -> np.ndarray:
    with Image.open(path) as opened:
        return np.asarray(opened.convert("RGB")).astype(int)


def _inside(box: list[int], outer: tuple[int, int, int, int]) -> bool:
    return outer[0] <= box[0] < box[2] <= outer[2] and outer[1] <= box[1] < box[3] <= outer[3]


def _apart(letters: list[Letter]) -> bool:
    boxes = [lt.box for lt in letters]
    return all(
        a[2] <= b[0] or b[2] <= a[0] or a[3] <= b[1] or b[3] <= a[1]
        for i, a in enumerate(boxes) for b in boxes[i + 1 :]
    )  # fmt: skip


def _changed_outside(a: np.ndarray, b: np.ndarray, boxes: list[list[int]]) -> int:
    inside = np.zeros(a.shape[:2], bool)
    for x0, y0, x1, y1 in boxes:
        inside[y0:y1, x0:x1] = True
    return int((np.abs(a - b).sum(axis=2) > 0)[~inside].sum())


def test_a_script_is_lettered_by_photocomic_and_never_sent(
    api: OpenAIDouble, photo: list[PhotoRef]
) -> None:
    studio = ComicStudio(Settings())
    request = ComicRequest(prompt="Biscuit and Max find a ball", script=ENGLISH)
    record = studio.generate(request, photo)
    assert isinstance(record, ComicRecord) and record.panels == 4
    sent = api.requests[-1].prompt or ""
    assert not [text for text in _lines(ENGLISH) if text in sent], "a line reached the model"
    assert "Biscuit spots a red ball" in sent and "no text at all" in sent.lower()

    assert [lt.text for lt in record.letters] == _lines(ENGLISH)
    for lt in record.letters:
        assert _inside(lt.box, panel_box(4, "grid", record.width, record.height, lt.panel)), lt
    assert _apart(record.letters)
    comic, art = _pixels(record.path), _pixels(str(record.art_path))
    assert (comic != art).any(), "the comic is the art with letters on it"
    assert _changed_outside(comic, art, [lt.box for lt in record.letters]) == 0


def test_lettering_again_calls_no_api_and_changes_only_the_letters(
    api: OpenAIDouble, photo: list[PhotoRef]
) -> None:
    studio = ComicStudio(Settings())
    first = studio.generate(ComicRequest(prompt="a ball", script=ENGLISH), photo)
    assert isinstance(first, ComicRecord)
    calls = len(api.requests)
    german = studio.reletter(first, [ScriptPanel.model_validate(p) for p in GERMAN])
    assert len(api.requests) == calls, "re-lettering drew nothing"
    assert german.comic_id != first.comic_id and german.parent_id == first.comic_id
    assert german.kind == "relettering" and german.cost_usd == 0.0
    assert [lt.text for lt in german.letters] == _lines(GERMAN)
    boxes = [lt.box for lt in first.letters + german.letters]
    assert _changed_outside(_pixels(first.path), _pixels(german.path), boxes) == 0
    assert (_pixels(str(german.art_path)) == _pixels(str(first.art_path))).all()

    # a refinement sends the drawing without letters and letters the new one with the same lines
    refined = studio.generate(ComicRequest(prompt="make it night", refine=german.comic_id), [])
    assert isinstance(refined, ComicRecord)
    assert [lt.text for lt in refined.letters] == _lines(GERMAN)
    sent = api.requests[-1]
    assert not [text for text in _lines(GERMAN) if text in (sent.prompt or "")]


def test_chinese_lines_are_drawn_glyph_by_glyph() -> None:
    art = Image.new("RGB", (1024, 1024), (230, 230, 230))
    boxes = [panel_box(1, "grid", 1024, 1024, 1)]
    one = [ScriptPanel.model_validate({"lines": [{"who": "小明", "text": "我的球！"}]})]
    two = [ScriptPanel.model_validate({"lines": [{"who": "小明", "text": "你的猫？"}]})]
    page_one, letters_one = letter(art, one, boxes)
    page_two, letters_two = letter(art, two, boxes)
    assert letters_one[0].font == "Noto Sans CJK SC" and letters_one[0].box == letters_two[0].box
    x0, y0, x1, y1 = letters_one[0].box
    a = np.asarray(page_one.crop((x0, y0, x1, y1))).astype(int)
    b = np.asarray(page_two.crop((x0, y0, x1, y1))).astype(int)
    assert (np.abs(a - b).sum(axis=2) > 0).sum() > 200, "different characters, different ink"


@pytest.mark.parametrize(
    ("text", "font", "direction"),
    [("Моё!", "DejaVu Sans Bold", "ltr"), ("Δικό μου", "DejaVu Sans Bold", "ltr"),
     ("שלי!", "DejaVu Sans Bold", "rtl"), ("これは私の", "Noto Sans CJK SC", "ltr")],
)  # fmt: skip
def test_each_line_gets_a_font_for_its_script(text: str, font: str, direction: str) -> None:
    art = Image.new("RGB", (600, 600), (255, 255, 255))
    script = [ScriptPanel.model_validate({"lines": [{"who": "A", "text": text}]})]
    _, letters = letter(art, script, [(0, 0, 600, 600)])
    assert (letters[0].font, letters[0].direction) == (font, direction)


def test_what_cannot_be_lettered_is_refused_before_anything_is_sent(
    api: OpenAIDouble, photo: list[PhotoRef]
) -> None:
    studio = ComicStudio(Settings())
    with pytest.raises(InvalidInput, match="one entry per panel"):
        studio.generate(ComicRequest(prompt="x", panels=4, script=ENGLISH[:3]), photo)
    crowded = [{"lines": [{"who": "A", "text": "word " * 59}] * 6}, *[{}] * 5]
    with pytest.raises(InvalidInput, match="panel 1 do not fit"):
        studio.generate(ComicRequest(prompt="x", panels=6, script=crowded), photo)
    with pytest.raises(InvalidInput, match="no glyph"):
        studio.generate(ComicRequest(prompt="x", panels=1, script=[{"lines": [
            {"who": "A", "text": "\U0001d11e\U0001d11e"}]}]), photo)  # fmt: skip
    assert api.requests == [] or all(r.path.endswith("/models") for r in api.requests)


def test_the_storyboard_letters_too(api: OpenAIDouble, photo: list[PhotoRef]) -> None:
    studio = ComicStudio(Settings())
    request = ComicRequest(prompt="a ball", script=ENGLISH, backend="storyboard")
    record = studio.generate(request, photo)
    assert isinstance(record, ComicRecord) and len(record.letters) == len(_lines(ENGLISH))
    assert _apart(record.letters) and record.art_path is not None
    assert _changed_outside(
        _pixels(record.path), _pixels(record.art_path), [lt.box for lt in record.letters]
    ) == 0


def test_books_hold_the_comics_in_order(tmp_path: Path) -> None:
    pages = [Image.new("RGB", (1024, 768), (40 * n, 90, 160)) for n in range(3)]
    path = tmp_path / "c0000000001.png"
    pages[0].save(path)
    first = ComicRecord(comic_id="c0000000001", path=str(path), prompt="p", user_prompt="p",
                        style="ghibli", panels=4, model="storyboard", size="auto",
                        quality="auto", backend="storyboard", created_at="now")  # fmt: skip
    cover = cover_page("Biscuit's summer", first)
    files = []
    for n, page in enumerate(pages):
        files.append(str(tmp_path / f"page{n}.png"))
        page.save(files[-1])
    reader = pypdf.PdfReader(io.BytesIO(pdf_of([cover, *files], "Biscuit's summer", "en")))
    assert len(reader.pages) == 4 and reader.metadata.title == "Biscuit's summer"
    assert float(reader.pages[1].mediabox.width) == pytest.approx(1024 * 72 / 300)

    cbz = tmp_path / "book.cbz"
    cbz.write_bytes(cbz_of([cover, *files], "Biscuit", "de", ["a"]))
    reader = ComicArchive(str(cbz))  # ComicTagger's reader, as comic apps read a CBZ
    told = reader.read_metadata(MetaDataStyle.CIX)
    assert reader.seems_to_be_a_comic_archive() and reader.get_number_of_pages() == 4
    assert (told.title, told.language, told.page_count) == ("Biscuit", "de", 4)
    assert [page.get("Type") for page in told.pages] == ["FrontCover"] + ["Story"] * 3
    archive = zipfile.ZipFile(cbz)
    info = ET.fromstring(archive.read("ComicInfo.xml"))
    pictures = sorted(n for n in archive.namelist() if n.endswith(".png"))
    assert int(info.findtext("PageCount") or 0) == len(pictures) == 4
    assert info.findtext("LanguageISO") == "de" and info.findtext("Title") == "Biscuit"
    listed = info.findall("Pages/Page")
    assert [p.get("Type") for p in listed] == ["FrontCover", "Story", "Story", "Story"]
    for page, name in zip(listed, pictures, strict=True):
        with Image.open(io.BytesIO(archive.read(name))) as picture:
            assert (str(picture.width), str(picture.height)) == (
                page.get("ImageWidth"), page.get("ImageHeight"),
            )  # fmt: skip
